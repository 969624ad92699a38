#!/usr/bin/env bash
# The migration rehearsal on loopback, in one command (`make demo`): the docker compose test environment of
# deploy/docker without Docker. The same start scripts, the same slurm.conf template and the same
# test-migration.sh run here; only the addresses (127.0.0.1), the ports (free ones) and the root of every
# path (a temporary directory) differ.
#
#   munged, slurmctld (SlurmctldHost=localhost) and slurmd compute-node-1, real daemons, as root;
#   flurm in shadow with its HTTP API and a fresh token; then test-migration.sh, phases 1 to 8, takeover
#   included. Results: $RESULTS_FILE (default test-results/migration.json). Everything started here is
#   stopped by pid and the temporary directory removed (FLURM_KEEP_REHEARSAL=1 keeps it).
#
# JOB_MINUTE_SECONDS (default 3 here, 60 in compose) is how long one minute of the test jobs lasts:
# test_long's 30 minutes last 90 s, long enough to still run when the takeover comes.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
DOCKER_DIR=$REPO/deploy/docker
PY=${PYTHON:-$REPO/.venv/bin/python}
[[ $(id -u) == 0 ]] || {
  echo "rehearsal: must run as root (slurmd launches jobs as their users)" >&2
  exit 1
}
for bin in munged slurmctld slurmd sbatch curl jq; do
  command -v "$bin" > /dev/null || {
    echo "rehearsal: $bin not found (make setup installs it)" >&2
    exit 1
  }
done
[[ -x $PY ]] || {
  echo "rehearsal: $PY not found (make setup creates it)" >&2
  exit 1
}

ROOT=$(mktemp -d /tmp/flurm-rehearsal.XXXXXX)
chmod 755 "$ROOT"
mkdir -p "$ROOT/var/log/rehearsal"
ports=$("$PY" -c "import sys; sys.path.insert(0, '$REPO'); from harness.loopback import free_port_block; print(free_port_block(4))") || {
  echo "rehearsal: no free ports" >&2
  exit 1
}

export MIGRATION_ROOT=$ROOT
export SLURMCTLD_HOST=localhost SLURMCTLD_ADDR=127.0.0.1 NODE_HOSTNAME=localhost NODE_ADDR=127.0.0.1
export FLURM_ADDR=127.0.0.1 FLURM_HTTP_HOST=127.0.0.1 FLURM_LISTEN=127.0.0.1
export SLURMCTLD_PORT=$ports SLURMD_PORT=$((ports + 1)) FLURM_PORT=$((ports + 2)) FLURM_HTTP_PORT=$((ports + 3))
export FLURM_BIN="$PY -m flurm.cli"
export JOB_MINUTE_SECONDS=${JOB_MINUTE_SECONDS:-3}
export RESULTS_FILE=${RESULTS_FILE:-$REPO/test-results/migration.json}
[[ $RESULTS_FILE == /* ]] || RESULTS_FILE=$PWD/$RESULTS_FILE
unset SLURM_CONF FLURM_API_TOKEN
. "$DOCKER_DIR/scripts/lib.sh"

say() { printf '[rehearsal] %s\n' "$*"; }
declare -A PIDS=()

start_role() {  # start_role NAME SCRIPT: in the background, output to its log
  "$DOCKER_DIR/scripts/$2" > "$ROOT/var/log/rehearsal/$1.log" 2>&1 &
  PIDS[$1]=$!
}

wait_healthy() {  # wait_healthy ROLE SECONDS
  local deadline=$((SECONDS + $2))
  until "$DOCKER_DIR/scripts/healthcheck.sh" "$1"; do
    if ((SECONDS >= deadline)); then
      say "$1 is not healthy after $2 s; its log:"
      tail -n 30 "$ROOT/var/log/rehearsal/$1.log" >&2
      return 1
    fi
    sleep 0.2
  done
  say "$1 healthy"
}

stop_pid() {  # stop_pid PID NAME: SIGTERM, then SIGKILL after 20 s
  local pid=$1 i
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2> /dev/null || return 0
  for ((i = 0; i < 200; i++)); do
    pid_alive "$pid" || return 0
    sleep 0.1
  done
  say "$2 (pid $pid) ignored SIGTERM; killing it"
  kill -KILL "$pid" 2> /dev/null || true
}

stop_pidfile() {  # stop_pidfile FILE NAME: only a process whose command line names our directory
  local pid
  [[ -s $1 ]] || return 0
  pid=$(< "$1")
  [[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid" || return 0
  { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2> /dev/null | grep -qF "$ROOT" || return 0
  stop_pid "$pid" "$2"
}

descendants() {  # the process tree below the given pids
  local frontier=("$@") next p
  while ((${#frontier[@]})); do
    next=()
    for p in "${frontier[@]}"; do
      # shellcheck disable=SC2207
      next+=($(ps -o pid= --ppid "$p" 2> /dev/null))
    done
    ((${#next[@]})) && echo "${next[@]}"
    frontier=("${next[@]}")
  done
}

cleanup() {
  local rc=$? role p steps=()
  trap - EXIT INT TERM
  say "stopping everything started here"
  for role in flurm-controller slurm-node slurm-controller; do
    [[ -n ${PIDS[$role]:-} ]] && stop_pid "${PIDS[$role]}" "$role"
  done
  stop_pidfile "$RUN_DIR/slurmd-$NODE_NAME.pid" slurmd
  stop_pidfile "$RUN_DIR/slurmctld.pid" slurmctld
  # slurmstepd outlives slurmd by design; ours carry our slurm.conf in their environment
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $(cat "/proc/$p/comm" 2> /dev/null) == slurmstepd ]] || continue
    if { tr '\0' '\n' < "/proc/$p/environ"; } 2> /dev/null | grep -qxF "SLURM_CONF=$CLUSTER_CONF"; then
      steps+=("$p")
    fi
  done
  if ((${#steps[@]})); then
    # shellcheck disable=SC2046
    kill -KILL "${steps[@]}" $(descendants "${steps[@]}") 2> /dev/null || true
  fi
  stop_pidfile "$MUNGE_DIR/munged.pid" munged
  if [[ -n ${FLURM_KEEP_REHEARSAL:-} ]]; then
    say "kept $ROOT"
  else
    rm -rf "$ROOT"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "loopback cluster under $ROOT: slurmctld 127.0.0.1:$SLURMCTLD_PORT, slurmd :$SLURMD_PORT," \
  "flurm :$FLURM_PORT, HTTP API :$FLURM_HTTP_PORT; one job minute = ${JOB_MINUTE_SECONDS}s"
start_role slurm-controller start-slurm-controller.sh
wait_healthy slurm-controller 60 || exit 1
start_role slurm-node start-slurm-node.sh
wait_healthy slurm-node 60 || exit 1
start_role flurm-controller start-flurm-shadow.sh
wait_healthy flurm-controller 90 || exit 1
render_client_conf
wait_healthy test-runner 30 || exit 1

"$DOCKER_DIR/scripts/test-migration.sh"
rc=$?
if ((rc != 0)); then
  say "some checks failed; the last lines of flurm's log:"
  tail -n 40 "$ROOT/var/log/rehearsal/flurm-controller.log"
fi
exit "$rc"
