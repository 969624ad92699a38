"""GPUs reach the job: the unmodified slurmd sets the GPU environment under flurm as under slurmctld 22.05.

Two nodes with fake GPUs of different types (compute-node-1 tesla x2 shared as 4 shards, compute-node-2
k80 x2; gres.conf File= device nodes the harness creates). slurmstepd sets CUDA_VISIBLE_DEVICES,
GPU_DEVICE_ORDINAL, SLURM_JOB_GPUS and SLURM_GPUS_ON_NODE from the credential's job GRES records,
SLURM_STEP_GPUS and the task's devices from the step's; the prolog and epilog get theirs from
REQUEST_LAUNCH_PROLOG and the terminate message. What is compared:

* a batch job holding both GPUs of node 1: its environment, then its steps: ``srun --gres=gpu:1`` (one of
  the two GPUs), ``srun`` naming no GRES (the job's request: both), ``srun --gres=none`` (none, only
  SLURM_JOB_GPUS stays), ``srun --gres=gpu:3`` (refused: "Step requested gres_per_node=gpu:3 is more than
  the job's gres_per_node=gpu:2", Invalid generic resource (gres) specification);
* a job of one GPU on each node (a tesla and a k80 record): the batch environment and each task's;
* a running GPU step as ``scontrol show step`` shows it (TresPerNode, CpusPerTres, MemPerTres, TresBind,
  TresFreq);
* steps of one job holding its GPUs at once or waiting for them, ``--gpus``, ``--gpus-per-task``, typed
  requests, ``--overlap``; a job of one GPU per task (each task of its step sees its own); a job of shards;
* the prolog's and epilog's GPU variables on every node of every job (PrologFlags=Alloc).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
from parity import Step, Transcript, assert_same, cluster_pair, cmd, run_both, settle, wait_state, write_file
from test_srun import running_steps

from harness import gres

# (SLURM_GPUS*, SLURM_TRES_*: what sbatch and srun put in the job's environment from --gpus* options)
GPU_VARS = "CUDA_VISIBLE_DEVICES|GPU_DEVICE_ORDINAL|SLURM_JOB_GPUS|SLURM_STEP_GPUS|SLURM_GPUS[A-Z_]*"
GPU_VARS += "|SLURM_TRES_[A-Z_]*|SLURM_SHARDS_ON_NODE"
GPU_ENV = f"env | grep -E '^({GPU_VARS})=' | sort"

JOB_SCRIPT = f"""#!/bin/sh
{GPU_ENV}
echo --- one of two
srun -n1 --gres=gpu:1 sh -c "{GPU_ENV}"
echo --- as the job
srun -n1 sh -c "{GPU_ENV}"
echo --- none
srun -n1 --gres=none sh -c "{GPU_ENV}"
echo --- three
srun -n1 --gres=gpu:3 true; echo rc=$?
"""

# steps holding GPUs at once, a step waiting for its job's GPUs, --gpus, --gpus-per-task, a typed request
# (22.05: refused with its reason when the job's request is untyped; 24.11: taken from the node's type),
# --overlap
STEPS_SCRIPT = """#!/bin/sh
# A (and then C) holds a GPU until told to end; B (and then D) asks for what A (C) holds meanwhile, waits
# (srun: "step creation temporarily disabled") and runs once A (C) ended
srun -n1 --gres=gpu:1 ./hold.sh A &
until [ -f A.up ]; do sleep 0.2; done
srun -n1 --gres=gpu:1 sh -c 'echo B $CUDA_VISIBLE_DEVICES $SLURM_STEP_GPUS' &
sleep 4; touch A.go; wait
srun -n1 --gres=gpu:1 ./hold.sh C &
until [ -f C.up ]; do sleep 0.2; done
srun -n1 --gres=gpu:2 sh -c 'echo D $CUDA_VISIBLE_DEVICES $SLURM_STEP_GPUS' &
sleep 4; touch C.go; wait
srun -n1 --gpus=1 sh -c 'echo E $CUDA_VISIBLE_DEVICES $SLURM_STEP_GPUS'
srun -n1 --gpus-per-task=1 sh -c 'echo F $CUDA_VISIBLE_DEVICES $SLURM_STEP_GPUS'
srun -n1 --gres=gpu:tesla:1 sh -c 'echo G $CUDA_VISIBLE_DEVICES $SLURM_STEP_GPUS'
srun -n1 --gres=gpu:k80:1 true; echo H rc=$?
srun -n1 --gres=gpu:1 --overlap sh -c 'echo I $CUDA_VISIBLE_DEVICES'
"""

HOLD_SCRIPT = """#!/bin/sh
echo $1 $CUDA_VISIBLE_DEVICES $SLURM_STEP_GPUS
touch $1.up
until [ -f $1.go ]; do sleep 0.2; done
"""

# slurmd gives the prolog and epilog SLURM_CONF (DIR/etc/slurm.conf): they write into DIR/jobs
PREP_TEXT = f"""#!/bin/sh
{GPU_ENV} > "$(dirname "$SLURM_CONF")/../jobs/$1-$SLURM_JOB_ID-$SLURMD_NODENAME"
"""

STEPS: list[Step] = [
    write_file("gpus.sh", JOB_SCRIPT, 0o755),
    write_file("gpu-env.sh", f"#!/bin/sh\n{GPU_ENV}\n", 0o755),
    cmd("sbatch", "-o", "j1.out", "--gres=gpu:2", "-w", "compute-node-1", "gpus.sh"),  # 1
    cmd(
        "sbatch",
        "-o",
        "j2.out",
        "-N2",
        "--gres=gpu:1",
        "--wrap",
        "./gpu-env.sh; srun -l ./gpu-env.sh | sort",
    ),  # 2
    wait_state(1, "COMPLETED", "FAILED"),
    wait_state(2, "COMPLETED", "FAILED"),
    settle(),
    # (24.11's srun says "Step created for StepId=1.1" when the step waited for the end of the one before
    # it to reach the controller: slurmctld told it to; flurm waits a moment for it, telling srun nothing)
    cmd(
        "sh",
        "-c",
        "grep -v '^srun: Step created for' j1.out",
        label="a job with both GPUs of a node and its steps",
    ),
    cmd("cat", "j2.out", label="a job with a GPU of each type"),
    cmd(
        "sbatch",
        "-w",
        "compute-node-2",
        "--gres=gpu:k80:2",
        "--wrap",
        "srun --gres=gpu:k80:1 --cpus-per-gpu=1 --mem-per-gpu=10 --gpu-bind=closest --gpu-freq=low sleep 5",
    ),  # 3
    wait_state(3, "RUNNING"),
    running_steps(3, 1),
    # (srun's pid differs from run to run)
    cmd(
        "sh",
        "-c",
        "scontrol show step 3.0 | sed 's/SrunHost:Pid=\\([^:]*\\):[0-9]*/SrunHost:Pid=\\1:<PID>/'",
        label="a running GPU step",
    ),
    wait_state(3, "COMPLETED", "FAILED"),
    write_file("steps.sh", STEPS_SCRIPT, 0o755),
    write_file("hold.sh", HOLD_SCRIPT, 0o755),
    cmd("sbatch", "-o", "j4.out", "-n3", "--gres=gpu:2", "-w", "compute-node-1", "steps.sh"),  # 4
    wait_state(4, "COMPLETED", "FAILED", timeout=90),
    # one GPU per task: each task of a step sees its own (tres_bind per_task)
    cmd(
        "sbatch",
        "-o",
        "j5.out",
        "-n2",
        "--gpus-per-task=1",
        "-w",
        "compute-node-1",
        "--wrap",
        "./gpu-env.sh; srun -l ./gpu-env.sh | sort",
    ),  # 5
    wait_state(5, "COMPLETED", "FAILED"),
    # shards of node 1's GPUs: the job's two, a step's one, a step's default (the job's)
    cmd(
        "sbatch",
        "-o",
        "j6.out",
        "--gres=shard:2",
        "-w",
        "compute-node-1",
        "--wrap",
        "./gpu-env.sh; echo ---; srun --gres=shard:1 ./gpu-env.sh; echo ---; srun ./gpu-env.sh",
    ),  # 6
    wait_state(6, "COMPLETED", "FAILED"),
    settle(),
    cmd("sh", "-c", "grep -v '^srun: Step created for StepId' j4.out", label="steps sharing the job's GPUs"),
    cmd("cat", "j5.out", label="a GPU per task"),
    cmd("sh", "-c", "grep -v '^srun: Step created for StepId' j6.out", label="shards"),
    cmd("sh", "-c", 'for f in prolog-* epilog-*; do echo "== $f"; cat "$f"; done', label="prolog and epilog"),
    cmd("squeue", "-h", "-t", "all", "-S", "i", "-o", "%i %T %r", label="job states"),
]


@pytest.fixture(scope="module")
def prep_scripts() -> Iterator[tuple[str, str]]:
    paths = []
    for what in ("prolog", "epilog"):
        fd, path = tempfile.mkstemp(prefix=f"flurm-{what}-", suffix=".sh")
        with os.fdopen(fd, "w") as f:
            f.write(PREP_TEXT.replace("$1", what))
        os.chmod(path, 0o755)
        paths.append(path)
    yield paths[0], paths[1]
    for path in paths:
        os.unlink(path)


@pytest.fixture(scope="module")
def runs(prep_scripts: tuple[str, str]) -> Iterator[tuple[Transcript, Transcript]]:
    prolog, epilog = prep_scripts
    conf = f"KillWait=2\nMinJobAge=300\nPrologFlags=Alloc\nProlog={prolog}\nEpilog={epilog}"
    with cluster_pair(**gres.with_shard(), extra_conf=conf) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_batch_and_step_gpu_environment(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["a job with both GPUs of a node and its steps", "a job with a GPU of each type"])
    assert "1: SLURM_STEP_GPUS=0\n" in got["a job with a GPU of each type"].stdout
    text = got["a job with both GPUs of a node and its steps"].stdout
    assert "CUDA_VISIBLE_DEVICES=0,1\n" in text and "SLURM_STEP_GPUS=0\n" in text, text


def test_steps_sharing_the_jobs_gpus(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["steps sharing the job's GPUs"])
    assert "D 0,1 0,1\n" in got["steps sharing the job's GPUs"].stdout
    assert_same(ref, got, ["a GPU per task"])
    assert "1: CUDA_VISIBLE_DEVICES=1\n" in got["a GPU per task"].stdout
    assert_same(ref, got, ["shards"])
    assert "SLURM_SHARDS_ON_NODE=1\n" in got["shards"].stdout


def test_running_gpu_step(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["a running GPU step", "job states"])


def test_prolog_and_epilog_gpu_environment(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["prolog and epilog"])
    assert "SLURM_JOB_GPUS=0,1" in got["prolog and epilog"].stdout
