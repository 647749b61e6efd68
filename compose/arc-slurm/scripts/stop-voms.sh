#!/usr/bin/env bash
# stop-voms.sh: stop what start-voms.sh started (relay, vomsd, its network namespace, MariaDB), by pid file.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
stop_pidfile "$RUN_DIR/voms-relay.pid" "VOMS relay"
stop_pidfile "$RUN_DIR/vomsd.pid" vomsd
stop_pidfile "$RUN_DIR/voms-netns.pid" "vomsd network namespace"
stop_pidfile /run/mysqld/mysqld.pid MariaDB
