#!/usr/bin/env bash
# test-runner: munged with the shared key and the clients' slurm.conf; then it waits for
# `docker compose exec test-runner /opt/migration/scripts/test-migration.sh`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

render_client_conf
start_munged
mkdir -p "$JOBS_DIR" "$TEST_DIR"
log "test-runner ready: SLURM_CONF=$CLIENT_CONF; run scripts/test-migration.sh"
trap 'exit 0' TERM INT
sleep infinity &
wait $!
