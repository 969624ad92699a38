"""scontrol suspend/resume of an salloc's job: salloc hears of it (SRUN_REQUEST_SUSPEND 7008), under
flurm as under slurmctld 22.05.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs) side by side: ``salloc
-v`` holds an allocation; an operator suspends it, resumes it, and resumes it again (refused, the
job is not suspended: salloc is told all the same, as slurmctld's _job_suspend tells it first).
salloc's messages are compared.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import pytest
from parity import Transcript, assert_same, cluster_pair, cmd, poll, run_both, wait_state

from harness.loopback import SlurmCluster

CONF = "KillWait=2\nMinJobAge=300\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"
_SALLOC: dict[str, subprocess.Popen[bytes]] = {}


def start_salloc(c: SlurmCluster) -> None:
    """salloc -v in the background, its messages in salloc.err; it runs until stop_salloc."""
    err = (c.jobs_dir / "salloc.err").open("w")
    _SALLOC[c.controller] = subprocess.Popen(
        ["salloc", "-v", "-J", "inter", "sh", "-c", "while [ ! -e salloc.stop ]; do sleep 0.1; done"],
        env=c.env,
        cwd=c.jobs_dir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=err,
    )


def stop_salloc(c: SlurmCluster) -> None:
    (c.jobs_dir / "salloc.stop").touch()
    _SALLOC.pop(c.controller).wait(timeout=30)


def said(text: str, count: int) -> Callable[[SlurmCluster], None]:
    """Until salloc printed ``text`` ``count`` times (it is told asynchronously)."""

    def act(c: SlurmCluster) -> None:
        path = c.jobs_dir / "salloc.err"
        poll(f"{count} x {text!r}", lambda: path.read_text(errors="replace").count(text) >= count)

    return act


STEPS = [
    start_salloc,
    wait_state(1, "RUNNING"),
    cmd("scontrol", "suspend", "1", label="suspend"),
    said("job has been suspended", 1),
    cmd("scontrol", "resume", "1", label="resume"),
    said("job has been resumed", 1),
    cmd("scontrol", "resume", "1", label="resume a running job"),
    said("job has been resumed", 2),
    stop_salloc,
    cmd("grep", "job has been", "salloc.err", label="salloc's messages"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_salloc_told_of_suspend_and_resume(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got)
    assert got["salloc's messages"].stdout.count("salloc: job has been resumed") == 2
