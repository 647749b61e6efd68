#!/usr/bin/env bash
# The project's complete test run (README; .ci/run calls it). On a fresh Debian machine (root) it installs
# everything it needs and runs:
#   1. host packages: debootstrap, curl, ca-certificates (apt, only if missing)
#   2. the Python environment: .venv in the repo, `pip install -e '.[dev]'`
#   3. static checks (ruff check, mypy --strict; findings fail the run), unit tests: pytest (pyproject
#      selects -m "not remote") under coverage.py, which prints the line coverage of arc_intercede/
#   4. the contract suite against the ARC 7 + Slurm stack (compose/arc-slurm/chroot-stack), in its
#      configurations: up proxy -> pytest --config proxy -> up token -> pytest --config token -> up voms ->
#      pytest --config voms (the VOMS tests only: tests/contract/test_voms.py)
#   5. stack down (always), timings
# Exits non-zero on any failure (a stack that does not come up included) and dumps the stack logs.
# Env: ARC_STACK_ROOT, ARC_STACK_STATE (see chroot-stack), PYTHON (default python3), RUN_ALL_KEEP_STACK=1
# leaves the stack up at the end, RUN_ALL_CONTRACT (default "tests/contract tests/behaviour") narrows the
# contract selection (RUN_ALL_CONTRACT_VOMS, default tests/contract/test_voms.py, for the voms configuration).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
RUNNER="$REPO/compose/arc-slurm/chroot-stack"
export ARC_STACK_STATE=${ARC_STACK_STATE:-/var/lib/arc-intercede/state}
PYTHON=${PYTHON:-python3}
VENV="$REPO/.venv"
T_START=$SECONDS
declare -a TIMINGS=()
FAILED=()
STACK_STARTED=no
LOGDIR=$(mktemp -d /tmp/run_all.XXXXXX)  # pytest outputs, so the failed tests can be listed again at the end

say() { echo; echo "=== [run_all $(date +%H:%M:%S)] $*"; }
pytest_logged() {  # pytest_logged NAME ARGS...: run pytest, keep its output in $LOGDIR/NAME.log too
  local name=$1
  shift
  local runner=(-m pytest)
  if [[ ${1:-} == --cov-run ]]; then runner=(-m coverage run --source=arc_intercede -m pytest); shift; fi
  "$PY" "${runner[@]}" -rfE "$@" 2>&1 | tee "$LOGDIR/$name.log"
  return "${PIPESTATUS[0]}"
}
timed() {  # timed LABEL CMD...: run, record the duration, return the command's status
  local label=$1 t0=$SECONDS rc=0
  shift
  "$@" || rc=$?
  TIMINGS+=("$(printf '%-32s %4d s  (exit %d)' "$label" $((SECONDS - t0)) "$rc")")
  return "$rc"
}
summary() {
  echo; echo "=== timings"
  local t; for t in "${TIMINGS[@]}"; do echo "  $t"; done
  echo "  $(printf '%-32s %4d s' total $((SECONDS - T_START)))"
}
cleanup() {
  local rc=$?
  if [[ $STACK_STARTED == yes && ${RUN_ALL_KEEP_STACK:-0} != 1 ]]; then
    say "stack down"
    "$RUNNER" down </dev/null || echo "WARNING: chroot-stack down failed" >&2
  fi
  summary
  local f; for f in "$LOGDIR"/*.log; do
    [[ -f $f ]] || continue
    if grep -qE '^(FAILED|ERROR) ' "$f"; then
      echo "=== failed in $(basename "$f" .log):"; grep -E '^(FAILED|ERROR) ' "$f" | cut -c1-240
    fi
  done
  if ((rc != 0)); then echo "=== run_all: FAILED (exit $rc)${FAILED[*]:+: ${FAILED[*]}}" >&2
  else echo "=== run_all: all tests passed"; fi
  exit "$rc"
}
trap cleanup EXIT
exec </dev/null

[[ $(id -u) == 0 ]] || { echo "run_all.sh must run as root (apt, chroot, mount)" >&2; exit 1; }

# 1. host packages -----------------------------------------------------------------------------------------------
host_packages() {
  local missing=()
  command -v "$PYTHON" >/dev/null || missing+=(python3)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v curl >/dev/null || missing+=(curl)
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] || missing+=(ca-certificates)
  if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then missing+=(python3-venv python3-pip); fi
  if ((${#missing[@]})); then
    say "installing host packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    say "host packages present (debootstrap, curl, ca-certificates, venv)"
  fi
}
timed "host packages" host_packages

# 2. Python environment ------------------------------------------------------------------------------------------
python_env() {
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || { echo "need Python >= 3.11 ($PYTHON is $("$PYTHON" -V 2>&1))" >&2; return 1; }
  if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    say "creating $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  say "pip install -e '.[dev]'"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[dev]'
}
timed "python env (.venv)" python_env
PY="$VENV/bin/python"

# 3. static checks, then unit tests -------------------------------------------------------------------------------
say "static checks: ruff check, mypy --strict"
timed "ruff check" "$VENV/bin/ruff" check arc_intercede tests || FAILED+=("ruff check")
timed "mypy --strict" "$PY" -m mypy || FAILED+=("mypy")

say "unit tests: pytest under coverage"
unit_tests() {  # the unit run, measured by coverage.py; prints the line coverage of arc_intercede/
  local rc=0
  COVERAGE_FILE="$LOGDIR/.coverage" pytest_logged unit --cov-run -p no:cacheprovider || rc=$?
  COVERAGE_FILE="$LOGDIR/.coverage" "$PY" -m coverage report --precision=1 --skip-covered --sort=cover \
    | tail -n 12 || true
  echo "=== unit-test line coverage of arc_intercede/: $(COVERAGE_FILE="$LOGDIR/.coverage" \
    "$PY" -m coverage report --format=total --precision=1 2>/dev/null || echo '?')%"
  return "$rc"
}
rc=0
timed "unit tests" unit_tests || rc=$?
if ((rc == 5)); then
  echo "no unit tests were collected" >&2
  FAILED+=("unit tests (none collected)")
elif ((rc != 0)); then
  FAILED+=("unit tests")
fi

# 4. contract suite in both stack configurations ------------------------------------------------------------------
# Start from a known state: a previous run may have been killed with daemons or mounts left behind.
say "stack down (clean start)"
"$RUNNER" down || echo "WARNING: chroot-stack down reported a problem; continuing" >&2
for config in proxy token voms; do
  selection=${RUN_ALL_CONTRACT:-tests/contract tests/behaviour}
  [[ $config != voms ]] || selection=${RUN_ALL_CONTRACT_VOMS:-tests/contract/test_voms.py}
  say "stack up: $config"
  STACK_STARTED=yes
  if ! timed "stack up $config" "$RUNNER" up "$config"; then
    say "the stack did not come up ($config): stopping it and trying once more"
    "$RUNNER" down || true
    if ! timed "stack up $config (retry)" "$RUNNER" up "$config"; then
      FAILED+=("stack up $config")
      echo "=== the stack did not come up (configuration $config): see the logs above" >&2
      exit 1
    fi
  fi
  say "contract suite: --stack arc-slurm --config $config"
  if ! timed "contract suite ($config)" pytest_logged "contract-$config" -p no:cacheprovider --durations=20 -m "remote and arc" \
      --stack arc-slurm --config "$config" --stack-state "$ARC_STACK_STATE" $selection; then
    FAILED+=("contract suite ($config)")
    say "stack logs after the failure ($config)"
    "$RUNNER" logs || true
  fi
done

((${#FAILED[@]} == 0)) || exit 1
