#!/usr/bin/env bash
# Stop both A-REX daemons (by their pid files).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# TERM both first (the grid manager takes ~10 s to shut down), then wait for each
# (a pid file may vanish under us: a daemon that is exiting removes its own)
for f in /run/arched-arex-ws.pid /run/arched-arex.pid; do
  pid=$(cat "$f" 2>/dev/null) || continue
  kill "$pid" 2>/dev/null || true
done
stop_pidfile /run/arched-arex-ws.pid "A-REX WS interface"
stop_pidfile /run/arched-arex.pid "A-REX grid manager"
