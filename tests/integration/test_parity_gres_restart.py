"""A node's GPUs across a restart of the controller: the device a running job holds stays its own.

The same steps on the real slurmctld 22.05 (stopped with SIGTERM, it saves its state, and started again)
and on flurm (killed with SIGKILL and started again: the job's devices come back from its store and the
slurmd's registration rebuilds the node's devices around them), cluster harness.gres.two_gpu_types:

1. job 1 --gres=gpu:1 on compute-node-1 gets tesla index 0 (CUDA_VISIBLE_DEVICES=0);
2. the controller restarts; the slurmds register again;
3. GresUsed still shows index 0 held; job 2 --gres=gpu:1 on the same node gets index 1, job 3 waits
   with Resources; the jobs' CUDA_VISIBLE_DEVICES say 0 and 1.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
from parity import Action, Step, Transcript, assert_same, cluster_pair, cmd, run_both, settle, wait_state

from harness import gres
from harness.loopback import SlurmCluster

SINFO = ("sinfo", "-N", "-O", "nodelist,gres:30,gresused:40,statelong")
GPU_JOB = ("sbatch", "-o", "out.%j", "--gres=gpu:1", "-w", "compute-node-1", "--wrap")
PRINT_AND_WAIT = "env | grep ^CUDA_VISIBLE_DEVICES; exec sleep 300"


def restart(c: SlurmCluster) -> None:
    if c.controller == "flurm":
        c.stop_flurm(signal.SIGKILL)
        c.start_flurm()
    else:
        c.stop_slurmctld()
        c.start_daemons()
    c.wait_ready(60)


def printed(job: int) -> Action:
    """Until the job's output file holds what it printed."""

    def act(c: SlurmCluster) -> None:
        out = c.jobs_dir / f"out.{job}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (out.exists() and out.stat().st_size):
            time.sleep(0.1)

    return act


STEPS: list[Step] = [
    cmd(*GPU_JOB, PRINT_AND_WAIT),  # 1
    wait_state(1, "RUNNING"),
    cmd(*SINFO, label="before"),
    restart,
    cmd(*SINFO, label="after restart"),
    cmd(*GPU_JOB, PRINT_AND_WAIT),  # 2
    wait_state(2, "RUNNING"),
    cmd(*GPU_JOB, "true"),  # 3
    settle(),
    cmd("squeue", "-S", "i", "-o", "%i %t %r %b", label="queue"),
    cmd(*SINFO, label="both held"),
    printed(1),
    printed(2),
    cmd("cat", "out.1", "out.2", label="devices"),
    cmd("scancel", "1", "2", "3"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(**gres.two_gpu_types()) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_devices_survive_a_restart(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert "gpu:tesla:1(IDX:0)" in ref["after restart"].stdout
    assert ref["devices"].stdout == "CUDA_VISIBLE_DEVICES=0\nCUDA_VISIBLE_DEVICES=1\n"
    assert_same(ref, got, ["before", "after restart", "queue", "both held", "devices"])
