"""scontrol suspend and resume: flurm answers and acts as slurmctld 22.05 does.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs) side by side. Two batch
jobs fill the nodes; a user may not suspend; an operator suspends one (its ``sleep`` is stopped on
the node, it shows SUSPENDED with priority 0, and a job waiting for its CPUs starts on them),
suspending it again holds it, resuming a running job or a missing one is refused (slurmctld does
not answer for a missing job at all; flurm says the job id is invalid); resumed, its
``sleep`` runs again and it is RUNNING with a new priority, beside the job that took its CPUs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from parity import Transcript, assert_same, cluster_pair, cmd, run_both, wait_state

from harness.loopback import SlurmCluster

CONF = "KillWait=2\nMinJobAge=300\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"


def _sleep_states(c: SlurmCluster, job_id: int) -> list[str]:
    """The /proc states of the cluster's job's ``sleep`` processes (found by their environment)."""
    marks = {f"SLURM_JOB_ID={job_id}".encode(), f"SLURM_CONF={c.conf}".encode()}
    states = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "sleep":
                continue
            if not marks <= set((entry / "environ").read_bytes().split(b"\0")):
                continue
            states.append((entry / "stat").read_text().rsplit(")", 1)[1].split()[0])
        except OSError:
            continue
    return states


def sleep_state(job_id: int, wanted: str) -> Callable[[SlurmCluster], None]:
    """Until the job's sleep is in /proc state ``wanted`` (T: stopped, S: sleeping)."""

    def act(c: SlurmCluster) -> None:
        deadline = time.monotonic() + 30
        while True:
            states = _sleep_states(c, job_id)
            if states and all(s == wanted for s in states):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"[{c.controller}] job {job_id} sleep states {states}, not {wanted}")
            time.sleep(0.1)

    return act


STEPS = [
    cmd("sbatch", "-J", "paused", "-t", "10", "-n2", "-w", "compute-node-1", "--wrap", "exec sleep 300"),  # 1
    cmd("sbatch", "-J", "other", "-n2", "-w", "compute-node-2", "--wrap", "exec sleep 300"),  # 2
    wait_state(1, "RUNNING"),
    wait_state(2, "RUNNING"),
    cmd("sbatch", "-J", "waiting", "-n2", "-w", "compute-node-1", "--wrap", "exec sleep 300"),  # 3
    sleep_state(1, "S"),
    cmd("scontrol", "suspend", "1", user="nobody", label="suspend as a user"),
    cmd("scontrol", "suspend", "1", label="suspend"),
    sleep_state(1, "T"),
    # the suspended job's CPUs (not its memory) are free: the waiting job starts on them
    wait_state(3, "RUNNING"),
    cmd("squeue", "-S", "i", "-o", "%i %j %t %Q", label="queue while suspended"),
    cmd("sinfo", "-N", "-o", "%N %t %C", label="nodes while suspended"),
    cmd("scontrol", "suspend", "1", label="suspend again"),
    cmd("scontrol", "resume", "2", label="resume a running job"),
    cmd("scontrol", "resume", "999", label="resume a missing job"),
    cmd("scontrol", "suspend", "999", label="suspend a missing job"),
    cmd("scontrol", "resume", "1", user="nobody", label="resume as a user"),
    cmd("scontrol", "resume", "1", label="resume"),
    sleep_state(1, "S"),
    cmd("squeue", "-S", "i", "-o", "%i %j %t %Q", label="queue after resume"),
    cmd("sinfo", "-N", "-o", "%N %t %C", label="nodes after resume"),
    cmd("scancel", "1", "3"),
    wait_state(1, "CANCELLED"),
    wait_state(3, "CANCELLED"),
    cmd("sinfo", "-N", "-o", "%N %t %C", label="nodes after cancel"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


MISSING = ("resume a missing job", "suspend a missing job")


def test_suspend_and_resume(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, [k for k in ref.labels() if k not in MISSING])
    assert "1 paused S 0" in got["queue while suspended"].stdout


def test_a_missing_job_is_answered(runs: tuple[Transcript, Transcript]) -> None:
    """slurmctld sends no reply for a job it does not know (scontrol: "Unexpected message
    received"); flurm answers every request, here that the job id is invalid."""
    ref, got = runs
    for label in MISSING:
        assert "Unexpected message received" in ref[label].stderr
        assert got[label].returncode == 1
        assert got[label].stderr == "Invalid job id specified for job 999\n"
