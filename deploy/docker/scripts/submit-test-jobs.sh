#!/usr/bin/env bash
# Submit the three test jobs to the cluster (phase 2 of test-migration.sh): test_short (5 minutes),
# test_long (30 minutes) and test_array (5 tasks), each "minute" lasting JOB_MINUTE_SECONDS seconds.
# Their ids go to $TEST_DIR/state.env (SHORT_JOB, LONG_JOB, ARRAY_JOB). Exit status: 0 when all passed.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/checks.sh"
export SLURM_CONF=${SUBMIT_CONF:-$CLIENT_CONF}
export JOB_MINUTE_SECONDS
mkdir -p "$JOBS_DIR"
failed=0

submit() {  # submit VAR SCRIPT
  local var=$1 script=$2 out id
  out=$(cd "$JOBS_DIR" && sbatch --parsable "$MIGRATION_HOME/jobs/$script" 2>&1) || {
    echo "sbatch $script failed: $out"
    return 1
  }
  id=${out%%;*}
  [[ $id =~ ^[0-9]+$ ]] || {
    echo "sbatch $script printed '$out', not a job id"
    return 1
  }
  state_set "$var" "$id"
  echo "$script is job $id"
}

check "submit test_short.sh (5 minutes of ${JOB_MINUTE_SECONDS}s)" submit SHORT_JOB test_short.sh || failed=1
check "submit test_long.sh (30 minutes of ${JOB_MINUTE_SECONDS}s)" submit LONG_JOB test_long.sh || failed=1
check "submit test_array.sh (5 tasks)" submit ARRAY_JOB test_array.sh || failed=1

short=$(state_get SHORT_JOB) long=$(state_get LONG_JOB) array=$(state_get ARRAY_JOB)
both_running() {
  wait_job_state "$SLURM_CONF" "$short" 60 RUNNING COMPLETED > /dev/null \
    && wait_job_state "$SLURM_CONF" "$long" 60 RUNNING \
    && echo "test_short ($short) and test_long ($long) run under slurmctld"
}
array_tasks() {
  local n
  n=$(squeue -h -r -t all -j "$array" -o '%i' 2> /dev/null | wc -l)
  echo "squeue -r lists $n tasks of array $array"
  ((n == 5))
}
if [[ -n $short && -n $long ]]; then
  check "test_short and test_long are running" both_running || failed=1
else
  fail "test_short and test_long are running" "not submitted" || failed=1
fi
if [[ -n $array ]]; then
  check "test_array has 5 tasks" array_tasks || failed=1
else
  fail "test_array has 5 tasks" "not submitted" || failed=1
fi
exit "$failed"
