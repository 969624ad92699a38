"""scontrol update NodeName=...: drain, resume, down, refusals, as slurmctld 22.05 does them.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs) side by side: a node is
drained with a reason (sinfo shows drain/drng, sinfo -R the reason, a job that needs both nodes waits),
resumed (the job runs), set down and resumed; an unknown node, an empty reason and a plain user are
refused with SLURM's texts. Reason times are normalised like every time stamp.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from parity import Action, Transcript, assert_same, cluster_pair, cmd, poll, run_both, settle, wait_state

from harness.loopback import SlurmCluster

CONF = "KillWait=2\nMinJobAge=300\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"


def node_state(name: str, *states: str, timeout: float = 30.0) -> Action:
    """Until ``sinfo`` shows the node in one of these states (its compact form, e.g. idle, drain, down*)."""

    def act(c: SlurmCluster) -> None:
        def done() -> bool:
            r = c.run("sinfo", "-h", "-N", "-n", name, "-o", "%t")
            return r.stdout.strip() in states

        poll(f"node {name} in {states}", done, timeout)

    return act


STEPS = [
    cmd("sbatch", "-J", "busy", "-w", "compute-node-2", "--wrap", "sleep 300"),  # 1
    wait_state(1, "RUNNING"),
    cmd(
        "scontrol",
        "update",
        "NodeName=compute-node-1",
        "State=DRAIN",
        "Reason=maint window",
        label="drain idle",
    ),
    cmd("scontrol", "update", "NodeName=compute-node-2", "State=DRAIN", "Reason=disk", label="drain busy"),
    cmd("sinfo", label="sinfo drained"),
    cmd("sinfo", "-N", "-o", "%N %t %E", label="sinfo -N drained"),
    cmd("sinfo", "-R", "-o", "%E|%N", label="sinfo -R"),
    cmd("scontrol", "show", "node", "compute-node-1", label="show drained node"),
    cmd("sbatch", "-J", "both", "-N", "2", "--wrap", "true"),  # 2
    settle(),
    cmd("squeue", "-o", "%i %t %r", label="queue while drained"),
    cmd("scontrol", "update", "NodeName=compute-node-[1-2]", "State=RESUME", label="resume"),
    node_state("compute-node-1", "idle", "mix", "alloc"),
    cmd("scancel", "1"),
    wait_state(2, "COMPLETED", timeout=60),
    settle(),
    cmd("sinfo", "-N", "-o", "%N %t %E", label="sinfo resumed"),
    cmd("squeue", "-t", "all", "-o", "%i %t %r", label="queue resumed"),
    cmd("scontrol", "update", "NodeName=compute-node-2", "State=DOWN", "Reason=broken", label="down"),
    cmd("sinfo", "-N", "-o", "%N %t %E", label="sinfo down"),
    cmd("scontrol", "update", "NodeName=compute-node-2", "State=RESUME", label="resume down node"),
    node_state("compute-node-2", "idle"),
    cmd("sinfo", "-N", "-o", "%N %t %E", label="sinfo after resume of down node"),
    cmd("scontrol", "update", "NodeName=nosuch", "State=DRAIN", "Reason=x", label="unknown node"),
    cmd("scontrol", "update", "NodeName=compute-node-1", "State=DRAIN", label="drain without reason"),
    cmd(
        "scontrol",
        "update",
        "NodeName=compute-node-1",
        "State=DRAIN",
        "Reason=x",
        user="nobody",
        label="user drains",
    ),
    cmd("scontrol", "update", "NodeName=compute-node-1", "State=RESUME", label="resume an idle node"),
    cmd("sinfo", "-N", "-o", "%N %t %E", label="sinfo at the end"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_drain_shows_like_slurmctld(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["drain idle", "drain busy", "sinfo drained", "sinfo -N drained", "sinfo -R"])
    assert "maint window" in got["sinfo -R"].stdout
    assert re.search(r"State=IDLE\+DRAIN .*", got["show drained node"].stdout)


def test_show_drained_node(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["show drained node"])
    assert "Reason=maint window [root@" in runs[1]["show drained node"].stdout


def test_jobs_wait_for_drained_nodes_and_run_after_resume(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["queue while drained", "resume", "sinfo resumed", "queue resumed"])


def test_down_and_resume(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["down", "sinfo down", "resume down node", "sinfo after resume of down node"])


def test_refusals(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(
        ref,
        got,
        ["unknown node", "drain without reason", "user drains", "resume an idle node", "sinfo at the end"],
    )
    assert "Invalid node name specified" in got["unknown node"].stderr
    assert got["user drains"].returncode != 0
