"""Fair share fed by the association cache (accounting/fairshare.py) and the decay pass that keeps the
usage (controller/priority.py): decay over the period, running jobs charged up their parent chain,
usage reset periods."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_multifactor_controller import DBD, make, pending
from test_unconfigured import NOBODY, NOW

from flurm.accounting.assoc_cache import Assoc, AssocCache, Qos, User
from flurm.accounting.fairshare import CachePriorityInputs, UsageBook
from flurm.auth.authenticator import Identity
from flurm.controller.engine import Controller
from flurm.controller.handlers.priority import share_info
from flurm.protocol.constants import INFINITE64, NO_VAL, JobState, MsgType
from flurm.protocol.frame import Frame, Header
from flurm.protocol.messages.base import encode_body
from flurm.protocol.messages.dbd_assoc import TresRec
from flurm.protocol.messages.reports import SharesRequest, SharesResponse
from flurm.rpc.transport import Request
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


# -- sshare (REQUEST_SHARE_INFO) -------------------------------------------------------------------


def _sshare(ctl: Controller, uid: int = 0, **kw: tuple[str, ...] | None) -> SharesResponse:
    body = SharesRequest(**kw)
    frame = Frame(Header(MsgType.REQUEST_SHARE_INFO), 101, None, encode_body(body))
    reply = share_info(ctl, Request(MsgType.REQUEST_SHARE_INFO, body, Identity(uid, uid), frame, ("x", 1)))
    assert isinstance(reply.body, SharesResponse)
    return reply.body


def _share_cache() -> AssocCache:
    c = cache()
    c.cluster = "c1"
    c.tres = {
        5: TresRec(id=5, type="billing"),
        1: TresRec(id=1, type="cpu"),
        6: TresRec(id=6, type="fs", name="disk"),
    }
    c.assocs[6] = Assoc(6, "physics", "nobody", parent_id=2, uid=NOBODY, shares_raw=mf.FS_USE_PARENT)
    c.assocs[7] = Assoc(7, "root", "root", parent_id=1, uid=0, grp_tres_mins={5: 600})
    return c


def test_sshare_lists_the_tree_as_slurmctld_orders_it(tmp_path: Path) -> None:
    ctl, _clock = make(tmp_path, DBD)
    book = UsageBook({1: 100.0, 2: 75.5, 4: 60.0, 6: 15.5, 3: 25.0, 5: 25.0})
    ctl.priority.inputs = CachePriorityInputs(_share_cache(), book)
    got = _sshare(ctl)
    assert got.tres_names == ("cpu", "billing", "fs/disk")
    # each parent before its children; among siblings users first, then accounts, each by name
    assert [(r.name, r.parent, r.user) for r in got.records] == [
        ("root", None, 0),
        ("root", "root", 1),
        ("chemistry", "root", 0),
        ("nobody", "chemistry", 1),
        ("physics", "root", 0),
        ("nobody", "physics", 1),
        ("root", "physics", 1),
    ]
    by_id = {r.assoc_id: r for r in got.records}
    root = by_id[1]
    assert root.shares_raw == NO_VAL and root.shares_norm == 0.0 and root.usage_efctv == 1.0
    assert root.usage_norm == float(NO_VAL) and root.level_fs == float(NO_VAL) and root.usage_raw == 100
    fs = ctl.priority.fair_shares()
    phys = by_id[2]
    assert phys.usage_raw == 75 and phys.shares_raw == 30 and phys.shares_norm == fs[2].shares_norm == 30 / 41
    assert by_id[4].fs_factor == fs[4].factor and by_id[4].level_fs == fs[4].level_fs
    assert by_id[4].usage_efctv == pytest.approx(60.0 / 75.5)
    assert by_id[6].shares_raw == mf.FS_USE_PARENT
    assert by_id[7].tres_grp_mins == (INFINITE64, 600, INFINITE64)
    assert by_id[7].tres_run_secs == (0, 0, 0)


def test_sshare_filters(tmp_path: Path) -> None:
    ctl, _clock = make(tmp_path, DBD)
    ctl.priority.inputs = CachePriorityInputs(_share_cache(), UsageBook())
    # users: every account's own association stays; accounts: only theirs, names without case
    names = [(r.name, r.parent) for r in _sshare(ctl, users=("NOBODY",)).records]
    assert names == [("root", None), ("chemistry", "root"), ("nobody", "chemistry"), ("physics", "root"),
                     ("nobody", "physics")]  # fmt: skip
    names = [(r.name, r.parent) for r in _sshare(ctl, accounts=("Physics",)).records]
    assert names == [("physics", "root"), ("nobody", "physics"), ("root", "physics")]
    # no associations at all: nothing filled in
    ctl.priority.inputs = CachePriorityInputs(AssocCache(lambda name: None), UsageBook())
    assert _sshare(ctl) == SharesResponse()


def test_sshare_private_usage(tmp_path: Path) -> None:
    ctl, _clock = make(tmp_path, DBD + "PrivateData=usage\n")
    c = _share_cache()
    c.users = {"nobody": User("nobody", NOBODY, coord_accts=frozenset({"chemistry"}))}
    ctl.priority.inputs = CachePriorityInputs(c, UsageBook())
    assert len(_sshare(ctl, uid=0).records) == 7  # root sees everything
    # nobody: its own associations and those of the account it coordinates
    seen = [(r.name, r.parent) for r in _sshare(ctl, uid=NOBODY).records]
    assert seen == [("chemistry", "root"), ("nobody", "chemistry"), ("nobody", "physics")]
    # someone the cache does not know: no list at all
    assert _sshare(ctl, uid=4242) == SharesResponse()


def test_the_association_factor(tmp_path: Path) -> None:
    """PriorityWeightAssoc: the job's association's Priority over the highest of all associations."""
    ctl, _clock = make(tmp_path, DBD + "PriorityWeightAssoc=1000\n")
    c = cache()
    c.assocs[2].priority = 100
    c.assocs[4].priority = 100  # slurmdbd sends a user's association its account's, inherited
    c.assocs[5].priority = 250
    ctl.priority.inputs = CachePriorityInputs(c, UsageBook())
    job = pending(ctl, 1, account="physics")
    ctl.priority.set_job_prio(job)
    assert ctl.priority.factors[1].assoc == pytest.approx(400.0)
    c.assocs[5].priority = None  # now none above 100: the highest is physics' own
    c.generation += 1  # (as an update from slurmdbd counts)
    ctl.priority.set_job_prio(job)
    assert ctl.priority.factors[1].assoc == pytest.approx(1000.0)
    c.assocs[2].priority = c.assocs[4].priority = None
    c.generation += 1
    ctl.priority.set_job_prio(job)
    assert ctl.priority.factors[1].assoc == 0.0
    s = mf.Settings(weight_assoc=1000, flags=mf.NO_NORMAL_ASSOC)
    assert mf.assoc_norm(7, 9, s) == 7.0  # NO_NORMAL_ASSOC: the Priority itself
