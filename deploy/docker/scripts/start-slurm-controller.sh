#!/usr/bin/env bash
# slurm-controller: the MUNGE key and API token (first start), munged, then slurmctld in the foreground.
#
# When slurmctld exits after flurm's takeover (REQUEST_SHUTDOWN, exit status 0), this script stays: flurm
# runs in this container's network namespace (docker compose: network_mode service:slurm-controller) and
# now serves slurmctld's address and port, which must outlive slurmctld. SIGTERM ends it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

child=""
stop() {
  if [[ -n $child ]] && pid_alive "$child"; then
    log "stopping slurmctld (pid $child)"
    kill -TERM "$child" 2> /dev/null || true
    wait "$child" 2> /dev/null || true
  fi
  exit 0
}
trap stop TERM INT

create_secrets
render_cluster_conf
export SLURM_CONF=$CLUSTER_CONF
start_munged
mkdir -p "$MIGRATION_ROOT/var/spool/slurmctld" "$RUN_DIR" "$LOG_DIR"
chmod 700 "$MIGRATION_ROOT/var/spool/slurmctld"

if port_open "$SLURMCTLD_ADDR" "$SLURMCTLD_PORT"; then
  # flurm took over (or something else holds the port): starting slurmctld again would kill
  # every job the new controller started (docs/migration.md, "After")
  log "a controller already answers on $SLURMCTLD_ADDR:$SLURMCTLD_PORT: not starting slurmctld"
else
  log "starting slurmctld on $SLURMCTLD_ADDR:$SLURMCTLD_PORT (cluster $CLUSTER_NAME)"
  slurmctld -D -f "$CLUSTER_CONF" &
  child=$!
  rc=0
  wait "$child" || rc=$?
  child=""
  if ((rc != 0)); then
    log "slurmctld exited with status $rc"
    exit "$rc"
  fi
  log "slurmctld exited cleanly (the takeover stops it so); keeping this namespace for flurm"
fi
sleep infinity &
child=$!
wait "$child" || true
