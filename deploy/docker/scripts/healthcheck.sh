#!/usr/bin/env bash
# healthcheck.sh ROLE: the docker compose health checks (and the rehearsal's readiness checks).
# Each asks the real service: no pid or port guesswork.
#   slurm-controller  the controller on SlurmctldHost:SlurmctldPort answers `scontrol ping`
#                     (after the takeover that is flurm, in the same network namespace)
#   slurm-node        the controller sees the node registered and responding
#   flurm-controller  GET /health answers 200 (healthy)
#   test-runner       MUNGE credentials work and the clients reach the controller
set -uo pipefail
. "$(dirname "$0")/lib.sh"

role=${1:?usage: healthcheck.sh slurm-controller|slurm-node|flurm-controller|test-runner}
[[ -s $CLUSTER_CONF || $role == test-runner || $role == flurm-controller ]] || exit 1
case $role in
  slurm-controller)
    SLURM_CONF=$CLUSTER_CONF timeout 10 scontrol ping | grep -q "is UP"
    ;;
  slurm-node)
    # no '*' (not responding), not down, not unknown
    state=$(SLURM_CONF=$CLUSTER_CONF timeout 10 sinfo -h -N -n "$NODE_NAME" -o '%t' 2> /dev/null | head -n1)
    [[ $state =~ ^(idle|mix|alloc|comp)$ ]]
    ;;
  flurm-controller)
    [[ $(curl -s -o /dev/null -m 5 -w '%{http_code}' "$(flurm_url)/health") == 200 ]]
    ;;
  test-runner)
    [[ -s $CLIENT_CONF ]] || exit 1
    munge -S "$MUNGE_SOCKET" -n | unmunge -S "$MUNGE_SOCKET" > /dev/null \
      && SLURM_CONF=$CLIENT_CONF timeout 10 scontrol ping | grep -q "is UP"
    ;;
  *)
    echo "unknown role $role" >&2
    exit 2
    ;;
esac
