#!/usr/bin/env bash
# configure.sh CONFIG: install config/CONFIG/arc.conf as /etc/arc.conf and the patched A-REX start scripts.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
CONFIG=${1:?usage: configure.sh proxy|token}
[[ -f $STACK_DIR/config/$CONFIG/arc.conf ]] || die "unknown configuration '$CONFIG' (have: $(ls "$STACK_DIR/config"))"

install -m 644 "$STACK_DIR/config/$CONFIG/arc.conf" /etc/arc.conf
rm -f /etc/arc.conf.d/*testCA*
echo "$CONFIG" > /etc/arc-stack-config

# Copies of the stock start scripts: listen on $LISTEN only (127.0.0.1 unless ARC_STACK_LISTEN), and run the infoprovider every 10 s
# (REST job states come from its output; the stock period is ~60 s).
mkdir -p /usr/local/libexec/arc-stack
for s in arc-arex-start arc-arex-ws-start; do
  sed -e "s#<tcp:Listen><tcp:Port>\\\$arex_port</tcp:Port></tcp:Listen>#<tcp:Listen><tcp:Interface>$LISTEN</tcp:Interface><tcp:Port>\$arex_port</tcp:Port></tcp:Listen>#" \
      -e 's#^\(\s*\)<arex:gmconfig>\$ARC_RUNTIME_CONFIG</arex:gmconfig>#&\n\1<arex:InfoproviderWakeupPeriod>10</arex:InfoproviderWakeupPeriod>#' \
      "/usr/share/arc/$s" > "/usr/local/libexec/arc-stack/$s"
  chmod 755 "/usr/local/libexec/arc-stack/$s"
done
n=$(grep -c "<tcp:Interface>$LISTEN" /usr/local/libexec/arc-stack/arc-arex-ws-start || true)
[[ $n -ge 1 ]] || die "could not patch tcp:Interface into arc-arex-ws-start (ARC version changed?)"
grep -q InfoproviderWakeupPeriod /usr/local/libexec/arc-stack/arc-arex-start \
  || die "could not patch InfoproviderWakeupPeriod into arc-arex-start"

if ! out=$(arcctl config verify 2>&1); then
  echo "$out" >&2; die "arcctl config verify failed for $CONFIG"
fi
log "configuration '$CONFIG' installed"
