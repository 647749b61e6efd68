#!/usr/bin/env bash
# Start A-REX (grid-manager + WS/REST interface) with the patched start scripts.
# start-arex.sh [--foreground]: with --foreground (Docker), arched stays in the foreground (-f) and the
# WS interface runs in the background (both are supervised by entrypoint.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[[ -f /usr/local/libexec/arc-stack/arc-arex-start ]] || die "run configure.sh first"
mkdir -p /var/log/arc
if ! pid_alive /run/arched-arex.pid; then
  log "starting A-REX (grid manager)"
  /usr/local/libexec/arc-stack/arc-arex-start || die "arc-arex-start failed (see /var/log/arc/arex.log)"
fi
if ! pid_alive /run/arched-arex-ws.pid; then
  log "starting A-REX WS/REST interface on $LISTEN:$AREX_PORT"
  /usr/local/libexec/arc-stack/arc-arex-ws-start || die "arc-arex-ws-start failed (see /var/log/arc/ws-interface.log)"
fi
