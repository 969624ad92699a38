#!/usr/bin/env bash
# Switch the clients to flurm (phase 5 of test-migration.sh), the way docs/migration.md step 5 does it:
# `flurm switch --to flurm` rewrites a copy of the clients' slurm.conf (SWITCHED_CONF, default
# $TEST_DIR/client-switched/slurm.conf) with SlurmctldPort set to flurm's port. Reads are then answered
# by flurm; writes are forwarded to slurmctld until the takeover.
# Exit status 0 when the file points at flurm and differs from the original in that line only.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
SWITCHED_CONF=${SWITCHED_CONF:-$TEST_DIR/client-switched/slurm.conf}
mkdir -p "$(dirname "$SWITCHED_CONF")"
cp "$CLIENT_CONF" "$SWITCHED_CONF"
# shellcheck disable=SC2086  # FLURM_BIN may be "python -m flurm.cli"
$FLURM_BIN switch -f "$CLIENT_CONF" --port "$FLURM_PORT" --client-conf "$SWITCHED_CONF" --to flurm || exit 1
changed=$(diff "$CLIENT_CONF" "$SWITCHED_CONF" | grep '^[<>]')
expected=$(printf '< SlurmctldPort=%s\n> SlurmctldPort=%s' "$SLURMCTLD_PORT" "$FLURM_PORT")
if [[ $changed != "$expected" ]]; then
  echo "the switched slurm.conf differs from the clients' in more or other lines than SlurmctldPort:"
  echo "$changed"
  exit 1
fi
echo "clients using $SWITCHED_CONF now talk to flurm on port $FLURM_PORT"
