#!/usr/bin/env bash
# Stop everything the stack started, by pid file: A-REX x2, VOMS (if started), issuer, slurmd, slurmctld, munged.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
"$(dirname "$0")/stop-arex.sh"
"$(dirname "$0")/stop-voms.sh"
stop_pidfile "$RUN_DIR/issuer.pid" "token issuer"
stop_pidfile /run/slurmd.pid slurmd
stop_pidfile /run/slurmctld.pid slurmctld
stop_pidfile /run/munge/munged.pid munged
