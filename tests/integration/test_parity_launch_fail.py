"""A batch launch slurmd cannot complete: slurmd's REQUEST_JOB_REQUEUE is answered as slurmctld 22.05.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs) side by side, with a
slurmd Prolog that fails. slurmd drains the node ("Prolog error") and asks the controller to
requeue the job held (JOB_REQUEUE_HOLD|JOB_LAUNCH_FAILED): it waits PENDING, Restarts=1, reason
"launch failed requeued held"; a ``--no-requeue`` job cannot be requeued, so slurmd cancels it.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from parity import Transcript, assert_same, cluster_pair, cmd, run_both, wait_state

from harness.loopback import SlurmCluster

CONF = "KillWait=2\nMinJobAge=300\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"


def reason_is(job: int, text: str) -> Callable[[SlurmCluster], None]:
    def act(c: SlurmCluster) -> None:
        deadline = time.monotonic() + 30
        while True:
            r = c.run("squeue", "-h", "-j", str(job), "-o", "%r")
            if r.stdout.strip() == text:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"[{c.controller}] job {job} reason {r.stdout.strip()!r}")
            time.sleep(0.1)

    return act


STEPS = [
    cmd("sbatch", "-J", "held", "-w", "compute-node-1", "--wrap", "true"),  # 1
    reason_is(1, "launch failed requeued held"),
    cmd("sbatch", "-J", "gone", "--no-requeue", "-w", "compute-node-2", "--wrap", "true"),  # 2
    wait_state(2, "CANCELLED"),
    cmd("squeue", "-t", "all", "-S", "i", "-o", "%i %j %t %r %Q", label="queue"),
    cmd("sh", "-c", "scontrol show job -o 1 | grep -o 'Restarts=[0-9]*'", label="restarts"),
    cmd("sinfo", "-N", "-o", "%N %t %E", label="nodes"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    tmp = Path(tempfile.mkdtemp(prefix="flurm-prolog-"))
    os.chmod(tmp, 0o755)
    prolog = tmp / "prolog"
    prolog.write_text("#!/bin/sh\nexit 1\n")
    prolog.chmod(0o755)
    try:
        with cluster_pair(nodes=2, cpus=2, extra_conf=f"{CONF}\nProlog={prolog}") as (ref, got):
            yield run_both(ref, got, STEPS)
    finally:
        prolog.unlink()
        tmp.rmdir()


def test_launch_failure_requeues_held(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got)
    assert "launch failed requeued held" in got["queue"].stdout
