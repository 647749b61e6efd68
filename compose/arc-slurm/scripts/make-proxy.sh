#!/usr/bin/env bash
# make-proxy.sh OUT VALIDITY: an RFC 3820 proxy of the test-CA user (arcproxy validity syntax: 7d, 10M, 2H).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT=${1:?usage: make-proxy.sh OUT VALIDITY}; VALIDITY=${2:-7d}
arcproxy -C "$USER_DIR/usercert.pem" -K "$USER_DIR/userkey.pem" -T "$CA_DIR" -P "$OUT.tmp" \
  -c "validityPeriod=$VALIDITY" >/dev/null || die "arcproxy failed"
chmod 600 "$OUT.tmp"; mv -f "$OUT.tmp" "$OUT"
