#!/usr/bin/env bash
# The hot migration test: a running SLURM cluster with jobs in flight moves to flurm.
#
#   1 SLURM cluster     slurmctld answers, the node is registered and up, the partition is up
#   2 test jobs         test_short, test_long and test_array submitted to slurmctld and running
#   3 flurm in shadow   flurm answers on its port, GET /health is 200, GET /api/mode says shadow
#   4 import            POST /api/import; every job, node and partition compared with slurmctld's
#   5 traffic switch    `flurm switch --to flurm` on a copy of the clients' slurm.conf; squeue, sinfo,
#                       scontrol and sbatch work through flurm
#   6 job tracking      the original jobs are still tracked by flurm, in the states slurmctld has
#   7 flurm jobs        sbatch and POST /api/jobs through flurm run to completion; the takeover while
#                       test_long runs; test_long completes under flurm with its exit code; new jobs run
#   8 summary           test jobs cleaned up, results written to $RESULTS_FILE (JSON)
#
# Each check prints PASS or FAIL as it ends; nothing is skipped. Exit status: 0 when every check passed.
# Docker compose: `docker compose -f docker-compose.migration.yml exec test-runner
#   /opt/migration/scripts/test-migration.sh`. On loopback: scripts/rehearsal.sh runs it.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
: "${RESULTS_FILE:=test-results/migration.json}"
mkdir -p "$TEST_DIR" "$JOBS_DIR"
rm -f "$TEST_DIR/state.env"
CHECKS_FILE=$TEST_DIR/checks.jsonl
: > "$CHECKS_FILE"
. "$HERE/checks.sh"

[[ -s $CLIENT_CONF ]] || render_client_conf
start_munged
export SLURM_CONF=$CLIENT_CONF
export JOB_MINUTE_SECONDS
FLURM_PORT_CONF=$(flurm_port_conf)
SWITCHED_CONF=$TEST_DIR/client-switched/slurm.conf
export SWITCHED_CONF
M=$JOB_MINUTE_SECONDS
STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
T0=$(now_ns)
ACTIVE_CONF=$CLIENT_CONF # where the clients find the cluster's controller (slurmctld, then flurm)

printf 'flurm hot migration test: slurmctld %s:%s, node %s (%s), flurm %s:%s (HTTP %s)\n' \
  "$SLURMCTLD_ADDR" "$SLURMCTLD_PORT" "$NODE_NAME" "$NODE_ADDR" "$FLURM_ADDR" "$FLURM_PORT" "$FLURM_HTTP_PORT"
printf 'one job minute = %ss; results to %s\n' "$M" "$RESULTS_FILE"

# --- helpers for the checks --------------------------------------------------------------------------------
expect_in() {  # expect_in TEXT CMD...: CMD's output (printed) contains TEXT
  local want=$1 out
  shift
  out=$("$@" 2>&1)
  printf '%s\n' "$out"
  [[ $out == *"$want"* ]]
}

http_expect() {  # http_expect STATUS JQ_FILTER METHOD PATH [DATA] [--no-token]
  local want=$1 filter=$2
  shift 2
  http_split "$(http "$@")"
  echo "$1 $2 -> HTTP $HTTP_STATUS: ${HTTP_BODY:0:600}"
  [[ $HTTP_STATUS == "$want" ]] || return 1
  [[ -z $filter ]] || jq -e "$filter" <<< "$HTTP_BODY" > /dev/null
}

node_up() {  # node_up CONF: the node is registered and responding, idle or busy
  local out
  out=$(SLURM_CONF=$1 timeout 30 sinfo -h -N -n "$NODE_NAME" -o '%N %T' 2>&1)
  echo "sinfo: $out"
  [[ $out =~ ^$NODE_NAME\ (idle|mixed|allocated|completing)$ ]]
}

