# shellcheck shell=bash
# shellcheck disable=SC2034  # a library: the scripts that source it use its variables
# Shared by every script of the migration test environment: settings, paths, helpers.
#
# Every address, port and path comes from an environment variable whose default is the docker compose
# value (docker-compose.migration.yml). The loopback rehearsal (scripts/rehearsal.sh) runs the very same
# scripts with loopback addresses, free ports and MIGRATION_ROOT pointing at a temporary directory.

# --- where things are ----------------------------------------------------------------------------------
MIGRATION_HOME=${MIGRATION_HOME:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# A prefix for every file the daemons and the test use: "" in the containers, a temp dir on loopback.
MIGRATION_ROOT=${MIGRATION_ROOT:-}

# --- the cluster (compose values) ----------------------------------------------------------------------
: "${CLUSTER_NAME:=migration}"
# SlurmctldHost: slurmctld insists that this is its own host name (or "localhost").
: "${SLURMCTLD_HOST:=slurm-controller}"
: "${SLURMCTLD_ADDR:=172.30.0.10}"
: "${SLURMCTLD_PORT:=6817}"
: "${SLURMD_PORT:=6818}"
: "${NODE_NAME:=compute-node-1}"
: "${NODE_HOSTNAME:=compute-node-1}"
: "${NODE_ADDR:=172.30.0.11}"
: "${NODE_CPUS:=4}"
: "${NODE_MEMORY_MB:=1000}"
# flurm shares slurm-controller's network namespace (README: "Where flurm runs"), so its address is
# slurmctld's: after the takeover it listens on SlurmctldHost:SlurmctldPort, where every slurmstepd reports.
: "${FLURM_ADDR:=$SLURMCTLD_ADDR}"
# flurm's own settings: config/flurm-migration.env, for each variable the environment does not set
while IFS='=' read -r _key _value; do
  [[ $_key =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
  [[ -n ${!_key+set} ]] || export "$_key=$_value"
done < "$MIGRATION_HOME/config/flurm-migration.env"
unset _key _value
: "${FLURM_BIN:=flurm}"
# How long one "minute" of the test jobs lasts, in seconds: 60 for the real thing, a few for a rehearsal.
: "${JOB_MINUTE_SECONDS:=60}"

CONF_DIR=$MIGRATION_ROOT/etc/slurm
CLUSTER_CONF=$CONF_DIR/slurm.conf              # slurmctld, slurmd and flurm
CLIENT_CONF=$CONF_DIR/client/slurm.conf        # the clients (test-runner)
SECRETS_DIR=${SECRETS_DIR:-$MIGRATION_ROOT/etc/migration-secrets}   # a shared volume in compose
MUNGE_KEY_SHARED=$SECRETS_DIR/munge.key
: "${FLURM_API_TOKEN_FILE:=$SECRETS_DIR/api-token}"   # the static operator token (migration endpoints)
: "${JWT_KEY:=$SECRETS_DIR/jwt_hs256.key}"              # signs the JWTs a job submission over HTTP needs
MUNGE_DIR=$MIGRATION_ROOT/run/munge
MUNGE_SOCKET=$MUNGE_DIR/munge.sock
MUNGE_KEY=$MIGRATION_ROOT/etc/munge/munge.key
: "${FLURM_STATE_DIR:=$MIGRATION_ROOT/var/lib/flurm}"
JOBS_DIR=${JOBS_DIR:-$MIGRATION_ROOT/var/lib/migration-jobs}   # work dir of the test jobs (node + runner)
LOG_DIR=$MIGRATION_ROOT/var/log/slurm    # slurmctld and slurmd logs
RUN_DIR=$MIGRATION_ROOT/run/slurm
TEST_DIR=${TEST_DIR:-$MIGRATION_ROOT/var/lib/migration-test}     # the test's own state (job ids, confs)

# --- output --------------------------------------------------------------------------------------------
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# --- configuration files -------------------------------------------------------------------------------
# The variables a template may name as @NAME@.
TEMPLATE_VARS=(MIGRATION_ROOT CLUSTER_NAME SLURMCTLD_HOST SLURMCTLD_ADDR SLURMCTLD_PORT SLURMD_PORT
  NODE_NAME NODE_HOSTNAME NODE_ADDR NODE_CPUS NODE_MEMORY_MB MUNGE_SOCKET JWT_KEY)

# render_conf TEMPLATE OUT: the template with every @NAME@ replaced; fails on a placeholder left unfilled.
render_conf() {
  local template=$1 out=$2 text var
  text=$(< "$template")
  for var in "${TEMPLATE_VARS[@]}"; do
    text=${text//@$var@/${!var}}
  done
  if [[ $text =~ @[A-Z_]+@ ]]; then
    die "$template: unknown placeholder ${BASH_REMATCH[0]}"
  fi
  mkdir -p "$(dirname "$out")"
  printf '%s\n' "$text" > "$out.tmp"
  mv -f "$out.tmp" "$out"
}

# The cluster's slurm.conf and cgroup.conf (slurmd reads cgroup.conf beside slurm.conf).
render_cluster_conf() {
  render_conf "$MIGRATION_HOME/config/slurm-migration.conf" "$CLUSTER_CONF"
  render_conf "$MIGRATION_HOME/config/cgroup.conf" "$CONF_DIR/cgroup.conf"
}

render_client_conf() {
  render_conf "$MIGRATION_HOME/config/slurm-client.conf" "$CLIENT_CONF"
}

# --- secrets: the MUNGE key, flurm's API token and the JWT key, made once by slurm-controller --------------
create_secrets() {
  mkdir -p "$SECRETS_DIR"
  chmod 700 "$SECRETS_DIR"
  if [[ ! -s $MUNGE_KEY_SHARED ]]; then
    log "creating the MUNGE key $MUNGE_KEY_SHARED"
    dd if=/dev/urandom of="$MUNGE_KEY_SHARED.tmp" bs=1 count=1024 status=none
    chmod 600 "$MUNGE_KEY_SHARED.tmp"
    mv -f "$MUNGE_KEY_SHARED.tmp" "$MUNGE_KEY_SHARED"
  fi
  if [[ ! -s $FLURM_API_TOKEN_FILE ]]; then
    log "creating flurm's API token $FLURM_API_TOKEN_FILE"
    (umask 077 && od -An -tx1 -N24 /dev/urandom | tr -d ' \n' > "$FLURM_API_TOKEN_FILE.tmp")
    echo >> "$FLURM_API_TOKEN_FILE.tmp"
    mv -f "$FLURM_API_TOKEN_FILE.tmp" "$FLURM_API_TOKEN_FILE"
  fi
  if [[ ! -s $JWT_KEY ]]; then
    log "creating the JWT key $JWT_KEY"
    (umask 077 && dd if=/dev/urandom of="$JWT_KEY.tmp" bs=32 count=1 status=none)
    mv -f "$JWT_KEY.tmp" "$JWT_KEY"
  fi
}

# wait_for_file PATH [SECONDS]
wait_for_file() {
  local path=$1 timeout=${2:-120} deadline=$((SECONDS + ${2:-120}))
  until [[ -s $path ]]; do
    ((SECONDS < deadline)) || die "$path did not appear within ${timeout}s"
    sleep 0.2
  done
}

api_token() {
  if [[ -n ${FLURM_API_TOKEN:-} ]]; then
    printf '%s' "$FLURM_API_TOKEN"
  else
    head -n1 "$FLURM_API_TOKEN_FILE"
  fi
}

# --- munged --------------------------------------------------------------------------------------------
# pid_alive PID: a live process, not a zombie.
pid_alive() {
  local state
  state=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2> /dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

# munged with the shared key, once per host (the loopback rehearsal's roles share one).
start_munged() {
  wait_for_file "$MUNGE_KEY_SHARED"
  mkdir -p "$MIGRATION_ROOT/etc/munge" "$MUNGE_DIR" "$MIGRATION_ROOT/var/lib/munge" "$MIGRATION_ROOT/var/log/munge"
  # munged wants every directory above its socket searchable by all
  chmod 755 "$MUNGE_DIR"
  local pidfile=$MUNGE_DIR/munged.pid pid
  if [[ -s $pidfile ]] && pid=$(< "$pidfile") && pid_alive "$pid"; then
    return 0
  fi
  install -m 600 "$MUNGE_KEY_SHARED" "$MUNGE_KEY"
  rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
  # --force: runs as root and tolerates group-writable parents (a test environment)
  munged --force --socket="$MUNGE_SOCKET" --key-file="$MUNGE_KEY" --pid-file="$pidfile" \
    --log-file="$MIGRATION_ROOT/var/log/munge/munged.log" \
    --seed-file="$MIGRATION_ROOT/var/lib/munge/munged.seed" || die "munged did not start"
  munge -S "$MUNGE_SOCKET" -n | unmunge -S "$MUNGE_SOCKET" > /dev/null || die "munge round trip failed"
  log "munged up ($MUNGE_SOCKET)"
}

# --- network -------------------------------------------------------------------------------------------
# port_open HOST PORT: something accepts TCP connections there.
port_open() {
  timeout 2 bash -c 'exec 3<> "/dev/tcp/$1/$2"' _ "$1" "$2" 2> /dev/null
}

# wait_until SECONDS CMD...: until CMD succeeds; fails after SECONDS.
wait_until() {
  local timeout=$1 deadline
  shift
  deadline=$(($(date +%s%N) + ${timeout%.*} * 1000000000))
  until "$@"; do
    (($(date +%s%N) < deadline)) || return 1
    sleep 0.2
  done
}

# --- flurm's HTTP API ----------------------------------------------------------------------------------
flurm_url() { printf 'http://%s:%s' "$FLURM_ADDR" "$FLURM_HTTP_PORT"; }

# http METHOD PATH [JSON] [--no-token]: prints the body, then a last line with the status code.
# The credential is the static operator token, or $HTTP_JWT when set (a JWT from `scontrol token`).
http() {
  local method=$1 path=$2 data=${3:-} token_args=()
  if [[ ${4:-} != --no-token ]]; then
    token_args=(-H "Authorization: Bearer ${HTTP_JWT:-$(api_token)}")
  fi
  local args=(-sS -m 120 -X "$method" -w '\n%{http_code}' "${token_args[@]}")
  if [[ -n $data ]]; then
    args+=(-H 'Content-Type: application/json' --data "$data")
  fi
  curl "${args[@]}" "$(flurm_url)$path" || printf '\n000'
}

# http_split RESPONSE: sets HTTP_BODY and HTTP_STATUS from what http printed.
http_split() {
  HTTP_STATUS=${1##*$'\n'}
  HTTP_BODY=${1%$'\n'*}
  [[ $HTTP_BODY != "$1" ]] || HTTP_BODY=""
}
