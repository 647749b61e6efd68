# Shared settings for the entrypoint scripts (sourced; runs inside the container or the chroot).
# shellcheck shell=bash
STACK_DIR=${STACK_DIR:-/opt/arc-stack}            # copy of compose/arc-slurm
EXPORT_DIR=${ARC_STACK_EXPORT:-/srv/arc-stack/state}  # what clients need (bind-mounted to ./credentials in Docker)
CLIENT_STATE_DIR=${ARC_STACK_CLIENT_STATE:-$EXPORT_DIR}  # how the CLIENT sees EXPORT_DIR (absolute paths in client.yaml)
AREX_PORT=8443
# Address A-REX and the issuer bind to: loopback in the chroot (shares the host's network); the Dockerfile
# sets 0.0.0.0 (a container's loopback is not reachable through published ports, which compose.yml binds to
# the host's 127.0.0.1 only).
LISTEN=${ARC_STACK_LISTEN:-127.0.0.1}
ISSUER_PORT=8444
ISSUER_URL="https://localhost:${ISSUER_PORT}"
ENDPOINT="https://localhost:${AREX_PORT}/arex"
AUDIENCE="https://localhost:${AREX_PORT}"
TOKEN_SUB=arc-intercede-test
GRID=/etc/grid-security
CA_DIR=$GRID/certificates
CA_PEM=$GRID/testCA.pem                            # stable-named copy of the test CA cert (healthcheck --cacert)
HOSTCERT=$GRID/testCA-hostcert.pem
HOSTKEY=$GRID/testCA-hostkey.pem
USER_DIR=/srv/arc-stack/user                       # test-CA user credential (kept across runs)
ISSUER_DIR=/srv/arc-stack/issuer                   # issuer key + issuer.json (kept across runs)
RUN_DIR=/run/arc-stack                             # pid files of what the stack starts
LOG_DIR=/var/log/arc-stack
mkdir -p "$RUN_DIR" "$LOG_DIR"

log() { echo "[arc-stack $(date +%H:%M:%S)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# pid_alive PIDFILE -> 0 if the pid in PIDFILE is a live process
pid_alive() { local pid; pid=$(cat "$1" 2>/dev/null) && [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; }

# stop_pidfile PIDFILE [NAME]: TERM, wait up to 15 s, then KILL; removes the pid file
stop_pidfile() {
  local f=$1 name=${2:-$1} pid i
  pid=$(cat "$f" 2>/dev/null) || pid=""  # read once: an exiting daemon may remove its pid file meanwhile
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then log "$name did not stop: KILL"; kill -9 "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$f"
}