node_registered() {  # the controller has slurmd's registration (its start time and version)
  local line
  line=$(SLURM_CONF=$1 timeout 30 scontrol show node -o "$NODE_NAME" 2>&1)
  echo "$line" | tr ' ' '\n' | grep -E '^(NodeName|State|SlurmdStartTime|Version|CPUTot)='
  [[ $line == *"NodeName=$NODE_NAME "* && $line != *"SlurmdStartTime=None"* && $line == *"Version="* ]]
}

same_output() {  # same_output CMD...: CMD prints the same through flurm (switched conf) as through slurmctld
  local a b
  a=$(SLURM_CONF=$CLIENT_CONF timeout 30 "$@" 2>&1 | blank_unpromised)
  b=$(SLURM_CONF=$SWITCHED_CONF timeout 30 "$@" 2>&1 | blank_unpromised)
  if [[ $a == "$b" && -n $a ]]; then
    echo "identical ($(wc -l <<< "$a") lines)"
    return 0
  fi
  echo "slurmctld: $a"
  echo "flurm:     $b"
  return 1
}

eventually_same_output() {  # the views converge within a few seconds (jobs change meanwhile)
  local i
  for ((i = 0; i < 10; i++)); do
    if same_output "$@" > /dev/null; then
      same_output "$@"
      return 0
    fi
    sleep 0.8
  done
  same_output "$@"
}

sbatch_via() {  # sbatch_via CONF VAR ARGS...: submit, remember the id as VAR
  local conf=$1 var=$2 out id
  shift 2
  out=$(cd "$JOBS_DIR" && SLURM_CONF=$conf timeout 60 sbatch --parsable "$@" 2>&1) || {
    echo "sbatch failed: $out"
    return 1
  }
  id=${out%%;*}
  [[ $id =~ ^[0-9]+$ ]] || {
    echo "sbatch printed '$out'"
    return 1
  }
  state_set "$var" "$id"
  echo "job $id"
}

job_completed_with_output() {  # CONF JOBID SECONDS FILE TEXT
  local conf=$1 job=$2 timeout=$3 file=$4 text=$5
  wait_job_state "$conf" "$job" "$timeout" COMPLETED || return 1
  echo "ExitCode=$(job_field "$conf" "$job" ExitCode)"
  [[ $(job_field "$conf" "$job" ExitCode) == 0:0 ]] || return 1
  if ! grep -q "$text" "$file" 2> /dev/null; then
    echo "$file does not contain '$text'"
    return 1
  fi
  echo "$file: $(grep -m1 "$text" "$file")"
}

# ===========================================================================================================
phase 1 "SLURM cluster"
check "slurmctld answers scontrol ping" expect_in "is UP" scontrol ping
check "node $NODE_NAME is registered with slurmctld" node_registered "$CLIENT_CONF"
check "node $NODE_NAME is up (sinfo)" wait_until 30 node_up "$CLIENT_CONF"
check "partition debug is up" expect_in "State=UP" scontrol show partition -o debug

# ===========================================================================================================
phase 2 "test jobs submitted to slurmctld"
"$HERE/submit-test-jobs.sh"
SHORT=$(state_get SHORT_JOB || true) LONG=$(state_get LONG_JOB || true) ARRAY=$(state_get ARRAY_JOB || true)

# ===========================================================================================================
phase 3 "flurm in shadow mode"
check "flurm answers scontrol ping on port $FLURM_PORT" expect_in "is UP" \
  env SLURM_CONF="$FLURM_PORT_CONF" scontrol ping
check "GET /health is 200 and healthy" http_expect 200 '.status == "healthy"' GET /health "" --no-token
check "GET /api/mode says shadow" http_expect 200 '.mode == "shadow"' GET /api/mode "" --no-token
status_shadow_in_sync() {
  local out
  # shellcheck disable=SC2086
  out=$($FLURM_BIN status -f "$CLIENT_CONF" --host "$FLURM_ADDR" --port "$FLURM_PORT" 2>&1)
  printf '%s\n' "$out"
  [[ $out == *'"mode": "shadow"'* && $out == *'"in_sync": true'* ]]
}
check "flurm status (admin RPC) says shadow, mirror in sync" status_shadow_in_sync

