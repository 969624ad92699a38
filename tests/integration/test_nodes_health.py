"""Node health under flurm with real slurmd: UNKNOWN until registered, DOWN "Not responding" when
slurmd dies and back when it returns, and a slurmd that hangs (SIGSTOP) delays nobody else.

The expected values are what slurmctld 22.05 shows in the same situations (checked by hand on
the same loopback cluster, SlurmdTimeout=6; slurmctld needs ~30 s there because it retries the
connection to a dead slurmd for MessageTimeout before it counts a ping as failed):

* a node whose slurmd never answered: ``unk*``, State=UNKNOWN+NOT_RESPONDING; ``idle`` once it registers;
* slurmd killed: ``mix*``/``idle*`` after a failed ping, then ``down*`` with Reason=Not responding;
  a running batch job is requeued (PENDING, Restarts=1, Reason=BeginTime), a ``--no-requeue`` one ends
  NODE_FAIL Reason=NodeDown; the restarted slurmd registers, the node is ``idle`` at once
  (ReturnToService=2) and the job steps slurmd still had are killed.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
from nodes_util import (
    job_fields,
    kill_slurmd,
    node_fields,
    pids_running,
    sinfo_states,
    slurmd_pid,
    start_slurmd,
    wait_for,
)

from harness.loopback import SlurmCluster, cluster

SLURMD_TIMEOUT = 6


@pytest.fixture(scope="module")
def c() -> Iterator[SlurmCluster]:
    conf = f"KillWait=2\nMinJobAge=300\nSlurmdTimeout={SLURMD_TIMEOUT}"
    with cluster("flurm", nodes=2, cpus=4, extra_conf=conf) as c:
        yield c


def _state_of(c: SlurmCluster, node: str, *states: str) -> str | None:
    s = sinfo_states(c).get(node)
    return s if s in states else None


def test_unknown_until_registered(c: SlurmCluster) -> None:
    assert c.stop_flurm(signal.SIGTERM) == 0
    kill_slurmd(c, "compute-node-2", signal.SIGKILL)
    c.start_flurm(wait=False)
    try:
        wait_for("node 1 idle", lambda: _state_of(c, "compute-node-1", "idle"), 20)
        wait_for("node 2 unk*", lambda: _state_of(c, "compute-node-2", "unk*"), 10)
        unknown = node_fields(c, "compute-node-2")
        assert (unknown["State"], unknown["CPULoad"], unknown["BootTime"]) == (
            "UNKNOWN+NOT_RESPONDING",
            "N/A",
            "None",
        )
        job = c.sbatch("-w", "compute-node-2", "--wrap", "true")
        time.sleep(1.5)
        assert c.job_state(job) == "PENDING"
    finally:
        start_slurmd(c, "compute-node-2")
    wait_for("node 2 idle", lambda: _state_of(c, "compute-node-2", "idle", "mix"), 5)
    c.wait_state(job, ["COMPLETED"], timeout=15)
    assert node_fields(c, "compute-node-2")["State"] in ("IDLE", "MIXED")


def test_dead_slurmd_goes_down_and_returns(c: SlurmCluster) -> None:
    requeue = c.sbatch("-w", "compute-node-2", "--wrap", "sleep 2101")
    norequeue = c.sbatch("-w", "compute-node-2", "--no-requeue", "--wrap", "sleep 2102")
    bystander = c.sbatch("-w", "compute-node-1", "--wrap", "sleep 2103")
    for job in (requeue, norequeue, bystander):
        c.wait_state(job, ["RUNNING"])
    wait_for(
        "the job processes",
        lambda: pids_running(["sleep", "2101"], c.conf) and pids_running(["sleep", "2102"], c.conf),
        10,
    )
    killed = time.monotonic()
    kill_slurmd(c, "compute-node-2", signal.SIGKILL)
    try:
        wait_for(
            "node 2 not responding", lambda: _state_of(c, "compute-node-2", "mix*", "alloc*", "down*"), 10
        )
        wait_for("node 2 down*", lambda: _state_of(c, "compute-node-2", "down*"), SLURMD_TIMEOUT + 5)
        down_after = time.monotonic() - killed
        assert SLURMD_TIMEOUT - 1 <= down_after <= SLURMD_TIMEOUT + 4, down_after
        node = node_fields(c, "compute-node-2")
        assert node["State"] == "DOWN+NOT_RESPONDING"
        assert node["Reason"].startswith("Not responding [")
        assert "Not responding" in c.run("sinfo", "-R", "-h").stdout
        r = job_fields(c, requeue)
        assert (r["JobState"], r["Reason"], r["Restarts"], r["NodeList"]) == ("PENDING", "BeginTime", "1", "")
        n = job_fields(c, norequeue)
        assert (n["JobState"], n["Reason"]) == ("NODE_FAIL", "NodeDown")
        assert c.job_state(bystander) == "RUNNING"
        assert sinfo_states(c)["compute-node-1"] == "mix"
    finally:
        start_slurmd(c, "compute-node-2")
    wait_for("node 2 back", lambda: _state_of(c, "compute-node-2", "idle"), 5)
    assert node_fields(c, "compute-node-2").get("Reason") is None
    # the steps slurmd kept of a requeued and of a failed job are killed once it registers
    wait_for("the old job processes gone", lambda: not pids_running(["sleep", "2101"], c.conf), 15)
    wait_for("the old job processes gone", lambda: not pids_running(["sleep", "2102"], c.conf), 15)
    assert c.job_state(requeue) == "PENDING"  # eligible again only after the credential lifetime
    c.run("scancel", str(requeue), str(bystander)).check()
    c.wait_state(bystander, ["CANCELLED"])


def test_stopped_slurmd_delays_nobody(c: SlurmCluster) -> None:
    wait_for("both nodes idle", lambda: all(s == "idle" for s in sinfo_states(c).values()), 20)
    pid = slurmd_pid(c, "compute-node-2")
    os.kill(pid, signal.SIGSTOP)
    try:
        stuck = c.sbatch("-w", "compute-node-2", "--wrap", "true")  # its launch waits for the slurmd
        time.sleep(0.3)
        for i in range(3):
            t0 = time.monotonic()
            job = c.sbatch("-w", "compute-node-1", "--wrap", f"sleep {2200 + i}")
            c.wait_state(job, ["RUNNING"], timeout=5)
            assert time.monotonic() - t0 < 2.0
        for _ in range(5):
            t0 = time.monotonic()
            c.run("squeue").check()
            c.run("scontrol", "ping").check()
            assert time.monotonic() - t0 < 1.0
            time.sleep(0.5)
        assert sinfo_states(c)["compute-node-1"] == "mix"
    finally:
        os.kill(pid, signal.SIGCONT)
    # the hung slurmd got its requests once it runs again: the node is back and the job ran
    wait_for("node 2 responding", lambda: not sinfo_states(c)["compute-node-2"].endswith("*"), 15)
    state = c.wait_state(stuck, ["COMPLETED", "PENDING"], timeout=20)
    assert state == "COMPLETED" or job_fields(c, stuck)["Restarts"] == "1"
    c.run("scancel", "-w", "compute-node-1").check()
