#!/usr/bin/env bash
# start-voms.sh: the VOMS server of configuration "voms" (config/voms/voms.env): MariaDB (socket only), the VO
# database (once), vomsd signing with the stack's host certificate, the vomsdir LSC and vomses for A-REX and
# clients, and the unix user produser (the production role's mapping). Idempotent.
# vomsd always binds the wildcard address, so with VOMS_NETNS=yes (chroot) it runs in a private network
# namespace with only lo, and scripts/voms-relay.py listens on 127.0.0.1:$VOMS_PORT for it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$STACK_DIR/config/voms/voms.env"
command -v /usr/sbin/voms >/dev/null || die "voms-server is not installed (scripts/install-voms-packages.sh)"

id produser >/dev/null 2>&1 || { log "creating unix user produser"; useradd -m -s /bin/bash produser; }

# 1. the AA credential, trust for it, and where to find it. The AA gets its own certificate from the test CA,
# CN=localhost: ARC cannot match an LSC line whose DN has a "/" inside a value (the host cert's CN=host/localhost)
# DNs in X509_NAME_oneline form, as VOMS and ARC compare them (-nameopt compat escapes "/" in a value)
dn() { openssl x509 -in "$1" -noout "-$2" -nameopt compat | sed -e "s/^$2=//" -e 's#\\/#/#g'; }
AA_CERT=$GRID/voms/hostcert.pem AA_KEY=$GRID/voms/hostkey.pem
mkdir -p $GRID/voms $GRID/vomsdir/$VO /etc/vomses
if [[ ! -s $AA_CERT ]] || [[ $(dn "$AA_CERT" subject) != */CN=localhost ]] \
    || ! openssl verify -CApath "$CA_DIR" "$AA_CERT" >/dev/null 2>&1; then
  log "issuing the VOMS AA certificate (test CA)"
  stop_pidfile "$RUN_DIR/vomsd.pid" vomsd   # restarted below with the new certificate
  ca_key=$(ls "$CA_DIR"/*-key.pem | head -1)
  prefix=$(dn "$CA_PEM" subject | sed 's#/CN=[^/]*$##')
  tmp=$(mktemp -d)
  openssl req -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/req.csr" -subj "$prefix/CN=localhost" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:false" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=DNS:localhost" > "$tmp/ext.cnf"
  openssl x509 -req -in "$tmp/req.csr" -CA "$CA_PEM" -CAkey "$ca_key" -set_serial "0x$(openssl rand -hex 8)" \
    -days 3650 -extfile "$tmp/ext.cnf" -out "$tmp/cert.pem" 2>/dev/null || die "cannot issue the VOMS AA certificate"
  install -o voms -g voms -m 0644 "$tmp/cert.pem" "$AA_CERT"
  install -o voms -g voms -m 0400 "$tmp/key.pem" "$AA_KEY"
  rm -rf "$tmp"
fi
HOST_DN=$(dn "$AA_CERT" subject); HOST_CA_DN=$(dn "$AA_CERT" issuer)
USER_DN=$(dn "$USER_DIR/usercert.pem" subject); USER_CA_DN=$(dn "$USER_DIR/usercert.pem" issuer)
printf '%s\n%s\n' "$HOST_DN" "$HOST_CA_DN" > $GRID/vomsdir/$VO/localhost.lsc
printf '"%s" "localhost" "%s" "%s" "%s"\n' "$VO" "$VOMS_PORT" "$HOST_DN" "$VO" > /etc/vomses/$VO-localhost

# 2. MariaDB on its unix socket only
if ! mysqladmin --socket=/run/mysqld/mysqld.sock ping >/dev/null 2>&1; then
  log "starting MariaDB (socket only)"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  setsid nohup /usr/sbin/mariadbd --user=mysql --skip-networking --socket=/run/mysqld/mysqld.sock \
    --pid-file=/run/mysqld/mysqld.pid </dev/null >>"$LOG_DIR/mariadb.log" 2>&1 &
  for _ in $(seq 1 60); do mysqladmin --socket=/run/mysqld/mysqld.sock ping >/dev/null 2>&1 && break; sleep 0.5; done
  mysqladmin --socket=/run/mysqld/mysqld.sock ping >/dev/null 2>&1 || die "MariaDB did not start ($LOG_DIR/mariadb.log)"
fi

# 3. the VO database, once per user/CA (re-created if the test CA was)
STAMP=/var/lib/voms-stack/$VO.db
want="$USER_DN|$USER_CA_DN|$VOMS_SQL_MEMBERSHIP"
if [[ $(cat "$STAMP" 2>/dev/null) != "$want" ]]; then
  log "creating the VOMS database of VO $VO"
  mysql -e "DROP DATABASE IF EXISTS voms_$VO" || true
  /usr/share/voms/voms_install_db --voms-vo=$VO --db-type=mysql --port=$VOMS_PORT --db-admin=root \
    --voms-pwd=vomspass --sqlloc=/usr/lib/voms/libvomsmysql.so >>"$LOG_DIR/voms-install.log" 2>&1 \
    || die "voms_install_db failed ($LOG_DIR/voms-install.log)"
  q() { printf '%s' "$1" | sed "s/'/''/g"; }
  # voms_install_db stores the CA as "C=.., O=.." under OpenSSL 3; the lookup compares the oneline form
  mysql -D voms_$VO <<SQL
DELETE FROM ca WHERE cid > 5;
INSERT INTO ca (cid, ca, cadescr) VALUES (6, '$(q "$USER_CA_DN")', 'stack test CA');
INSERT INTO usr (userid, dn, ca, cn, mail) VALUES (1, '$(q "$USER_DN")', 6, 'arc-intercede-user', 'user@localhost');
INSERT INTO \`groups\` (gid, dn, parent, must) VALUES $VOMS_SQL_GROUPS;
INSERT INTO roles (rid, role) VALUES $VOMS_SQL_ROLES;
INSERT INTO m (userid, gid, rid, cid) VALUES $VOMS_SQL_MEMBERSHIP;
SQL
  # ARC accepts only ACs naming the holder by subject: no --newformat
  sed -i '/^--newformat$/d; s/^--loglevel=.*/--loglevel=5/; /^--uri=/d; /^--mysql-socket=/d' /etc/voms/$VO/voms.conf
  printf -- '--uri=localhost:%s\n--mysql-socket=/run/mysqld/mysqld.sock\n' "$VOMS_PORT" >> /etc/voms/$VO/voms.conf
  mkdir -p /var/lib/voms-stack /var/log/voms; chown voms:voms /var/log/voms
  echo "$want" > "$STAMP"
fi

# 4. vomsd (it daemonises), in its own network namespace, and the relay on 127.0.0.1
voms_pid() {  # the vomsd of this stack: user voms, in namespace $1 (pgrep sees every chroot's processes)
  local p
  for p in $(pgrep -u voms -x voms || true); do
    [[ $(readlink "/proc/$p/ns/net") == "$(readlink "$1")" ]] && { echo "$p"; return 0; }
  done
  return 1
}
if [[ $VOMS_NETNS == yes ]]; then
  if ! pid_alive "$RUN_DIR/voms-netns.pid"; then
    log "creating the private network namespace for vomsd"
    setsid unshare --net sh -c 'ip link set lo up; exec sleep 2147483647' </dev/null >/dev/null 2>&1 &
    echo $! > "$RUN_DIR/voms-netns.pid"
    sleep 0.3
  fi
  NS=/proc/$(cat "$RUN_DIR/voms-netns.pid")/ns/net
  ENTER=(nsenter "--net=$NS")
else
  NS=/proc/self/ns/net
  ENTER=()
fi
if ! pid_alive "$RUN_DIR/vomsd.pid"; then
  log "starting vomsd for VO $VO (port $VOMS_PORT)"
  "${ENTER[@]}" su -s /bin/bash -c "/usr/sbin/voms --conf /etc/voms/$VO/voms.conf" voms \
    </dev/null >>"$LOG_DIR/vomsd.out" 2>&1 || die "vomsd did not start (/var/log/voms/voms.$VO)"
  for _ in $(seq 1 20); do p=$(voms_pid "$NS") && break; sleep 0.25; done
  [[ -n ${p:-} ]] || die "vomsd is not running (/var/log/voms/voms.$VO)"
  echo "$p" > "$RUN_DIR/vomsd.pid"
fi
if [[ $VOMS_NETNS == yes ]] && ! pid_alive "$RUN_DIR/voms-relay.pid"; then
  log "starting the relay 127.0.0.1:$VOMS_PORT -> vomsd"
  setsid nohup python3 "$STACK_DIR/scripts/voms-relay.py" "$VOMS_PORT" "$NS" "$VOMS_PORT" "$RUN_DIR/voms-relay.pid" \
    </dev/null >>"$LOG_DIR/voms-relay.log" 2>&1 &
  for _ in $(seq 1 20); do [[ -s $RUN_DIR/voms-relay.pid ]] && break; sleep 0.1; done
fi
# ready: a real AC request answers
for _ in $(seq 1 40); do
  if voms-proxy-init -cert "$USER_DIR/usercert.pem" -key "$USER_DIR/userkey.pem" -voms "$VO:/$VO/analysis" \
      -out /tmp/voms-ready.pem -valid 0:10 >/dev/null 2>&1; then
    rm -f /tmp/voms-ready.pem; log "VOMS server of VO $VO ready on localhost:$VOMS_PORT"; exit 0
  fi
  sleep 0.5
done
die "the VOMS server does not issue ACs (/var/log/voms/voms.$VO)"
