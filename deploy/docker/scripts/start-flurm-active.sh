#!/usr/bin/env bash
# flurm as the cluster's controller (standalone), on SlurmctldPort: after the takeover, when
# flurm-controller restarts. Never while slurmctld runs: both would drive the same nodes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

render_cluster_conf
export SLURM_CONF=$CLUSTER_CONF
start_munged
wait_for_file "$FLURM_API_TOKEN_FILE"
wait_for_file "$JWT_KEY"
mkdir -p "$FLURM_STATE_DIR"
if port_open "$SLURMCTLD_ADDR" "$SLURMCTLD_PORT"; then
  die "something (slurmctld?) already answers on $SLURMCTLD_ADDR:$SLURMCTLD_PORT: not starting a second controller"
fi
log "starting flurm as the controller on port $SLURMCTLD_PORT, HTTP API $FLURM_HTTP_HOST:$FLURM_HTTP_PORT"
# shellcheck disable=SC2086  # FLURM_BIN may be "python -m flurm.cli"
exec $FLURM_BIN run -f "$CLUSTER_CONF" --listen "$FLURM_LISTEN" --state-dir "$FLURM_STATE_DIR" \
  --http-port "$FLURM_HTTP_PORT" --http-host "$FLURM_HTTP_HOST" --api-token-file "$FLURM_API_TOKEN_FILE" \
  --log-level "$FLURM_LOG_LEVEL"
