"""priority/multifactor in the controller (controller/priority.py): when priorities are computed anew,
what accounting's plain data feeds in, and what sprio is answered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from test_unconfigured import BASE, NOBODY, NOW, ask

from flurm.auth.authenticator import FakeAuthenticator
from flurm.config import parse_text
from flurm.controller.engine import Controller
from flurm.protocol.constants import NICE_OFFSET, JobState, MsgType
from flurm.protocol.messages.reports import PriorityFactorsRequest, PriorityFactorsResponse
from flurm.scheduler.multifactor import AssocUsage
from flurm.state.model import Job

WEIGHTS = (
    "PriorityType=priority/multifactor\nPriorityWeightJobSize=1000\nPriorityWeightPartition=10000\n"
    "PriorityWeightAge=3600\nPriorityMaxAge=1\nPriorityWeightFairshare=100000\nPriorityWeightQOS=50\n"
    "PriorityCalcPeriod=1\nPartitionName=high Nodes=ALL PriorityJobFactor=4 State=UP\n"
)
DBD = "AccountingStorageType=accounting_storage/slurmdbd\n"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return float(self.now)


class Accounting:
    """Plain data as the accounting room hands it over."""

    def __init__(self) -> None:
        self.tree = [
            AssocUsage(1, None, None, 1, 100.0),
            AssocUsage(2, 1, None, 1, 100.0),
            AssocUsage(3, 2, "root", 1, 50.0),
            AssocUsage(4, 2, "nobody", 1, 50.0),
        ]

    def associations(self) -> Sequence[AssocUsage]:
        return self.tree

    def job_assoc_id(self, job: Job) -> int | None:
        return 3 if job.user_id == 0 else None

    def qos_priorities(self) -> Mapping[str, int]:
        return {"normal": 10, "high": 40}

    def usage_factor(self, job: Job) -> float:
        return 1.0

    def decay(self, factor: float) -> None:
        self.decayed = factor

    def charge(self, job: Job, amount: float) -> None:
        pass

    def reset(self) -> None:
        pass

    def usage_state(self) -> Mapping[int, float]:
        return {}

    def load_usage(self, usage: Mapping[int, float]) -> None:
        pass


def make(tmp: Path, extra: str = "") -> tuple[Controller, Clock]:
    clock = Clock()
    conf = parse_text(BASE.format(state=tmp) + WEIGHTS + extra)
    return Controller(conf, FakeAuthenticator(), state_dir=tmp, clock=clock), clock


def pending(ctl: Controller, job_id: int, **kw: object) -> Job:
    job = Job(job_id=job_id, name="j", user_id=0, group_id=0, partition="debug", list_seq=job_id)
    job.submit_time = job.eligible_time = job.accrue_time = NOW - 30
    job.priority = 1
    for k, v in kw.items():
        setattr(job, k, v)
    ctl.cluster.jobs[job_id] = job
    return job


def test_without_slurmdbd_priorities_are_set_by_events_not_by_time(tmp_path: Path) -> None:
    ctl, clock = make(tmp_path)
    job = pending(ctl, 1)
    held = pending(ctl, 2, priority=0)
    direct = pending(ctl, 3, priority=4242, direct_prio=True)
    running = pending(ctl, 4, state=JobState.RUNNING)
    ctl.priority.recalculate(NOW)  # the plugin's start
    # job size (1 node of 2 + 1 CPU of 4) / 2 = 0.375, partition debug 1/4; no age, no fair share
    assert job.priority == 375 + 2500
    assert (held.priority, direct.priority, running.priority) == (0, 4242, 1)
    assert ctl.priority.factors[1].age == 0.0 and ctl.priority.factors[1].fs == 0.0
    job.priority = 7
    clock.now += 3600
    ctl.priority.tick(int(clock.now))
    assert job.priority == 7  # no decay thread without slurmdbd


def test_with_slurmdbd_and_associations_every_calc_period(tmp_path: Path) -> None:
    ctl, clock = make(tmp_path, DBD + "PriorityFlags=NO_FAIR_TREE\n")
    job = pending(ctl, 1, qos="high")
    other = pending(ctl, 2, user_id=NOBODY, qos="normal")
    ctl.priority.inputs = Accounting()
    ctl.priority.tick(NOW)
    f = ctl.priority.factors[1]
    assert f.age == pytest.approx(3600 * 30 / 60)
    # user root: U_E = 0.5 + (1 - 0.5) * 1/2 (the account used everything), S = 1/2 -> 2**-1.5
    assert f.fs == pytest.approx(100000 * 2**-1.5)
    assert f.qos == 50.0
    assert job.priority == int(1800 + 100000 * 2**-1.5 + 375 + 2500 + 50)
    assert ctl.priority.factors[2].fs == 0.0  # no association: no fair share
    assert ctl.priority.factors[2].qos == pytest.approx(12.5)
    before = other.priority
    clock.now += 15
    ctl.priority.tick(int(clock.now))
    assert other.priority == before  # PriorityCalcPeriod (1 minute) has not passed
    clock.now += 45
    ctl.priority.tick(int(clock.now))
    assert other.priority == before + 1800  # 90 s waited of PriorityMaxAge's 60: age 1


def test_fair_tree_is_the_default(tmp_path: Path) -> None:
    ctl, _clock = make(tmp_path, DBD)
    ctl.priority.inputs = Accounting()
    job = pending(ctl, 1)
    ctl.priority.tick(NOW)
    # root and nobody used alike in the same account: tied, both rank 2 of 2
    assert ctl.priority.factors[job.job_id].fs == 100000.0


def test_incr_only(tmp_path: Path) -> None:
    ctl, _clock = make(tmp_path, "PriorityFlags=INCR_ONLY\n")
    job = pending(ctl, 1, priority=99999)
    ctl.priority.recalculate(NOW)
    assert job.priority == 99999


def test_submit_release_and_update(tmp_path: Path) -> None:
    from flurm.protocol.constants import NO_VAL

    ctl, _clock = make(tmp_path)
    job = pending(ctl, 1, priority=NO_VAL)
    ctl.priority.set_job_prio(job)
    assert job.priority == 2875
    job.nice = 100
    ctl.priority.set_job_prio(job)
    assert job.priority == 2775 and ctl.priority.factors[1].nice == NICE_OFFSET + 100
    job.priority, job.direct_prio = 0, True  # held
    ctl.priority.release(job)
    assert (job.priority, job.direct_prio) == (2775, False)
    job.partition = "high"
    ctl.priority.set_job_prio(job)
    assert job.priority == 375 + 10000 - 100


def test_sprio_in_22_05_filters_on_the_controller(tmp_path: Path) -> None:
    ctl, _clock = make(tmp_path)
    pending(ctl, 1)
    pending(ctl, 2, user_id=NOBODY, partition="debug,high")
    pending(ctl, 3, priority=0)  # held: not listed
    pending(ctl, 4, eligible_time=0)  # not eligible: not listed
    pending(ctl, 5, priority=4242, direct_prio=True)
    ctl.priority.recalculate(NOW)

    def listed(req: PriorityFactorsRequest, uid: int = 0) -> list[tuple[int, str | None]]:
        reply = ask(ctl, MsgType.REQUEST_PRIORITY_FACTORS, req, uid)
        assert isinstance(reply.body, PriorityFactorsResponse)
        return [(r.job_id, r.partition) for r in reply.body.records or ()]

    assert listed(PriorityFactorsRequest()) == [(1, "debug"), (2, "debug"), (2, "high"), (5, "debug")]
    assert listed(PriorityFactorsRequest(job_ids=(2, 3))) == [(2, "debug"), (2, "high")]
    assert listed(PriorityFactorsRequest(uids=(NOBODY,))) == [(2, "debug"), (2, "high")]
    assert listed(PriorityFactorsRequest(partitions="high,nosuch")) == [(2, "high")]
    reply = ask(ctl, MsgType.REQUEST_PRIORITY_FACTORS, PriorityFactorsRequest(job_ids=(99,)))
    assert reply.body == PriorityFactorsResponse(None)  # no list at all
    records = ask(ctl, MsgType.REQUEST_PRIORITY_FACTORS, PriorityFactorsRequest(job_ids=(2, 5))).body
    assert isinstance(records, PriorityFactorsResponse) and records.records is not None
    by_part = {(r.job_id, r.partition): r for r in records.records}
    assert by_part[(2, "debug")].part == 2500.0 and by_part[(2, "high")].part == 10000.0
    assert by_part[(5, "debug")].direct_prio == 4242.0


def test_private_jobs(tmp_path: Path) -> None:
    ctl, _clock = make(tmp_path, "PrivateData=jobs\n")
    pending(ctl, 1)
    pending(ctl, 2, user_id=NOBODY)
    ctl.priority.recalculate(NOW)
    reply = ask(ctl, MsgType.REQUEST_PRIORITY_FACTORS, PriorityFactorsRequest(), NOBODY)
    assert isinstance(reply.body, PriorityFactorsResponse) and reply.body.records is not None
    assert [r.job_id for r in reply.body.records] == [2]