# ===========================================================================================================
phase 4 "import from slurmctld"
check "POST /api/import without a token is refused (401)" http_expect 401 '.error' POST /api/import "" --no-token
check "POST /api/import with the token (trigger-import.sh)" "$HERE/trigger-import.sh"
"$HERE/verify-import.sh"

# ===========================================================================================================
phase 5 "traffic switched to flurm"
check "flurm switch --to flurm rewrites the clients' slurm.conf copy (switch-traffic.sh)" "$HERE/switch-traffic.sh"
check "squeue through flurm = through slurmctld" eventually_same_output squeue -o '%i %j %T %u %P %D %R'
check "sinfo through flurm = through slurmctld" eventually_same_output sinfo
if [[ -n $LONG ]]; then
  check "scontrol show job $LONG through flurm = through slurmctld" \
    eventually_same_output scontrol show job -o "$LONG"
else
  fail "scontrol show job through flurm = through slurmctld" "test_long was not submitted"
fi
check "sbatch through flurm (forwarded to slurmctld)" \
  sbatch_via "$SWITCHED_CONF" VIA_FLURM_JOB -J via_flurm -o 'via_flurm-%j.out' --wrap 'echo forwarded by flurm'
VIA=$(state_get VIA_FLURM_JOB || true)
if [[ -n $VIA ]]; then
  check "slurmctld has job $VIA, submitted through flurm" expect_in "JobName=via_flurm" \
    scontrol show job -o "$VIA"
  check "job $VIA completes under slurmctld" job_completed_with_output "$CLIENT_CONF" "$VIA" 60 \
    "$JOBS_DIR/via_flurm-$VIA.out" "forwarded by flurm"
else
  fail "slurmctld has the job submitted through flurm" "sbatch through flurm failed"
  fail "the job submitted through flurm completes under slurmctld" "sbatch through flurm failed"
fi

# ===========================================================================================================
phase 6 "original jobs still tracked"
tracked_same() {  # tracked_same JOBID: flurm's state of the job (API and scontrol) is slurmctld's
  local job=$1 i a b api
  for ((i = 0; i < 10; i++)); do
    a=$(job_field "$CLIENT_CONF" "$job" JobState)
    b=$(job_field "$SWITCHED_CONF" "$job" JobState)
    http_split "$(http GET "/api/jobs/$job" "" --no-token)"
    api=$(jq -r '.state // ([.jobs[].state] | unique | join(","))' <<< "$HTTP_BODY" 2> /dev/null)
    if [[ -n $a && $a == "$b" && $a == "$api" ]]; then
      echo "slurmctld, scontrol through flurm and GET /api/jobs/$job: $a"
      return 0
    fi
    sleep 0.8
  done
  echo "slurmctld: ${a:-none}; scontrol through flurm: ${b:-none}; GET /api/jobs/$job (HTTP $HTTP_STATUS): ${api:-none}"
  return 1
}
for var in SHORT LONG ARRAY; do
  id=${!var}
  if [[ -n $id ]]; then
    check "job $id (test_${var,,}): same state in flurm and slurmctld" tracked_same "$id"
  else
    fail "test_${var,,}: same state in flurm and slurmctld" "not submitted"
  fi
done
if [[ -n $ARRAY ]]; then
  for ((task = 1; task <= 5; task++)); do
    check "array task ${ARRAY}_$task: same state in flurm and slurmctld" tracked_same "${ARRAY}_$task"
  done
fi
check "squeue -t all -r through flurm = through slurmctld" \
  eventually_same_output squeue -t all -r -o '%i %j %T %l %D %R'

# ===========================================================================================================
phase 7 "new jobs through flurm, then the takeover"
check "sbatch through flurm" \
  sbatch_via "$SWITCHED_CONF" FLURM_SBATCH_JOB -J flurm_sbatch -o 'flurm_sbatch-%j.out' \
  --wrap 'echo scheduled and completed; hostname'
