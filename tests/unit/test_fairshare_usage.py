"""Fair share fed by the association cache (accounting/fairshare.py) and the decay pass that keeps the
usage (controller/priority.py): decay over the period, running jobs charged up their parent chain,
usage reset periods."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_multifactor_controller import DBD, make, pending
from test_unconfigured import NOBODY, NOW

from flurm.accounting.assoc_cache import Assoc, AssocCache, Qos
from flurm.accounting.fairshare import CachePriorityInputs, UsageBook
from flurm.protocol.constants import JobState
from flurm.scheduler import multifactor as mf

WEEK = 7 * 86400


def cache() -> AssocCache:
    c = AssocCache(lambda name: {"root": 0, "nobody": NOBODY}.get(name))
    c.assocs = {
        1: Assoc(1, "root"),
        2: Assoc(2, "physics", parent_id=1, shares_raw=30),
        3: Assoc(3, "chemistry", parent_id=1, shares_raw=10),
        4: Assoc(4, "physics", "root", parent_id=2, uid=0, is_def=True),
        5: Assoc(5, "chemistry", "nobody", parent_id=3, uid=NOBODY, is_def=True),
    }
    c.qos = {1: Qos(1, "normal", priority=10), 2: Qos(2, "cheap", priority=0, usage_factor=0.5)}
    return c


def test_the_cache_as_fair_share_data(tmp_path: Path) -> None:
    ctl, _clock = make(tmp_path)
    inputs = CachePriorityInputs(cache(), UsageBook({1: 100.0, 2: 75.0, 3: 25.0, 4: 75.0, 5: 25.0}))
    tree = {a.id: a for a in inputs.associations()}
    assert tree[1].parent is None and tree[4].parent == 2
    assert tree[4].shares_raw == 1  # FairShare not set: slurmdbd's default of 1
    assert tree[2].usage_raw == 75.0
    job = pending(ctl, 1, account=None)  # the user's default account
    assert inputs.job_assoc_id(job) == 4
    job.account = "chemistry"
    assert inputs.job_assoc_id(job) is None  # root has no association there
    assert inputs.qos_priorities() == {"normal": 10, "cheap": 0}
    fs = mf.fair_share(inputs.associations())
    # physics: 0.75 of the usage for 0.75 of the shares
    assert fs[4].factor == pytest.approx(2 ** -(0.75 / 0.75))


def test_the_decay_pass_decays_then_charges_running_jobs(tmp_path: Path) -> None:
    limits = "AccountingStorageEnforce=associations,limits\n"
    ctl, clock = make(tmp_path, DBD + limits + "PriorityDecayHalfLife=7-0\n")
    book = UsageBook({1: 1000.0, 2: 1000.0, 4: 1000.0})
    ctl.priority.inputs = CachePriorityInputs(cache(), book)
    run = pending(ctl, 1, state=JobState.RUNNING, start_time=NOW - 100, cpus_alloc=(2, 2))
    cheap = pending(ctl, 2, user_id=NOBODY, state=JobState.RUNNING, start_time=NOW + 30, cpus_alloc=(1,))
    cheap.qos = "cheap"
    ended = pending(ctl, 3, state=JobState.COMPLETE, start_time=NOW - 50, end_time=NOW + 20, cpus_alloc=(1,))
    waiting = pending(ctl, 4)
    ctl.priority.tick(NOW)  # the first pass: nothing to decay yet (slurmctld's g_last_ran is 0)
    assert book.usage == {1: 1000.0, 2: 1000.0, 4: 1000.0}
    clock.now += 60
    ctl.priority.tick(int(clock.now))
    decay = mf.period_decay(WEEK, 60)
    ran = mf.run_usage(60, 4.0, WEEK)  # job 1: the whole period on 4 CPUs
    tail = mf.run_usage(20, 1.0, WEEK)  # job 3: until its end
    half = mf.run_usage(30, 1.0, WEEK, usage_factor=0.5)  # job 2: since its start, QOS cheap
    assert book.usage[4] == pytest.approx(1000 * decay + ran + tail)
    assert book.usage[2] == pytest.approx(1000 * decay + ran + tail)
    assert book.usage[5] == pytest.approx(half) and book.usage[3] == pytest.approx(half)
    assert book.usage[1] == pytest.approx(1000 * decay + ran + tail + half)
    assert waiting.priority > 1 and ended.end_time  # the pending job got its priority on the pass
    before = dict(book.usage)
    clock.now += 60
    ctl.priority.tick(int(clock.now))
    assert book.usage[5] == pytest.approx(before[5] * decay + mf.run_usage(60, 1.0, WEEK, 0.5))
    # job 3 ended before the last pass: charged once only
    assert book.usage[4] == pytest.approx(before[4] * decay + ran)
    assert run.priority == 1  # running jobs keep theirs (no PriorityFlags=CALCULATE_RUNNING)


def test_an_ended_job_is_charged_only_where_limits_are_enforced(tmp_path: Path) -> None:
    """slurmctld adds a job's usage at its end in acct_policy's job_fini, which does nothing without
    AccountingStorageEnforce=limits: a job that starts and ends between two passes leaves none."""
    ctl, clock = make(tmp_path, DBD)
    book = UsageBook()
    ctl.priority.inputs = CachePriorityInputs(cache(), book)
    pending(ctl, 1, state=JobState.COMPLETE, start_time=NOW + 5, end_time=NOW + 20, cpus_alloc=(1,))
    ctl.priority.tick(NOW)
    clock.now += 60
    ctl.priority.tick(int(clock.now))
    assert book.usage == {}


def test_usage_reset_periods(tmp_path: Path) -> None:
    ctl, clock = make(tmp_path, DBD + "PriorityUsageResetPeriod=NOW\nPriorityDecayHalfLife=0\n")
    book = UsageBook({1: 5.0})
    ctl.priority.inputs = CachePriorityInputs(cache(), book)
    ctl.priority.tick(NOW)
    assert book.usage == {}  # NOW: once, at the start
    book.usage[1] = 5.0
    clock.now += 60
    ctl.priority.tick(int(clock.now))
    assert book.usage[1] == 5.0  # no decay with a half-life of 0, no second reset
    daily, dclock = make(tmp_path / "d", DBD + "PriorityUsageResetPeriod=DAILY\n")
    dbook = UsageBook({1: 5.0})
    daily.priority.inputs = CachePriorityInputs(cache(), dbook)
    daily.priority.tick(NOW)
    assert dbook.usage == {1: 5.0}
    dclock.now += 86400
    daily.priority.tick(int(dclock.now))
    assert dbook.usage == {}  # past the next local midnight


def test_the_book_round_trips() -> None:
    book = UsageBook({1: 2.5, 7: 0.0})
    assert UsageBook.from_dict(book.to_dict()) == book


def test_the_usage_survives_a_restart(tmp_path: Path) -> None:
    """Saved in the store after each pass; restored, the first pass decays over the time flurm was away
    (slurmctld's assoc_usage and priority_last_decay_ran)."""
    from flurm.controller.priority import USAGE_META

    ctl, _clock = make(tmp_path, DBD)
    written: dict[str, object] = {}
    ctl.store.set_meta = written.__setitem__  # type: ignore[method-assign]
    ctl.priority.inputs = CachePriorityInputs(cache(), UsageBook({1: 800.0, 2: 800.0, 4: 800.0}))
    ctl.priority.tick(NOW)
    saved = written[USAGE_META]
    assert saved == {"last_ran": NOW, "last_reset": 0, "usage": {"1": 800.0, "2": 800.0, "4": 800.0}}
    again, clock2 = make(tmp_path / "again", DBD)
    book = UsageBook()
    again.priority.inputs = CachePriorityInputs(cache(), book)
    again.priority.restore(saved)  # type: ignore[arg-type]
    assert book.usage == {1: 800.0, 2: 800.0, 4: 800.0}
    clock2.now = NOW + 3600
    again.priority.tick(NOW + 3600)  # the first pass after the restart
    assert book.usage[4] == pytest.approx(800.0 * mf.period_decay(WEEK, 3600))


def test_jobs_that_end_before_the_first_period_are_charged(tmp_path: Path) -> None:
    """The decay thread's first pass runs when the plugin starts: a job that ends within the first
    PriorityCalcPeriod is charged at the next pass."""
    ctl, clock = make(tmp_path, DBD + "AccountingStorageEnforce=associations,limits\n")
    book = UsageBook()
    ctl.priority.inputs = CachePriorityInputs(cache(), book)
    ctl.priority.start(NOW)
    pending(ctl, 1, state=JobState.COMPLETE, start_time=NOW + 5, end_time=NOW + 9, cpus_alloc=(4,))
    clock.now += 60
    ctl.priority.tick(int(clock.now))
    assert book.usage[4] == pytest.approx(mf.run_usage(4, 4.0, WEEK))
