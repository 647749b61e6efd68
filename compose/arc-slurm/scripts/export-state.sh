#!/usr/bin/env bash
# export-state.sh CONFIG: write what clients need to $EXPORT_DIR (see compose/arc-slurm/README section in
# chroot-stack --help): ca/, user/, issuer/, token.jwt, CONFIG/client.yaml, CONFIG/stack.yaml, current.
# Paths written into the YAML files are as the client sees the directory ($CLIENT_STATE_DIR).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
CONFIG=${1:?usage: export-state.sh CONFIG}
source "$STACK_DIR/config/$CONFIG/issuer.env"
S=$EXPORT_DIR C=$CLIENT_STATE_DIR
mkdir -p "$S"

# hashed CA directory without private keys
rm -rf "$S/ca.new"; cp -a "$CA_DIR" "$S/ca.new"
rm -f "$S"/ca.new/*-key.pem "$S"/ca.new/*.srl
rm -rf "$S/ca"; mv "$S/ca.new" "$S/ca"
install -m 644 "$CA_PEM" "$S/ca.pem"   # the same CA as one PEM file (cafile/--cacert)

mkdir -p "$S/user"; chmod 700 "$S/user"
install -m 644 "$USER_DIR/usercert.pem" "$S/user/usercert.pem"
install -m 600 "$USER_DIR/userkey.pem" "$S/user/userkey.pem"
if [[ ! -s $S/user/proxy.pem ]] || ! openssl x509 -in "$S/user/proxy.pem" -noout -checkend 86400 >/dev/null 2>&1; then
  log "making a 7-day proxy"
  "$STACK_DIR/scripts/make-proxy.sh" "$S/user/proxy.pem" 7d
fi

mkdir -p "$S/issuer"; chmod 700 "$S/issuer"
install -m 600 "$ISSUER_DIR/issuer-key.pem" "$S/issuer/issuer-key.pem"
install -m 644 "$ISSUER_DIR/issuer.json" "$S/issuer/issuer.json"

if [[ $ISSUER_ENABLED == yes ]]; then
  python3 "$STACK_DIR/issuer/issuer.py" mint --dir "$ISSUER_DIR" --sub "$TOKEN_SUB" --aud "$AUDIENCE" \
    --scope "$TOKEN_SCOPES" --scope-format "$TOKEN_SCOPE_FORMAT" --lifetime "$TOKEN_LIFETIME" --out "$S/token.jwt.new"
  chmod 600 "$S/token.jwt.new"; mv -f "$S/token.jwt.new" "$S/token.jwt"
fi

# client.yaml: the template with the state-relative paths resolved
mkdir -p "$S/$CONFIG"
awk -v base="$C" '
  /^[[:space:]]*#/ || NF == 0 { next }
  /^(ca_dir|proxy|token_file):/ { sub(/:[[:space:]]*/, ": " base "/"); print; next }
  { print }' "$STACK_DIR/config/$CONFIG/client.yaml" > "$S/$CONFIG/client.yaml"

# The job Owner as A-REX reports it: the DN in OpenSSL "compat" (slash) form for X.509,
# <iss>/<sub> for tokens.
USER_DN=$(openssl x509 -in "$USER_DIR/usercert.pem" -noout -subject -nameopt compat | sed 's/^subject=//')
cat > "$S/$CONFIG/stack.yaml" <<YAML
# Facts about the running arc-slurm stack, for the contract tests.
stack: arc-slurm
config: $CONFIG
endpoint: $ENDPOINT
queue: batch
ca_dir: $C/ca
usercert: $C/user/usercert.pem
userkey: $C/user/userkey.pem
proxy: $C/user/proxy.pem
user_dn: "$USER_DN"
issuer_url: $ISSUER_URL
issuer_dir: $C/issuer
token_file: $C/token.jwt
token_sub: $TOKEN_SUB
token_owner: $ISSUER_URL/$TOKEN_SUB
audience: $AUDIENCE
client_config: $C/$CONFIG/client.yaml
YAML
if [[ $CONFIG == voms ]]; then
  # VOMS: the client's vomses and vomsdir, and a VOMS proxy (voms-proxy-init) for client.yaml
  source "$STACK_DIR/config/voms/voms.env"
  rm -rf "$S/voms/vomsdir"; mkdir -p "$S/voms/vomsdir/$VO"   # $S/voms is also this configuration's directory
  install -m 644 "$GRID/vomsdir/$VO/localhost.lsc" "$S/voms/vomsdir/$VO/localhost.lsc"
  install -m 644 "/etc/vomses/$VO-localhost" "$S/voms/vomses"
  voms-proxy-init -cert "$USER_DIR/usercert.pem" -key "$USER_DIR/userkey.pem" -voms "$VO:/$VO/analysis" \
    -valid 24:00 -out "$S/voms/proxy.pem" >/dev/null || die "voms-proxy-init failed"
  cat >> "$S/$CONFIG/stack.yaml" <<YAML
vo: $VO
voms_port: $VOMS_PORT
vomses: $C/voms/vomses
vomsdir: $C/voms/vomsdir
voms_proxy: $C/voms/proxy.pem
YAML
fi
echo "$CONFIG" > "$S/current"
log "state exported to $S (client view: $C)"
