"""flurm.state.job_builder: the rules that make a job record of a description, whatever its source."""

from __future__ import annotations

import pytest

from flurm.protocol.constants import (
    MEM_PER_CPU,
    NICE_OFFSET,
    NO_VAL64,
    JobStateReason,
)
from flurm.protocol.messages.job_info import JobResources
from flurm.protocol.wire import Bitmap, DecodeError
from flurm.state.job_builder import JobSpec, allocation, dependency_state, expand_nodes, job_from_spec
from flurm.state.tasks import EMPTY, TaskSet


def _spec(**kw: object) -> JobSpec:
    return JobSpec(user_id=1000, group_id=1000, partition="debug", **kw)  # type: ignore[arg-type]


def test_not_given_values_take_slurms_defaults() -> None:
    job = job_from_spec(_spec())
    assert (job.name, job.work_dir, job.cpus_per_task, job.ntasks_per_node) == ("", "/", 1, 0)
    assert (job.contiguous, job.requeue, job.mail_type, job.time_min, job.alloc_sid, job.nice) == (
        0,
        1,
        0,
        0,
        0,
        0,
    )
    assert job.dependency is None and job.dep_state == "none" and job.dep_text is None
    assert job.pn_min_memory == 0 and not job.hold_user


def test_given_values_are_kept_and_nice_loses_its_offset() -> None:
    job = job_from_spec(
        _spec(name="x", work_dir="/w", cpus_per_task=4, ntasks_per_node=2, requeue=0, nice=NICE_OFFSET - 5)
    )
    assert (job.name, job.work_dir, job.cpus_per_task, job.ntasks_per_node, job.requeue, job.nice) == (
        "x",
        "/w",
        4,
        2,
        0,
        -5,
    )


@pytest.mark.parametrize("mem", [MEM_PER_CPU, NO_VAL64])
def test_no_memory_asked_is_zero(mem: int) -> None:
    assert job_from_spec(_spec(pn_min_memory=mem)).pn_min_memory == 0
    assert job_from_spec(_spec(pn_min_memory=MEM_PER_CPU | 100)).pn_min_memory == MEM_PER_CPU | 100


def test_dependency_as_shown_by_slurmctld() -> None:
    assert dependency_state("afterok:5") == ("afterok:5", "waiting")
    assert dependency_state("afterok:5(unfulfilled),afterany:6(unfulfilled)") == (
        "afterok:5,afterany:6",
        "waiting",
    )
    assert dependency_state("afterok:5(failed)") == ("afterok:5", "failed")
    shown = job_from_spec(_spec(dependency="afterok:5(unfulfilled)", dependency_shown=True))
    assert (shown.dependency, shown.dep_state, shown.dep_text) == (
        "afterok:5",
        "waiting",
        "afterok:5(unfulfilled)",
    )
    submitted = job_from_spec(_spec(dependency="afterok:5"))
    assert (submitted.dependency, submitted.dep_state, submitted.dep_text) == ("afterok:5", "waiting", None)


def test_user_hold() -> None:
    assert job_from_spec(_spec(priority=0, state_reason=JobStateReason.WAIT_HELD_USER)).hold_user
    assert not job_from_spec(_spec(priority=0, state_reason=JobStateReason.WAIT_HELD)).hold_user


def test_pending_tasks_belong_to_the_meta_record() -> None:
    tasks = TaskSet.of([1, 2])
    meta = job_from_spec(_spec(array_job_id=7, array_task_pending=tasks, array_size_hint=4))
    assert meta.array_task_pending == tasks and meta.array_size_hint == 4
    task = job_from_spec(_spec(array_job_id=7, array_task_id=3, array_task_pending=tasks, array_size_hint=4))
    assert task.array_task_pending == EMPTY and task.array_size_hint == 0


def _resources(**kw: object) -> JobResources:
    base = JobResources(
        nhosts=2,
        ncpus=3,
        nodes="n[1-2]",
        cpus=(2, 1),
        sockets_per_node=(1,),
        cores_per_socket=(4,),
        sock_core_rep_count=(2,),
        core_bitmap=Bitmap(8, 0b0001_0011),
    )
    return JobResources(**{**{f: getattr(base, f) for f in base.__slots__}, **kw})


def test_allocation_from_job_resources() -> None:
    nodes = expand_nodes("n[1-2]")
    assert nodes == ("n1", "n2")
    assert allocation(_resources(memory_allocated=(100, 50)), nodes) == (((0, 1), (0,)), (2, 1), (100, 50))
    # no per-node memory in the block (memory not a consumable resource): 0 on each node
    assert allocation(_resources(), nodes)[2] == (0, 0)
    assert allocation(None, nodes) == ((), (), ())
    assert allocation(_resources(), ()) == ((), (), ())
    with pytest.raises(DecodeError):
        allocation(_resources(core_bitmap=Bitmap(9, 1)), nodes)
    job = job_from_spec(_spec(nodes=nodes, job_resources=_resources()))
    assert job.cores_alloc == ((0, 1), (0,)) and job.cpus_alloc == (2, 1)


def test_expand_nodes_keeps_what_does_not_parse() -> None:
    assert expand_nodes(None) == () and expand_nodes("") == ()
    assert expand_nodes("n[1-") == ("n[1-",)
