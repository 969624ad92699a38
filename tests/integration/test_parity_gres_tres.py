"""GRES as TRES of nodes and partitions (AccountingStorageTRES=gres/gpu,gres/gpu:tesla), which slurmctld
22.05 only runs with a slurmdbd: the real slurmctld and flurm, each with a slurmdbd 22.05 on a MariaDB of
its own (harness/accounting.py), the same cluster (harness.gres.two_gpu_types: a tesla node, a k80 node).

slurmctld shows CfgTRES=cpu=4,mem=1000M,billing=4,gres/gpu=2,gres/gpu:tesla=2 on the tesla node, only
gres/gpu=2 on the k80 node (its type is no TRES), and the partition's TRES=...,gres/gpu=4,gres/gpu:tesla=2;
a job holding one tesla: AllocTRES=cpu=1,gres/gpu=1,gres/gpu:tesla=1.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from parity import ParityCluster, Step, Transcript, assert_same, cmd, run_both, wait_state

from harness import gres, launcher
from harness.accounting import Accounting, write_munge_key

TRES = "AccountingStorageTRES=gres/gpu,gres/gpu:tesla\n"
STEPS: list[Step] = [
    cmd("scontrol", "show", "node", label="nodes"),
    cmd("scontrol", "show", "partition", label="partitions"),
    cmd("sbatch", "--gres=gpu:1", "-w", "compute-node-1", "--wrap", "exec sleep 300"),  # 1
    wait_state(1, "RUNNING"),
    cmd("scontrol", "show", "node", "compute-node-1", label="busy node"),
    cmd("scancel", "1"),
]


@contextlib.contextmanager
def recording(controller: str) -> Iterator[ParityCluster]:
    d = Path(tempfile.mkdtemp(prefix="flurm-grestres-"))
    d.chmod(0o755)
    acct = Accounting(d / "acct", write_munge_key(launcher.Layout(d / "cluster").munge_key))
    c = ParityCluster(
        d / "cluster", controller, extra_conf=acct.slurm_conf_lines() + TRES, **gres.two_gpu_types()
    )
    try:
        acct.start()  # slurmctld refuses to start on a database it cannot reach
        c.start()
        yield c
    finally:
        c.stop()
        acct.stop()


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with recording("slurmctld") as ref, recording("flurm") as got:
        yield run_both(ref, got, STEPS)


def test_gres_tres_of_nodes_and_partitions(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert "CfgTRES=cpu=4,mem=1000M,billing=4,gres/gpu=2,gres/gpu:tesla=2" in ref["nodes"].stdout
    assert "gres/gpu=4,gres/gpu:tesla=2" in ref["partitions"].stdout
    assert_same(ref, got, ["nodes", "partitions"])


def test_gres_tres_a_job_holds(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert "AllocTRES=cpu=1,gres/gpu=1,gres/gpu:tesla=1" in ref["busy node"].stdout
    assert_same(ref, got, ["busy node"])
