"""SRUN_NODE_FAIL: the srun of a job that loses a node hears of it, under flurm as under slurmctld.

``srun -N2 sleep 100`` runs; compute-node-2's slurmd is stopped (SIGSTOP) and stops answering;
after SlurmdTimeout the node goes DOWN, srun prints "Node failure on compute-node-2" twice
(SRUN_NODE_FAIL to the allocation's owner and to the step's srun, the same process) and the job
ends NODE_FAIL.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator

import pytest
from parity import Action, Transcript, assert_same, cluster_pair, cmd, poll, run_both, settle, wait_state
from test_srun import background, finished, output_of

from harness.loopback import SlurmCluster

CONF = "KillWait=2\nMinJobAge=300\nSlurmdTimeout=6\nReturnToService=0"


def signal_slurmd(node: str, sig: int) -> Action:
    def act(c: SlurmCluster) -> None:
        pid = int((c.dir / "run" / f"slurmd-{node}.pid").read_text().split()[0])
        os.kill(pid, sig)

    return act


def started(*nodes: str) -> Action:
    """Until the step's task runs on each node (it leaves a file): its launch is over."""

    def act(c: SlurmCluster) -> None:
        poll(
            f"[{c.controller}] tasks started",
            lambda: all((c.jobs_dir / f"started-{n}").exists() for n in nodes),
        )

    return act


STEPS = [
    background("lost", "srun", "-N2", "sh", "-c", "'touch started-$SLURMD_NODENAME; exec sleep 100'"),  # 1
    started("compute-node-1", "compute-node-2"),
    signal_slurmd("compute-node-2", signal.SIGSTOP),
    wait_state(1, "NODE_FAIL", "FAILED", "COMPLETED", "CANCELLED", timeout=90),
    signal_slurmd("compute-node-2", signal.SIGCONT),
    finished("lost", timeout=60),
    settle(),
    cmd(*output_of("lost"), label="srun that lost a node"),
    cmd("squeue", "-h", "-t", "all", "-o", "%i %T %r", label="job states"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def _node_failures(t: Transcript) -> list[str]:
    text = t.text(["srun that lost a node"])
    return sorted(line for line in text.splitlines() if re.search(r"Node failure on|NODE FAILURE", line))


def test_srun_told_of_the_node_failure(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    # once as the allocation's owner, once as the step's srun
    failure = "srun: error: Node failure on compute-node-2"
    assert _node_failures(ref) == _node_failures(got), f"{_node_failures(ref)} != {_node_failures(got)}"
    assert _node_failures(got).count(failure) == 2
    assert_same(ref, got, ["job states"])
