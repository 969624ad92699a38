"""A node with two GPU types (Gres=gpu:tesla:1,gpu:k80:1): slurmctld shows an untyped request's GPUs with a
record per type of the node, the type the job did not get with count 0 and no device
(``JOB_GRES=gpu:tesla:1,gpu:k80:0``, ``GRES=gpu:tesla:1(IDX:0),gpu:k80:0(IDX:)``); flurm the same, in
``scontrol -d show job`` and in the decoded records (gres_used, gres_detail_str).

One cluster pair: compute-node-1 with one tesla and one k80, compute-node-2 with two teslas.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parity import Records, Step, Transcript, assert_same, cluster_pair, cmd, records_same, run_both, settle
from parity import wait_state as wait

from harness import gres
from harness.launcher import NodeGres

CONF = "SchedulerParameters=batch_sched_delay=0,bf_interval=300"
MIXED = NodeGres(
    "gpu:tesla:1,gpu:k80:1",
    ("Name=gpu Type=tesla File={dev}/nvidia0 Cores=0-1", "Name=gpu Type=k80 File={dev}/nvidia1 Cores=2-3"),
)
TOPOLOGY = {
    "nodes": 2,
    "cpus": 4,
    "node_shape": gres.SHAPE,
    "gres": (MIXED, NodeGres("gpu:tesla:2", gres.gpu_lines("tesla"))),
}

STEPS: list[Step] = [
    cmd("sbatch", "--gres=gpu:1", "-w", "compute-node-1", "--wrap", "exec sleep 300"),  # 1: the tesla
    wait(1, "RUNNING"),
    cmd("sbatch", "--gres=gpu:1", "-w", "compute-node-1", "--wrap", "exec sleep 300"),  # 2: the k80
    wait(2, "RUNNING"),
    cmd("sbatch", "--gres=gpu:k80:1", "-w", "compute-node-1", "--wrap", "exec sleep 300"),  # 3: waits
    settle(),
    cmd("scontrol", "-d", "show", "job", label="jobs"),
    cmd("squeue", "-S", "i", "-o", "%i %t %b %N", label="queue"),
    Records("records"),
    cmd("scancel", "1", "2", "3"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(extra_conf=CONF, **TOPOLOGY) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_two_types_on_one_node(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    jobs = ref["jobs"].stdout
    assert "GRES=gpu:tesla:1(IDX:0),gpu:k80:0(IDX:)" in jobs
    assert "JOB_GRES=gpu:tesla:0,gpu:k80:1" in jobs
    assert_same(ref, got, ["jobs", "queue"])
    records_same(ref, got, "records")
