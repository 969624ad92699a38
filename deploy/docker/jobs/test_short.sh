#!/bin/bash
#SBATCH --job-name=test_short
#SBATCH --output=test_short-%j.out
#SBATCH --time=00:15:00
#SBATCH --ntasks=1
# A 5-minute job. JOB_MINUTE_SECONDS (default 60) is how many seconds one of its minutes lasts: a
# rehearsal sets a few seconds. sbatch passes the submitter's environment, so it reaches the job.
minute=${JOB_MINUTE_SECONDS:-60}
echo "test_short: job ${SLURM_JOB_ID:-?} on $(hostname) started at $(date +%s)"
for i in 1 2 3 4 5; do
  sleep "$minute"
  echo "test_short: minute $i of 5"
done
echo "test_short: finished at $(date +%s)"
