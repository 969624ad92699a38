#!/usr/bin/env bash
# Ask flurm to import everything from slurmctld now: POST /api/import with the bearer token.
# Prints the counts flurm returns; exit status 0 on HTTP 200.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

http_split "$(http POST /api/import)"
echo "POST /api/import -> HTTP $HTTP_STATUS: $HTTP_BODY"
[[ $HTTP_STATUS == 200 ]] || exit 1
jq -e '.jobs > 0 and .nodes > 0 and .partitions > 0' <<< "$HTTP_BODY" > /dev/null || {
  echo "expected jobs, nodes and partitions in the import"
  exit 1
}
