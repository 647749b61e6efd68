#!/usr/bin/env bash
# Start the token issuer on 127.0.0.1:8444 if the configuration wants one (config/CONFIG/issuer.env).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
CONFIG=$(cat /etc/arc-stack-config)
source "$STACK_DIR/config/$CONFIG/issuer.env"
if [[ $ISSUER_ENABLED != yes ]]; then
  stop_pidfile "$RUN_DIR/issuer.pid" "token issuer"
  exit 0
fi
if ! pid_alive "$RUN_DIR/issuer.pid"; then
  log "starting the token issuer on $ISSUER_URL"
  setsid nohup python3 "$STACK_DIR/issuer/issuer.py" serve --dir "$ISSUER_DIR" --cert "$HOSTCERT" --key "$HOSTKEY" \
    --port "$ISSUER_PORT" --bind "$LISTEN" --log "$LOG_DIR/issuer.log" </dev/null >>"$LOG_DIR/issuer.log" 2>&1 &
  echo $! > "$RUN_DIR/issuer.pid"
fi
for i in $(seq 1 40); do
  curl -sf --capath "$CA_DIR" "$ISSUER_URL/.well-known/openid-configuration" >/dev/null && exit 0
  pid_alive "$RUN_DIR/issuer.pid" || break
  sleep 0.25
done
tail -20 "$LOG_DIR/issuer.log" >&2 || true
die "token issuer not answering on $ISSUER_URL"