FSB=$(state_get FLURM_SBATCH_JOB || true)
if [[ -n $FSB ]]; then
  check "job $FSB (sbatch through flurm) is scheduled and completes" job_completed_with_output \
    "$SWITCHED_CONF" "$FSB" 60 "$JOBS_DIR/flurm_sbatch-$FSB.out" "scheduled and completed"
else
  fail "the job submitted with sbatch through flurm completes" "sbatch through flurm failed"
fi
API_JOB_JSON=$(jq -nc --arg dir "$JOBS_DIR" '{script: "#!/bin/sh\necho submitted over HTTP\nhostname\n",
  name: "api_job", work_dir: $dir, output: "api_job-%j.out", time_limit: "10"}')
check "POST /api/jobs without a token is refused (401)" http_expect 401 '.error' POST /api/jobs "$API_JOB_JSON" --no-token
check "POST /api/jobs with the operator's static token is refused (403: it names no user)" \
  http_expect 403 '.error' POST /api/jobs "$API_JOB_JSON"
api_submit() {  # a JWT from flurm (scontrol token through it), then the job runs as the token's user
  local out
  out=$(SLURM_CONF=$SWITCHED_CONF timeout 30 scontrol token lifespan=600 2>&1) || {
    echo "scontrol token failed: $out"
    return 1
  }
  [[ $out == SLURM_JWT=* ]] || {
    echo "scontrol token: $out"
    return 1
  }
  HTTP_JWT=${out#SLURM_JWT=} http_expect 201 '.id > 0' POST /api/jobs "$API_JOB_JSON" || return 1
  state_set API_JOB "$(jq -r .id <<< "$HTTP_BODY")"
}
check "POST /api/jobs with a JWT from scontrol token" api_submit
API_JOB=$(state_get API_JOB || true)
api_job_done() {
  local i st
  for ((i = 0; i < 120; i++)); do
    http_split "$(http GET "/api/jobs/$API_JOB" "" --no-token)"
    st=$(jq -r .state <<< "$HTTP_BODY" 2> /dev/null)
    [[ $st == COMPLETED ]] && break
    sleep 0.5
  done
  echo "GET /api/jobs/$API_JOB: $(jq -c '{state, exit_code, nodes}' <<< "$HTTP_BODY" 2> /dev/null)"
  [[ $st == COMPLETED ]] && jq -e '.exit_code == "0:0"' <<< "$HTTP_BODY" > /dev/null \
    && grep -q "submitted over HTTP" "$JOBS_DIR/api_job-$API_JOB.out" 2> /dev/null
}
if [[ -n $API_JOB ]]; then
  check "job $API_JOB (POST /api/jobs) is scheduled and completes" api_job_done
else
  fail "the job submitted with POST /api/jobs completes" "POST /api/jobs failed"
fi

# the takeover, with test_long running
LONG_START=""
if [[ -n $LONG ]]; then
  long_running() {
    local st start
    st=$(job_field "$CLIENT_CONF" "$LONG" JobState)
    start=$(job_field "$CLIENT_CONF" "$LONG" StartTime)
    echo "test_long ($LONG) is $st since $start"
    state_set LONG_START "$start"
    [[ $st == RUNNING ]]
  }
  check "test_long is running before the takeover" long_running
  LONG_START=$(state_get LONG_START || true)
else
  fail "test_long is running before the takeover" "not submitted"
fi
HIGHEST=$(SLURM_CONF=$CLIENT_CONF squeue -h -t all -o '%A' 2> /dev/null | sort -n | tail -n1)
# shellcheck disable=SC2086
check "takeover pre-flight (flurm takeover --dry-run)" \
  $FLURM_BIN takeover --dry-run -f "$CLIENT_CONF" --host "$FLURM_ADDR" --port "$FLURM_PORT"
takeover() {
  http_expect 200 '.result.ok == true and .mode == "standalone"' POST /api/takeover '{"dry_run": false}' \
    || return 1
  jq -r '"mode: \(.mode)", (.events[] | "\(.step) \(.status) \(.detail)")' <<< "$HTTP_BODY"
  jq -c '.result | {gap_seconds, endpoint_gap_seconds, adopted_running, pending, next_job_id}' <<< "$HTTP_BODY"
}
TOOK_OVER=0
check "POST /api/takeover (slurmctld stops, flurm takes its port)" takeover && TOOK_OVER=1
if ((TOOK_OVER)); then
  # shellcheck disable=SC2086
  check "flurm answers on slurmctld's port $SLURMCTLD_PORT (admin RPC: standalone)" expect_in '"mode": "standalone"' \
    $FLURM_BIN status -f "$CLIENT_CONF" --host "$SLURMCTLD_ADDR" --port "$SLURMCTLD_PORT"
  check "GET /api/mode says standalone" http_expect 200 '.mode == "standalone"' GET /api/mode "" --no-token
  check "node $NODE_NAME registers with flurm and is up" wait_until 60 node_up "$CLIENT_CONF"
  check "GET /health is 200 and healthy after the takeover" \
    wait_until 30 http_expect 200 '.status == "healthy"' GET /health "" --no-token
  if [[ -n $LONG ]]; then
    long_done() {
      local out=$JOBS_DIR/test_long-$LONG.out start
      wait_job_state "$CLIENT_CONF" "$LONG" $((30 * M + 120)) COMPLETED || return 1
      echo "ExitCode=$(job_field "$CLIENT_CONF" "$LONG" ExitCode)"
      [[ $(job_field "$CLIENT_CONF" "$LONG" ExitCode) == 0:0 ]] || return 1
      start=$(job_field "$CLIENT_CONF" "$LONG" StartTime)
      if [[ $start != "$LONG_START" ]]; then
        echo "StartTime changed from $LONG_START to $start: the job was started again"
        return 1
      fi
      echo "started $start under slurmctld, not restarted"
      http_expect 200 '.state == "COMPLETED" and .exit_code == "0:0"' GET "/api/jobs/$LONG" "" --no-token \
        || return 1
      grep -q "test_long: minute 30 of 30" "$out" && grep -q "test_long: finished" "$out" || {
        echo "$out does not show 30 minutes and the end"
        return 1
      }
      tail -n1 "$out"
    }
    check "test_long ($LONG) completes under flurm with exit code 0:0" long_done
  else
    fail "test_long completes under flurm" "not submitted"
  fi
  if [[ -n $ARRAY ]]; then
    array_done() {
      local states
      wait_until $((10 * M + 120)) bash -c \
        "[[ \$(SLURM_CONF=$CLIENT_CONF squeue -h -r -t all -j $ARRAY -o %T | sort -u) == COMPLETED ]]"
      states=$(squeue -h -r -t all -j "$ARRAY" -o '%i %T' | tr '\n' ' ')
      echo "$states"
      [[ $(squeue -h -r -t all -j "$ARRAY" -o '%T' | grep -c '^COMPLETED$') == 5 ]]
    }
    check "test_array: all 5 tasks completed" array_done
  fi
  if [[ -n $SHORT ]]; then
    check "test_short ($SHORT) completed" job_completed_with_output "$CLIENT_CONF" "$SHORT" $((5 * M + 60)) \
      "$JOBS_DIR/test_short-$SHORT.out" "test_short: finished"
  fi
  after_takeover() {
    sbatch_via "$CLIENT_CONF" AFTER_JOB -J after_takeover -o 'after_takeover-%j.out' \
      --wrap 'echo run by flurm' || return 1
    local id
    id=$(state_get AFTER_JOB)
    if ((id <= ${HIGHEST:-0})); then
      echo "new id $id is not above slurmctld's last ($HIGHEST)"
      return 1
    fi
    echo "id $id > $HIGHEST (slurmctld's last)"
    job_completed_with_output "$CLIENT_CONF" "$id" 60 "$JOBS_DIR/after_takeover-$id.out" "run by flurm"
  }
  check "a new job after the takeover is scheduled by flurm and completes" after_takeover
  check "clients switched to flurm's port still work after the takeover" \
    expect_in after_takeover env SLURM_CONF="$SWITCHED_CONF" squeue -t all -o '%i %j %T'
else
  for name in "flurm answers on slurmctld's port" "GET /api/mode says standalone" \
    "node registers with flurm" "test_long completes under flurm" "a new job after the takeover" \
    "clients switched to flurm's port still work after the takeover"; do
    fail "$name" "the takeover failed"
  done
fi

# ===========================================================================================================
phase 8 "summary"
cleanup() {
  local ids left i
  ids=$(for v in SHORT_JOB LONG_JOB ARRAY_JOB VIA_FLURM_JOB FLURM_SBATCH_JOB API_JOB AFTER_JOB; do
    state_get "$v" || true
    echo
  done | grep -E '^[0-9]+$' | tr '\n' ' ')
  [[ -n ${ids// /} ]] || {
    echo "no test jobs"
    return 0
  }
  # shellcheck disable=SC2086
  SLURM_CONF=$ACTIVE_CONF timeout 30 scancel $ids 2>&1 || true
  local csv
  csv=$(echo $ids | tr ' ' ',')
  for ((i = 0; i < 60; i++)); do
    left=$(SLURM_CONF=$ACTIVE_CONF timeout 30 squeue -h -t pending,running,completing -j "$csv" -o '%i' 2>&1) \
      || left="squeue failed: $left"
    left=$(tr '\n' ' ' <<< "$left" | sed 's/ *$//')
    [[ -z ${left// /} ]] && break
    sleep 0.5
  done
  echo "test jobs: $ids; still active: ${left:-none}"
  [[ -z ${left// /} ]]
}
check "clean up: no test job left pending or running" cleanup

FINISHED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
DURATION=$(awk -v a="$T0" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
mkdir -p "$(dirname "$RESULTS_FILE")"
jq -s --arg started "$STARTED_AT" --arg finished "$FINISHED_AT" --argjson duration "$DURATION" \
  --argjson minute "$M" --arg ctld "$SLURMCTLD_ADDR:$SLURMCTLD_PORT" --arg flurm "$FLURM_ADDR:$FLURM_PORT" \
  --arg http "$FLURM_ADDR:$FLURM_HTTP_PORT" --arg node "$NODE_NAME ($NODE_ADDR:$SLURMD_PORT)" '
  def titles: {"1": "SLURM cluster", "2": "test jobs submitted to slurmctld", "3": "flurm in shadow mode",
    "4": "import from slurmctld", "5": "traffic switched to flurm", "6": "original jobs still tracked",
    "7": "new jobs through flurm, then the takeover", "8": "summary"};
  {
    test: "flurm hot migration",
    started_at: $started, finished_at: $finished, duration_seconds: $duration,
    environment: {slurmctld: $ctld, node: $node, flurm: $flurm, flurm_http: $http, job_minute_seconds: $minute},
    result: (if all(.[]; .result == "PASS") and length > 0 then "PASS" else "FAIL" end),
    passed: ([.[] | select(.result == "PASS")] | length),
    failed: ([.[] | select(.result != "PASS")] | length),
    phases: [range(1; 9) as $p | {phase: $p, title: titles[$p | tostring],
      checks: ([.[] | select(.phase == $p)] | length),
      failed: ([.[] | select(.phase == $p and .result != "PASS")] | length)}
      | .result = (if .checks > 0 and .failed == 0 then "PASS" else "FAIL" end)],
    checks: .
  }' "$CHECKS_FILE" > "$RESULTS_FILE.tmp" && mv -f "$RESULTS_FILE.tmp" "$RESULTS_FILE"

printf '\n'
jq -r '.phases[] | "  phase \(.phase) \(.result)  \(.title) (\(.checks) checks, \(.failed) failed)"' "$RESULTS_FILE"
jq -r '"\n\(.result): \(.passed) passed, \(.failed) failed in \(.duration_seconds) s; results in '"$RESULTS_FILE"'"' \
  "$RESULTS_FILE"
[[ $(jq -r .result "$RESULTS_FILE") == PASS ]]
