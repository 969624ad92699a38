#!/usr/bin/env bash
# Verify flurm's import, one object at a time (phase 4 of test-migration.sh):
#   * every job, node and partition in flurm's HTTP API has slurmctld's values (squeue --json,
#     sinfo --json and scontrol show partition from slurmctld, projected onto the API's fields);
#   * `scontrol show job|node|partition -o` through flurm's port prints what it prints through slurmctld's,
#     byte for byte (RunTime and LastSchedEval aside: no copy of slurmctld's state can follow them).
# Each pair is taken with an import (POST /api/import) between two equal views of slurmctld's.
# Objects on either side only are failures too. Exit status 0 when every check passed.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/checks.sh"
FLURM_PORT_CONF=$(flurm_port_conf)
failed=0
for kind in job node partition; do
  compare_objects "$kind" "flurm's HTTP API = slurmctld" view_api_source view_api_flurm || failed=1
done
for kind in job node partition; do
  compare_objects "$kind" "scontrol show $kind -o through flurm = through slurmctld" \
    view_scontrol_direct view_scontrol_flurm || failed=1
done
exit "$failed"
