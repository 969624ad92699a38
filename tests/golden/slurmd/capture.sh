#!/usr/bin/env bash
# Capture real slurmctld <-> slurmd traffic (SLURM 22.05.8, loopback) through two dumping proxies.
#
#   tests/golden/slurmd/capture.sh WORKDIR OUTDIR [none|linux]
#
# slurmd and the clients read WORKDIR/etc/slurm.conf (SlurmctldPort=7819, SlurmdPort=7818);
# slurmctld reads a copy (SlurmctldPort=7817, SlurmdPort=7820). The cluster is the repo's own
# (python -m harness.launcher); proxies (python -m harness.capture_proxy): 7819 -> 7817 records
# slurmd/slurmstepd/client -> slurmctld ("ctld-*"),
# 7820 -> 7818 records slurmctld -> slurmd ("slurmd-*"). The conf hash mismatch only logs a warning.
# Variant "linux" adds JobAcctGatherType=jobacct_gather/linux and PrologFlags=Alloc.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
DIR=$1 OUT=$2 VARIANT=${3:-none}
CTLD=7817 SLURMD=7818 CTLD_PROXY=7819 SLURMD_PROXY=7820
extra=""
if [[ $VARIANT == linux ]]; then
  extra=$'JobAcctGatherType=jobacct_gather/linux\nPrologFlags=Alloc'
fi
mkdir -p "$OUT"
LOCAL_SLURM_CONTROLLER=external LOCAL_SLURM_CTLD_PORT=$CTLD_PROXY LOCAL_SLURM_SLURMD_PORT=$SLURMD \
  LOCAL_SLURM_CPUS=2 LOCAL_SLURM_EXTRA_CONF="$extra" "$PY" -m harness.launcher start "$DIR"
DIR=$(cd "$DIR" && pwd -P)
sed -e "s/^SlurmctldPort=.*/SlurmctldPort=$CTLD/" -e "s/^SlurmdPort=.*/SlurmdPort=$SLURMD_PROXY/" \
  "$DIR/etc/slurm.conf" > "$DIR/etc/slurmctld.conf"
echo "SlurmdTimeout=30" >> "$DIR/etc/slurmctld.conf"
"$PY" -m harness.capture_proxy --idle 900 $CTLD_PROXY $CTLD "$OUT" ctld > "$OUT/proxy-ctld.log" 2>&1 &
echo $! > "$OUT/proxy-ctld.pid"
"$PY" -m harness.capture_proxy --idle 900 $SLURMD_PROXY $SLURMD "$OUT" slurmd > "$OUT/proxy-slurmd.log" 2>&1 &
echo $! > "$OUT/proxy-slurmd.pid"
sleep 0.5
slurmctld -f "$DIR/etc/slurmctld.conf"
export SLURM_CONF=$DIR/etc/slurm.conf
# clients run with a minimal environment (it is what 4005 carries to the node)
clean() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin SLURM_CONF="$SLURM_CONF" "$@"; }
step() { echo "=== $(date +%T) $*" | tee -a "$OUT/steps.log"; }
wait_idle() {
  local i
  for ((i = 0; i < 300; i++)); do
    if sinfo -h -N -o '%T' 2> /dev/null | grep -qx idle; then return 0; fi
    sleep 0.5
  done
  return 1
}
step "wait for node idle"; wait_idle
step "client: scontrol show node compute-node-1"; clean scontrol show node compute-node-1 > "$OUT/show_node.txt"
step "client: scontrol show partition"; clean scontrol show partition > "$OUT/show_part.txt"
step "client: scontrol show partition debug"; clean scontrol show partition debug > /dev/null
step "client: sinfo -n compute-node-1"; clean sinfo -n compute-node-1 > /dev/null
step "client: sinfo -o"; clean sinfo -o '%P %a %l %D %t %N %c %m %G %f' > /dev/null
mkdir -p "$DIR/jobs"; chmod 1777 "$DIR/jobs"
cd "$DIR/jobs"
step "job 1 (root, true)"; clean sbatch -o job1.out --wrap 'echo hello; true' 
sleep 4; wait_idle
step "job 2 (nobody, sleep 300, cancelled)"
j2=$(runuser -u nobody -- env -i PATH=/usr/bin:/bin SLURM_CONF="$SLURM_CONF" sbatch --parsable -o /tmp/h2-job2.out --chdir=/tmp --wrap 'sleep 300')
sleep 4; scancel "$j2"; sleep 8; wait_idle
if [[ $VARIANT == linux ]]; then
  step "srun -N1 true"; clean srun -N1 true; sleep 2
  step "job 4 (root, sleep 15) running across a slurmctld restart"
  clean sbatch -o job4.out --wrap 'sleep 15'; sleep 3
  step "restart slurmctld (it then sends 1001 REQUEST_NODE_REGISTRATION_STATUS; 1002 lists job 4)"
  pid=$(cat "$DIR/run/slurmctld.pid"); kill -TERM "$pid"
  while kill -0 "$pid" 2> /dev/null; do sleep 0.2; done
  slurmctld -f "$DIR/etc/slurmctld.conf"; sleep 20; wait_idle
else
  step "srun -N1 true"; clean srun -N1 true; sleep 2
  step "job 4 (root, -t 1, sleep 300: time limit)"
  clean sbatch -t 1 -o job4.out --wrap 'sleep 300'
  for ((i = 0; i < 240; i++)); do
    if [[ -z $(squeue -h -o %A) ]]; then break; fi
    sleep 1
  done
fi
step "wait for ping"; sleep 25
step "done"
kill "$(cat "$OUT/proxy-ctld.pid")" "$(cat "$OUT/proxy-slurmd.pid")"
"$PY" -m harness.launcher stop "$DIR"
