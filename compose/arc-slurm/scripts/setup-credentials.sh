#!/usr/bin/env bash
# Create, once, the test CA, the host cert (localhost), the user cert, dhparam, griduser, munge key and
# the token issuer key. Idempotent: what exists is kept, so a CA directory a client holds stays valid.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

id griduser >/dev/null 2>&1 || { log "creating unix user griduser"; useradd -m -s /bin/bash griduser; }

mkdir -p /etc/arc.conf.d
if [[ ! -f $GRID/.arc-stack-ca ]]; then
  log "creating the test CA, host cert (localhost) and user cert"
  rm -rf "$CA_DIR" "$USER_DIR"
  arcctl test-ca init -f -v 3650
  # with -n, arcctl writes host-localhost-{cert,key}.pem to the working directory
  tmp=$(mktemp -d)
  (cd "$tmp" && arcctl test-ca hostcert -f -n localhost -v 3650)
  install -m 644 "$tmp/host-localhost-cert.pem" "$HOSTCERT"
  install -m 600 "$tmp/host-localhost-key.pem" "$HOSTKEY"
  rm -rf "$tmp"
  openssl verify -CApath "$CA_DIR" "$HOSTCERT" >/dev/null || die "host cert does not verify against the test CA"
  mkdir -p "$USER_DIR"
  (cd "$USER_DIR" && arcctl test-ca usercert -f -n arc-intercede-user -v 3650)
  # arcctl writes <name>-cert.pem/-key.pem (or usercert.pem/userkey.pem); normalise the names
  (cd "$USER_DIR" && for f in *; do case $f in
      *cert*.pem) [[ $f == usercert.pem ]] || mv "$f" usercert.pem ;;
      *key*.pem)  [[ $f == userkey.pem ]]  || mv "$f" userkey.pem ;;
    esac; done)
  [[ -s $USER_DIR/usercert.pem && -s $USER_DIR/userkey.pem ]] || die "user cert not found in $USER_DIR: $(ls "$USER_DIR")"
  chmod 600 "$USER_DIR/userkey.pem"
  touch "$GRID/.arc-stack-ca" "$RUN_DIR/credentials-changed"
fi
# stable-named copy of the CA cert (the hashed dir's file name is random)
ca_file=$(ls "$CA_DIR"/ARC-TestCA-*.pem | grep -v -- '-key.pem$' | head -1)
cmp -s "$ca_file" "$CA_PEM" 2>/dev/null || install -m 644 "$ca_file" "$CA_PEM"
# the drop-ins arcctl test-ca writes (one maps users to nobody) conflict with our complete arc.conf
rm -f /etc/arc.conf.d/*testCA*

mkdir -p /var/spool/arc/jobstatus
if [[ ! -s /var/spool/arc/jobstatus/dhparam.pem ]]; then
  log "pre-creating dhparam (otherwise A-REX forks a 4096-bit generation)"
  (umask 0177; openssl dhparam -dsaparam -out /var/spool/arc/jobstatus/dhparam.pem 2048 2>/dev/null)
fi

if [[ ! -s /etc/munge/munge.key ]]; then
  log "creating the munge key"
  mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
fi

if [[ ! -s $ISSUER_DIR/issuer-key.pem ]]; then
  log "initialising the token issuer"
  python3 "$STACK_DIR/issuer/issuer.py" init --dir "$ISSUER_DIR" --url "$ISSUER_URL"
fi
log "credentials ready"
