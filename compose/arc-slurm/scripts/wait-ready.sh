#!/usr/bin/env bash
# wait-ready.sh [TIMEOUT]: wait until the REST endpoint answers 200 over verified TLS.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
TIMEOUT=${1:-180}
deadline=$((SECONDS + TIMEOUT))
while (( SECONDS < deadline )); do
  code=$(curl -s -o /dev/null -w '%{http_code}' --capath "$CA_DIR" "https://localhost:$AREX_PORT/arex/rest" || true)
  [[ $code == 200 ]] && { log "A-REX REST ready"; exit 0; }
  pid_alive /run/arched-arex-ws.pid || die "A-REX WS interface is not running (see /var/log/arc/ws-interface.log)"
  sleep 1
done
die "A-REX REST not ready after ${TIMEOUT} s (last HTTP code: ${code:-none})"
