#!/usr/bin/env bash
# slurm-node: munged with the shared key, then slurmd (NodeName compute-node-1) in the foreground.
# Running jobs survive a restart of slurmd (slurmstepd is separate), but not of the container.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

child=""
stop() {
  if [[ -n $child ]] && pid_alive "$child"; then
    log "stopping slurmd (pid $child)"
    kill -TERM "$child" 2> /dev/null || true
    wait "$child" 2> /dev/null || true
  fi
  exit 0
}
trap stop TERM INT

render_cluster_conf
# slurmd and the slurmstepd it starts (they inherit this) use the cluster's file
export SLURM_CONF=$CLUSTER_CONF
start_munged
mkdir -p "$MIGRATION_ROOT/var/spool/slurmd/$NODE_NAME" "$RUN_DIR" "$LOG_DIR" "$JOBS_DIR"
chmod 1777 "$JOBS_DIR"
log "starting slurmd $NODE_NAME on $NODE_ADDR:$SLURMD_PORT (controller $SLURMCTLD_ADDR:$SLURMCTLD_PORT)"
slurmd -D -f "$CLUSTER_CONF" -N "$NODE_NAME" &
child=$!
rc=0
wait "$child" || rc=$?
log "slurmd exited with status $rc"
exit "$rc"
