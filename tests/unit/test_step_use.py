"""The CPUs a step takes on a node and what its job's record says its running steps use
(state/step_use.py, slurmctld's _step_alloc_lps)."""

from __future__ import annotations

from typing import Any

import pytest

from flurm.protocol.constants import NO_VAL16, SLURM_24_11_PROTOCOL_VERSION
from flurm.protocol.messages.steps import SSF_OVERLAP_FORCE, SSF_WHOLE
from flurm.state import step_use
from flurm.state.model import Job, Node

V22, V24 = 0x2600, SLURM_24_11_PROTOCOL_VERSION


def cpus(**changes: Any) -> step_use.NodeCpus:
    args: dict[str, Any] = dict(
        whole=False,
        overlap_force=False,
        job_cpus=4,
        tasks=1,
        cpus_per_task=1,
        gres_cpus=0,
        cpus_per_tres=False,
        step_threads_per_core=NO_VAL16,
        job_threads_per_core=NO_VAL16,
        node_threads=1,
        version=V22,
    )
    args.update(changes)
    return step_use.node_cpus(**args)


@pytest.mark.parametrize(
    ("changes", "alloc", "used"),
    [
        ({}, 1, 1),  # srun -n1 --exact
        ({"whole": True}, 4, 4),  # srun -n1: all the job's CPUs on the node
        ({"tasks": 2, "cpus_per_task": 2}, 4, 4),
        ({"cpus_per_task": 0, "tasks": 3}, 0, 0),  # _calc_cpus_per_task gave 0
        ({"whole": True, "overlap_force": True}, 4, 0),  # --overlap=force: shown, not counted
        # --cpus-per-gpu=2 with one GPU on the node: 22.05 ignores it, 24.11 counts it
        ({"gres_cpus": 2, "cpus_per_tres": True}, 1, 1),
        ({"gres_cpus": 2, "cpus_per_tres": True, "version": V24}, 2, 2),
        ({"gres_cpus": 2, "cpus_per_tres": True, "version": V24, "tasks": 3}, 3, 3),  # at least one per task
        ({"cpus_per_tres": True, "version": V24}, 0, 0),  # no GRES got there: nothing per task either
        # one thread of two per core asked: each task pays a whole core
        ({"tasks": 3, "step_threads_per_core": 1, "node_threads": 2}, 6, 6),
        ({"tasks": 3, "job_threads_per_core": 1, "node_threads": 2}, 6, 6),
        # 24.11 counts whole cores against the job
        ({"tasks": 3, "node_threads": 2, "version": V24}, 3, 4),
    ],
)
def test_node_cpus(changes: dict[str, Any], alloc: int, used: int) -> None:
    assert cpus(**changes) == step_use.NodeCpus(alloc, used)


def test_marks_cores() -> None:
    assert step_use.marks_cores(cpu_count=1, overcommit=False, job_cpus=2, overlap_force=False)
    # srun -c2 in a job of 2 CPUs: the job's bitmap as it is, no core marked
    assert not step_use.marks_cores(cpu_count=2, overcommit=False, job_cpus=2, overlap_force=False)
    assert step_use.marks_cores(cpu_count=2, overcommit=True, job_cpus=2, overlap_force=False)
    assert not step_use.marks_cores(cpu_count=1, overcommit=False, job_cpus=2, overlap_force=True)


def _node(name: str, index: int, threads: int = 1) -> Node:
    return Node(name, index, "127.0.0.1", "localhost", 6818, 4 * threads, 1, 2, 2, threads, 1000)


def test_job_use_adds_the_running_steps() -> None:
    nodes = {"n1": _node("n1", 0), "n2": _node("n2", 1, threads=2)}
    job = Job(job_id=1, name="j", user_id=0, group_id=0, partition="p")
    job.nodes = ("n1", "n2")

    def step(**d: Any) -> dict[str, Any]:
        return {"flags": 0, **d}

    job.steps = {
        "steps": [
            step(nodes=["n1", "n2"], cores=[[0], [1]], cpus_used=[1, 2]),
            step(nodes=["n2"], cores=[[0]], cpus_used=[2], marks_cores=False),
            step(nodes=["n1"], cores=[[1, 2, 3]], cpus_used=[3], flags=SSF_OVERLAP_FORCE | SSF_WHOLE),
            # saved before the CPUs were kept: its cores' threads
            step(nodes=["n2"], cores=[[2, 3]]),
        ]
    }
    assert step_use.job_use(job, nodes) == ((1, 8), ((0,), (1, 2, 3)))
    job.steps = {}
    assert step_use.job_use(job, nodes) == ((0, 0), ((), ()))
