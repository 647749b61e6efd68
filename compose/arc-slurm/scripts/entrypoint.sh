#!/usr/bin/env bash
# entrypoint.sh [CONFIG] [--foreground]
# The one start path of the arc-slurm stack, used by the Dockerfile (CMD, --foreground) and by chroot-stack.
# CONFIG defaults to $ARC_STACK_CONFIG (proxy|token|voms). Idempotent: what runs keeps running; if A-REX runs
# with the other configuration it is stopped, reconfigured and restarted (Slurm/munge keep running).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
CONFIG=${ARC_STACK_CONFIG:-proxy}
FOREGROUND=no
for a in "$@"; do
  case $a in
    --foreground) FOREGROUND=yes ;;
    proxy|token|voms) CONFIG=$a ;;
    *) die "usage: entrypoint.sh [proxy|token|voms] [--foreground]" ;;
  esac
done
S=$(dirname "$0")

"$S/setup-credentials.sh"
running=$(cat /etc/arc-stack-config 2>/dev/null || true)
if [[ -f $RUN_DIR/credentials-changed ]]; then
  log "credentials were (re)created: restarting A-REX"; running=""; rm -f "$RUN_DIR/credentials-changed"
fi
if [[ $running != "$CONFIG" ]] || ! pid_alive /run/arched-arex-ws.pid || ! pid_alive /run/arched-arex.pid; then
  [[ -n $running && $running != "$CONFIG" ]] && log "switching configuration: $running -> $CONFIG"
  "$S/stop-arex.sh"
  "$S/configure.sh" "$CONFIG"
fi
"$S/start-slurm.sh"
if [[ $CONFIG == voms ]]; then "$S/start-voms.sh"; elif [[ -x /usr/sbin/voms ]]; then "$S/stop-voms.sh"; fi
"$S/start-issuer.sh"
"$S/start-arex.sh"
"$S/wait-ready.sh" "${ARC_STACK_TIMEOUT:-180}"
"$S/export-state.sh" "$CONFIG"
log "stack up: configuration $CONFIG, endpoint $ENDPOINT"

if [[ $FOREGROUND == yes ]]; then
  # Docker: stay in the foreground, follow the logs, exit (non-zero) as soon as a daemon dies.
  trap '"$S/stop-all.sh"; exit 0' TERM INT
  tail -n 0 -F /var/log/arc/arex.log /var/log/arc/ws-interface.log /var/log/slurm/slurmctld.log \
    "$LOG_DIR/issuer.log" 2>/dev/null &
  while true; do
    for p in /run/arched-arex.pid /run/arched-arex-ws.pid /run/slurmctld.pid /run/slurmd.pid /run/munge/munged.pid; do
      pid_alive "$p" || { log "daemon of $p died"; "$S/stop-all.sh"; exit 1; }
    done
    sleep 5 & wait $!
  done
fi
