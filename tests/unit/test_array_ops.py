"""Cancel, hold and update of array tasks on a controller that is not started: ownership is checked
before any record changes, and arrays of SLURM's largest size cost set operations, not loops over
their tasks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flurm.auth.authenticator import FakeAuthenticator
from flurm.config import parse_text
from flurm.controller.engine import Controller
from flurm.daemon import Daemon
from flurm.errors import SlurmError
from flurm.protocol.constants import NO_VAL, SlurmRC
from flurm.protocol.messages.job_desc import JobDesc
from flurm.state.model import Job
from flurm.state.tasks import TaskSet

CONF = """
ClusterName=localtest
SlurmctldHost=localhost
MaxArraySize=4000001
MaxJobCount=9000000
NodeName=compute-node-1 NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
OWNER, OTHER = 1000, 65534


@pytest.fixture
def ctl(tmp_path: Path) -> Iterator[Controller]:
    daemon = Daemon(parse_text(CONF), FakeAuthenticator(), state_dir=tmp_path, clock=lambda: 1_795_696_400)
    ctl = daemon.controller
    ctl.store.open()
    ctl.schedule_soon = lambda: None  # type: ignore[method-assign]  # no event loop: no scheduling
    try:
        yield ctl
    finally:
        ctl.store.close()
        ctl.signer.close()


def submit(ctl: Controller, array: str) -> Job:
    desc = JobDesc(script="#!/bin/sh\ntrue\n", array_inx=array, priority=0)  # held: nothing starts
    job, _ = ctl.jobs.create(desc, OWNER, OWNER, "localhost")
    return job


def records(ctl: Controller, array_id: int) -> list[tuple[int, int, str]]:
    return sorted(
        (j.job_id, j.array_task_id, j.array_task_pending.ranges())
        for j in ctl.cluster.jobs.values()
        if j.array_job_id == array_id
    )


def update(
    ctl: Controller, job_id: str, uid: int, time_limit: int = NO_VAL, priority: int = NO_VAL
) -> list[tuple[int, str | None]]:
    rc, errors = ctl.jobs.update(JobDesc(job_id_str=job_id, time_limit=time_limit, priority=priority), uid)
    assert rc == 0 and errors is not None
    return [(e.error_code, e.job_array_id) for e in errors]


def test_refused_task_update_changes_no_record(ctl: Controller) -> None:
    meta = submit(ctl, "1-4")
    before = records(ctl, meta.job_id)
    assert before == [(meta.job_id, NO_VAL, "1-4")]
    n = meta.job_id
    assert update(ctl, f"{n}_[1-3]", OTHER, time_limit=5) == [(SlurmRC.ESLURM_USER_ID_MISSING, f"{n}_1-3")]
    assert update(ctl, f"{n}_2", OTHER, priority=0) == [(SlurmRC.ESLURM_USER_ID_MISSING, f"{n}_2")]
    assert update(ctl, f"{n}_[1-9]", OTHER, time_limit=5) == [
        (SlurmRC.ESLURM_USER_ID_MISSING, f"{n}_1-4"),
        (SlurmRC.ESLURM_INVALID_JOB_ID, f"{n}_5-9"),
    ]
    assert ctl.jobs.kill(f"{n}_[1-3]", NO_VAL, 9, 0, OTHER) == SlurmRC.ESLURM_ACCESS_DENIED
    assert records(ctl, n) == before and meta.time_limit == NO_VAL
    # the owner's update splits the tasks out (slurmctld's update_job_str)
    assert update(ctl, f"{n}_[1-2]", OWNER, time_limit=5) == [(0, f"{n}_1-2")]
    assert records(ctl, n) == [(n, NO_VAL, "3-4"), (n + 1, 1, ""), (n + 2, 2, "")]


def test_ids_beyond_max_array_size_are_invalid_for_everyone(ctl: Controller) -> None:
    meta = submit(ctl, "1-4")
    n = meta.job_id
    for uid in (OTHER, OWNER, 0):
        for text in (f"{n}_[0-20000000]", f"{n}_4000001", f"{n}_[1-3,4000001]", f"{n}_0-10:4000001"):
            with pytest.raises(SlurmError) as info:
                ctl.jobs.update(JobDesc(job_id_str=text, time_limit=5), uid)
            assert info.value.rc == SlurmRC.ESLURM_INVALID_JOB_ID
            with pytest.raises(SlurmError) as info:
                ctl.jobs.kill(text, NO_VAL, 9, 0, uid)
            assert info.value.rc == SlurmRC.ESLURM_INVALID_JOB_ID
    assert records(ctl, n) == [(n, NO_VAL, "1-4")]


def test_largest_array_costs_set_operations(ctl: Controller) -> None:
    meta = submit(ctl, "0-4000000")
    n = meta.job_id
    assert len(meta.array_task_pending) == 4_000_001
    assert ctl.jobs.kill(f"{n}_[1000-3999999]", NO_VAL, 9, 0, OWNER) == 0
    assert meta.array_task_pending.ranges() == "0-999,4000000"
    # a range beyond the tasks left: those in the record go, the others are not found
    assert ctl.jobs.kill(f"{n}_[990-2000000]", NO_VAL, 9, 0, OWNER) == SlurmRC.ESLURM_INVALID_JOB_ID
    assert meta.array_task_pending.ranges() == "0-989,4000000"
    task = ctl.jobs.split_task(meta, meta.array_task_pending.first())
    assert task.array_task_id == 0 and meta.array_task_pending.ranges() == "1-989,4000000"
    assert update(ctl, f"{n}", OWNER, time_limit=5) == [(0, f"{n}_0-989,4000000")]
    assert Job.from_dict(meta.to_dict()).array_task_pending == meta.array_task_pending
    assert ctl.jobs.kill(str(n), NO_VAL, 9, 0, OWNER) == 0
    assert meta.is_finished() and task.is_finished()
    assert TaskSet.parse("0-4000000", 4_000_001).hex().startswith("0x1F")
