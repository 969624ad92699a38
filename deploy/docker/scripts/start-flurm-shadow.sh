#!/usr/bin/env bash
# flurm-controller: flurm in shadow of slurmctld, on its own port (FLURM_PORT), with its HTTP API.
# It imports everything slurmctld knows, keeps mirroring it, answers reads and forwards writes.
# If flurm's state says it already took this cluster over, it starts as the active controller instead
# (start-flurm-active.sh): shadowing a stopped slurmctld would be wrong.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

render_cluster_conf
export SLURM_CONF=$CLUSTER_CONF
start_munged
wait_for_file "$FLURM_API_TOKEN_FILE"
wait_for_file "$JWT_KEY"
mkdir -p "$FLURM_STATE_DIR"

if [[ -s $FLURM_STATE_DIR/flurm.sqlite ]] && [[ $(python3 - "$FLURM_STATE_DIR/flurm.sqlite" << 'PY'
import json, sqlite3, sys
con = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
row = con.execute("SELECT value FROM meta WHERE key = 'mode'").fetchone()
print(json.loads(row[0]) if row else "")
PY
) == standalone ]]; then
  log "flurm's state in $FLURM_STATE_DIR says it took this cluster over: starting it as the controller"
  exec "$(dirname "$0")/start-flurm-active.sh"
fi

log "waiting for slurmctld on $SLURMCTLD_ADDR:$SLURMCTLD_PORT"
wait_until 120 port_open "$SLURMCTLD_ADDR" "$SLURMCTLD_PORT" || die "slurmctld does not answer"
log "starting flurm in shadow: SLURM port $FLURM_PORT, HTTP API $FLURM_HTTP_HOST:$FLURM_HTTP_PORT"
# shellcheck disable=SC2086  # FLURM_BIN may be "python -m flurm.cli"
exec $FLURM_BIN run -f "$CLUSTER_CONF" --shadow --port "$FLURM_PORT" --listen "$FLURM_LISTEN" \
  --state-dir "$FLURM_STATE_DIR" \
  --http-port "$FLURM_HTTP_PORT" --http-host "$FLURM_HTTP_HOST" --api-token-file "$FLURM_API_TOKEN_FILE" \
  --log-level "$FLURM_LOG_LEVEL"
