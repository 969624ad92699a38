#!/bin/bash
#SBATCH --job-name=test_array
#SBATCH --output=test_array-%A_%a.out
#SBATCH --array=1-5
#SBATCH --time=00:15:00
#SBATCH --ntasks=1
# An array of 5 tasks of 2 minutes each. JOB_MINUTE_SECONDS (default 60) is how many seconds one of
# their minutes lasts.
minute=${JOB_MINUTE_SECONDS:-60}
echo "test_array: task ${SLURM_ARRAY_TASK_ID:-?} of job ${SLURM_ARRAY_JOB_ID:-?} on $(hostname) started at $(date +%s)"
sleep "$minute"
sleep "$minute"
echo "test_array: task ${SLURM_ARRAY_TASK_ID:-?} finished at $(date +%s)"
