#!/bin/bash
#SBATCH --job-name=test_long
#SBATCH --output=test_long-%j.out
#SBATCH --time=01:00:00
#SBATCH --ntasks=1
# A 30-minute job: it runs across the takeover and must finish under flurm with its exit status.
# JOB_MINUTE_SECONDS (default 60) is how many seconds one of its minutes lasts.
minute=${JOB_MINUTE_SECONDS:-60}
echo "test_long: job ${SLURM_JOB_ID:-?} on $(hostname) started at $(date +%s)"
for i in $(seq 1 30); do
  sleep "$minute"
  echo "test_long: minute $i of 30"
done
echo "test_long: finished at $(date +%s)"
