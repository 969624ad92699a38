"""Advanced reservations: the codec, the model's checks (slurmctld's return codes, in its order), names,
node picks, time windows, expiry, node flags, job access, and what the scheduler makes of them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from flurm.config import parse_text
from flurm.errors import SlurmError
from flurm.protocol.constants import (
    INFINITE,
    JobState,
    JobStateFlag,
    JobStateReason,
    MsgType,
    NodeState,
    NodeStateFlag,
    SlurmRC,
)
from flurm.protocol.messages import decode_body, encode_body
from flurm.protocol.messages.reservations import (
    ReservationDesc,
    ReservationInfoResponse,
    ReservationName,
    ReservationRecord,
    ReserveFlag,
)
from flurm.protocol.wire import Bitmap, DecodeError, Writer
from flurm.scheduler.reservations import fence
from flurm.scheduler.scheduler import plan, request_pass
from flurm.state.cluster import Cluster
from flurm.state.model import Job
from flurm.state.reservations import MAINT_DESC, Reservation, Reservations, advance_time, clear_for_removed
from flurm.state.store import Store

F = ReserveFlag
RC = SlurmRC
R = JobStateReason
T0 = 1_700_000_000

CONF = """\
ClusterName=test
SlurmctldHost=ctl(10.0.0.1)
SelectTypeParameters=CR_Core
NodeName=n[1-3] CPUs=2 Sockets=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=small Nodes=n3 State=UP
"""


def make_cluster() -> Cluster:
    cluster = Cluster(parse_text(textwrap.dedent(CONF)), None, clock=lambda: T0)
    for node in cluster.node_list:
        node.registered = True
        node.base_state = NodeState.IDLE
    return cluster


def desc(**kw: object) -> ReservationDesc:
    base: dict[str, object] = {"users": "root", "start_time": T0, "duration": 60}
    base.update(kw)
    return ReservationDesc(**base)  # type: ignore[arg-type]


def create(cluster: Cluster, **kw: object) -> Reservation:
    return cluster.reservations.create(desc(**kw), cluster, T0)


def refused(cluster: Cluster, **kw: object) -> int:
    with pytest.raises(SlurmError) as exc:
        create(cluster, **kw)
    return exc.value.rc


def running(cluster: Cluster, node: str, *, end: int = T0 + 3600, resv: str | None = None) -> Job:
    jid = max(cluster.jobs, default=0) + 1
    job = Job(job_id=jid, name="r", user_id=0, group_id=0, partition="debug", reservation=resv)
    job.state = JobState.RUNNING
    job.nodes = (node,)
    job.end_time = end
    cluster.jobs[jid] = job
    return job


def pending(cluster: Cluster, **kw: object) -> Job:
    jid = max(cluster.jobs, default=0) + 1
    fields: dict[str, object] = dict(
        job_id=jid,
        name=f"j{jid}",
        user_id=1000,
        group_id=1000,
        partition="debug",
        script="#!/bin/sh\n",
        submit_time=T0,
        eligible_time=T0,
        priority=100_000 - jid,
        list_seq=jid,
    )
    fields.update(kw)
    job = Job(**fields)  # type: ignore[arg-type]
    cluster.add_job(job)
    return job


# -- codec ---------------------------------------------------------------------------------------


def test_desc_round_trips_with_zero_terminated_counts() -> None:
    d = desc(name="r1", node_cnt=(2, 1), flags=F.MAINT | F.IGN_JOBS, accounts="a", partition="debug")
    raw = encode_body(d)
    assert decode_body(MsgType.REQUEST_CREATE_RESERVATION, raw) == d
    assert decode_body(MsgType.REQUEST_UPDATE_RESERVATION, raw) == d
    # the node counts travel as u32 count 3 then 2, 1, 0
    assert b"\x00\x00\x00\x03\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x00" in raw


def test_desc_with_an_unterminated_count_array_is_refused() -> None:
    w = Writer()
    w.string("r")
    w.time(T0)
    w.time(T0)
    w.u32(60)
    w.u64(0)
    w.u32_array([2])  # not zero-terminated
    with pytest.raises(DecodeError):
        decode_body(MsgType.REQUEST_CREATE_RESERVATION, w.getvalue() + bytes(64))


def test_info_response_and_name_round_trip() -> None:
    rec = ReservationRecord(
        name="root_1",
        users="root",
        node_cnt=2,
        node_list="n[1-2]",
        core_cnt=4,
        start_time=T0,
        end_time=T0 + 600,
        tres_fmt_str="cpu=4",
        node_bitmap=Bitmap(3, 0b011),
    )
    resp = ReservationInfoResponse(T0, (rec, rec))
    assert decode_body(MsgType.RESPONSE_RESERVATION_INFO, encode_body(resp)) == resp
    name = ReservationName("root_1")
    assert decode_body(MsgType.RESPONSE_CREATE_RESERVATION, encode_body(name)) == name
    assert decode_body(MsgType.REQUEST_DELETE_RESERVATION, encode_body(name)) == name


def test_a_record_count_beyond_the_body_is_refused() -> None:
    w = Writer()
    w.u32(1_000_000)
    w.time(T0)
    with pytest.raises(DecodeError):
        decode_body(MsgType.RESPONSE_RESERVATION_INFO, w.getvalue())


# -- create ----------------------------------------------------------------------------------------


def test_generated_names_count_from_the_first_account_or_user() -> None:
    c = make_cluster()
    assert create(c, node_cnt=(1,)).name == "root_1"
    assert create(c, node_cnt=(1,), accounts="acct1,acct2", users=None).name == "acct1_2"
    assert create(c, node_cnt=(1,), users="-nobody", flags=F.IGN_JOBS).name == "nobody_3"


def test_a_refusal_past_the_node_checks_still_spends_an_id() -> None:
    c = make_cluster()
    create(c, name="a", node_cnt=(1,))
    assert refused(c, name="a", node_cnt=(1,)) == RC.ESLURM_RESERVATION_NAME_DUP
    assert refused(c, node_list="nope") == RC.ESLURM_INVALID_NODE_NAME  # before the id
    assert create(c, node_cnt=(1,)).name == "root_3"


@pytest.mark.parametrize(
    ("kw", "rc"),
    [
        ({"start_time": T0 - 601, "node_cnt": (1,)}, RC.ESLURM_INVALID_TIME_VALUE),
        ({"end_time": T0 - 601, "node_cnt": (1,)}, RC.ESLURM_INVALID_TIME_VALUE),
        ({"partition": "nope", "node_cnt": (1,)}, RC.ESLURM_INVALID_PARTITION_NAME),
        ({"users": "root", "groups": "root", "node_cnt": (1,)}, RC.ESLURM_RESERVATION_USER_GROUP),
        ({"users": None, "node_cnt": (1,)}, RC.ESLURM_RESERVATION_EMPTY),
        ({"users": "no-such-user-here", "node_cnt": (1,)}, RC.ESLURM_USER_ID_MISSING),
        ({"users": "root,-nobody", "node_cnt": (1,)}, RC.ESLURM_USER_ID_MISSING),
        ({"accounts": "a,-b", "node_cnt": (1,)}, RC.ESLURM_INVALID_ACCOUNT),
        ({"node_list": "n9"}, RC.ESLURM_INVALID_NODE_NAME),
        ({}, RC.ESLURM_INVALID_NODE_NAME),  # neither nodes nor a count
        ({"node_cnt": (1,), "core_cnt": (1,)}, RC.ESLURM_NOT_SUPPORTED),
        ({"node_cnt": (1,), "licenses": "lic:1"}, RC.ESLURM_NOT_SUPPORTED),
    ],
)
def test_create_refusals(kw: dict[str, object], rc: int) -> None:
    assert refused(make_cluster(), **kw) == rc


def test_node_count_picks_the_first_free_nodes_of_the_default_partition() -> None:
    c = make_cluster()
    running(c, "n1")
    resv = create(c, node_cnt=(2,))
    assert resv.nodes == ("n2", "n3")
    assert resv.partition == "debug"
    assert (resv.node_list, resv.core_cnt, resv.cpu_cnt) == ("n[2-3]", 4, 4)
    assert refused(c, node_cnt=(1,)) == RC.ESLURM_NODES_BUSY  # n1 is a job's, n2-n3 reserved


def test_a_count_above_the_free_nodes_takes_what_is_there() -> None:
    c = make_cluster()
    assert create(c, node_cnt=(5,), flags=F.IGN_JOBS).nodes == ("n1", "n2", "n3")


def test_ignore_jobs_takes_busy_nodes_and_explicit_nodes_with_a_job_are_busy() -> None:
    c = make_cluster()
    running(c, "n1")
    running(c, "n2")
    running(c, "n3")
    assert refused(c, node_cnt=(1,)) == RC.ESLURM_NODES_BUSY
    assert refused(c, node_list="n1") == RC.ESLURM_NODES_BUSY
    assert create(c, node_list="n1", flags=F.IGN_JOBS).nodes == ("n1",)
    assert create(c, node_cnt=(1,), flags=F.IGN_JOBS).nodes == ("n2",)


def test_a_job_ending_before_the_start_does_not_overlap() -> None:
    c = make_cluster()
    running(c, "n1", end=T0 + 100)
    assert create(c, node_list="n1", start_time=T0 + 200).nodes == ("n1",)


def test_overlapping_reservations_are_refused_unless_maint_or_overlap() -> None:
    c = make_cluster()
    create(c, name="a", node_list="n1")
    assert refused(c, node_list="n1") == RC.ESLURM_RESERVATION_OVERLAP
    assert create(c, node_list="n1", start_time=T0 + 3600).nodes == ("n1",)  # after a ends
    assert create(c, node_list="n1", flags=F.MAINT).flags & F.MAINT
    assert create(c, node_list="n1", flags=F.OVERLAP).flags & F.OVERLAP


def test_daily_windows_meet_a_later_day() -> None:
    c = make_cluster()
    create(c, name="d", node_list="n1", flags=F.DAILY)
    assert refused(c, node_list="n1", start_time=T0 + 86400) == RC.ESLURM_RESERVATION_OVERLAP
    assert create(c, node_list="n1", start_time=T0 + 7200).nodes == ("n1",)


def test_all_nodes_and_partition_nodes() -> None:
    c = make_cluster()
    resv = create(c, node_list="ALL", flags=F.IGN_JOBS)
    assert resv.nodes == ("n1", "n2", "n3")
    assert resv.flags & (F.ALL_NODES | F.SPEC_NODES) == F.ALL_NODES | F.SPEC_NODES
    part = create(c, node_list="ALL", partition="small", flags=F.PART_NODES | F.OVERLAP)
    assert part.nodes == ("n3",)
    assert part.flags & F.PART_NODES and not part.flags & F.ALL_NODES


def test_infinite_duration_is_a_year() -> None:
    c = make_cluster()
    assert create(c, node_cnt=(1,), duration=INFINITE).end_time == T0 + 365 * 24 * 3600


# -- update, delete -------------------------------------------------------------------------------


def test_update_edits_users_and_flags_and_keeps_everything_on_a_refusal() -> None:
    c = make_cluster()
    create(c, name="r", node_list="n1", users="root", start_time=T0 + 600, flags=F.DAILY)
    book = c.reservations
    book.update(ReservationDesc(name="r", users="+nobody", flags=F.NO_DAILY), c, T0)
    assert book.items["r"].users == "root,nobody"
    assert not book.items["r"].flags & F.DAILY
    before = book.items["r"].to_dict()
    with pytest.raises(SlurmError) as exc:
        book.update(ReservationDesc(name="r", users="-root,-nobody"), c, T0)
    assert exc.value.rc == RC.ESLURM_RESERVATION_EMPTY
    assert book.items["r"].to_dict() == before
    with pytest.raises(SlurmError) as exc:
        book.update(ReservationDesc(name="nope", duration=5), c, T0)
    assert exc.value.rc == RC.ESLURM_RESERVATION_INVALID


def test_start_of_a_started_reservation_cannot_move() -> None:
    c = make_cluster()
    create(c, name="r", node_list="n1")
    with pytest.raises(SlurmError) as exc:
        c.reservations.update(ReservationDesc(name="r", start_time=T0 + 60), c, T0 + 1)
    assert exc.value.rc == RC.ESLURM_RSV_ALREADY_STARTED


def test_a_started_reservation_whose_nodes_or_flags_change_starts_again_now() -> None:
    """_post_resv_update: slurmctld restarts the period (StartTime=now); the end stays."""
    c = make_cluster()
    create(c, name="r", node_list="n1")
    book = c.reservations
    longer = book.update(ReservationDesc(name="r", duration=120), c, T0 + 5)
    assert (longer.start_time, longer.end_time) == (T0, T0 + 7200)
    wider = book.update(ReservationDesc(name="r", node_list="n1,n2"), c, T0 + 9)
    assert (wider.start_time, wider.end_time) == (T0 + 9, T0 + 7200)
    create(c, name="later", node_list="n3", start_time=T0 + 600)
    assert book.update(ReservationDesc(name="later", flags=F.MAINT), c, T0 + 9).start_time == T0 + 600
    assert book.update(ReservationDesc(name="r", flags=F.MAINT), c, T0 + 12).start_time == T0 + 12


def test_update_node_count_grows_and_shrinks() -> None:
    c = make_cluster()
    create(c, name="r", node_cnt=(1,))
    book = c.reservations
    assert book.update(ReservationDesc(name="r", node_cnt=(3,)), c, T0).nodes == ("n1", "n2", "n3")
    assert book.update(ReservationDesc(name="r", node_cnt=(1,)), c, T0).nodes == ("n1",)


def test_delete_refuses_a_reservation_a_job_runs_in_or_waits_for() -> None:
    c = make_cluster()
    create(c, name="r", node_list="n1")
    job = running(c, "n1", resv="r")
    with pytest.raises(SlurmError) as exc:
        c.reservations.delete("r", c, T0)
    assert exc.value.rc == RC.ESLURM_RESERVATION_BUSY
    job.state = JobState.COMPLETE
    waiting = pending(c, reservation="r")
    with pytest.raises(SlurmError) as exc:  # a pending job names it too
        c.reservations.delete("r", c, T0)
    assert exc.value.rc == RC.ESLURM_RESERVATION_BUSY
    waiting.state = JobState.CANCELLED
    c.reservations.delete("r", c, T0)
    with pytest.raises(SlurmError) as exc:
        c.reservations.delete("r", c, T0)
    assert exc.value.rc == RC.ESLURM_RESERVATION_INVALID


def test_an_ended_reservation_holds_the_jobs_that_still_wait_for_it() -> None:
    c = make_cluster()
    resv = create(c, name="r", node_list="n1", duration=10)
    waiting = pending(c, user_id=0, reservation="r")
    [(gone, named)] = c.reservations.check(c, T0 + 601)
    assert gone is resv and waiting in named
    clear_for_removed(waiting, resv)
    assert (waiting.reservation, waiting.priority, waiting.state_reason) == (None, 0, R.WAIT_RESV_DELETED)
    assert waiting.state_desc == "Reservation r was deleted"
    assert waiting.state & JobStateFlag.RESV_DEL_HOLD
    cycle(c, T0 + 602)
    assert waiting.state_reason == R.WAIT_RESV_DELETED  # a held job keeps it


# -- time -----------------------------------------------------------------------------------------


def test_an_ended_reservation_goes_once_no_job_runs_in_it() -> None:
    c = make_cluster()
    create(c, name="r", node_list="n1", duration=10)
    job = running(c, "n1", resv="r")
    book = c.reservations
    assert book.check(c, T0 + 600) == []  # its last second
    assert book.check(c, T0 + 601) == [] and "r" in book.items  # a job still runs in it
    job.state = JobState.COMPLETE
    assert [r.name for r, _ in book.check(c, T0 + 602)] == ["r"]
    assert "r" not in book.items
    assert book.drain() == ([], ["r"])


def test_daily_and_weekly_reservations_roll_forward() -> None:
    c = make_cluster()
    daily = create(c, name="d", node_list="n1", duration=10, flags=F.DAILY)
    weekly = create(c, name="w", node_list="n2", duration=10, flags=F.WEEKLY)
    c.reservations.check(c, T0 + 601)
    assert (daily.start_time, daily.end_time) == (advance_time(T0, 1), advance_time(T0 + 600, 1))
    assert weekly.start_time == advance_time(T0, 7)
    assert daily.resv_id != 1  # a new window, a new id


def test_node_flags_follow_active_reservations() -> None:
    c = make_cluster()
    create(c, name="now", node_list="n1")
    create(c, name="mnt", node_list="n2", flags=F.MAINT)
    create(c, name="later", node_list="n3", start_time=T0 + 3600)
    flags = c.reservations.node_flags(T0)
    assert flags == {"n1": NodeStateFlag.RES, "n2": NodeStateFlag.RES | NodeStateFlag.MAINT}
    assert c.reservations.node_flags(T0 + 3600) == {"n3": NodeStateFlag.RES}


# -- access ----------------------------------------------------------------------------------------


def test_who_may_use_a_reservation() -> None:
    c = make_cluster()
    create(c, name="u", node_list="n1", users="root")
    create(c, name="notnobody", node_list="n2", users="-nobody")
    create(c, name="acct", node_list="n3", users=None, accounts="a1")
    book = c.reservations
    nobody = 65534
    assert book.access("u", 0, None) == 0
    assert book.access("u", nobody, None) == RC.ESLURM_RESERVATION_ACCESS
    assert book.access("notnobody", 0, None) == 0
    assert book.access("notnobody", nobody, None) == RC.ESLURM_RESERVATION_ACCESS
    assert book.access("acct", nobody, "a1") == 0
    assert book.access("acct", nobody, None) == RC.ESLURM_RESERVATION_ACCESS
    assert book.access("nope", 0, None) == RC.ESLURM_RESERVATION_INVALID
    assert book.access(None, 0, None) == 0


# -- scheduling ------------------------------------------------------------------------------------


def cycle(c: Cluster, now: int = T0) -> None:
    request_pass(c)
    out = plan(c, now)
    for d in out.starts:
        c.start_job(d.job, d.alloc, now)


def test_jobs_outside_never_start_on_reserved_nodes_in_the_window() -> None:
    c = make_cluster()
    create(c, name="r", node_list="n1,n2", users="root")
    create(c, name="soon", node_list="n3", users="root", start_time=T0 + 600, flags=F.IGN_JOBS)
    short = pending(c, time_limit=5)
    long = pending(c, time_limit=60)
    cycle(c)
    assert short.is_running() and short.nodes == ("n3",)
    assert long.is_pending()
    assert (long.state_reason, long.state_desc) == (
        R.WAIT_NODE_NOT_AVAIL,
        "ReqNodeNotAvail, May be reserved for other job",
    )


def test_a_job_in_a_reservation_runs_only_there_and_only_in_its_window() -> None:
    c = make_cluster()
    create(c, name="r", node_list="n3", users="root")
    create(c, name="later", node_list="n2", users="root", start_time=T0 + 600)
    inside = pending(c, user_id=0, reservation="r")
    early = pending(c, user_id=0, reservation="later")
    cycle(c)
    assert inside.nodes == ("n3",)
    assert early.is_pending() and early.state_reason == R.WAIT_RESERVATION
    cycle(c, T0 + 600)
    assert early.is_running() and early.nodes == ("n2",)


def test_jobs_in_a_full_reservation_wait_without_blocking_the_partition() -> None:
    c = make_cluster()
    create(c, name="r", node_list="n1", users="root")
    first = pending(c, user_id=0, reservation="r", num_tasks=2, tasks_set=True, min_cpus=2)
    second = pending(c, user_id=0, reservation="r", num_tasks=2, tasks_set=True, min_cpus=2)
    other = pending(c)
    cycle(c)
    assert first.is_running() and second.is_pending()
    assert second.state_reason == R.WAIT_RESOURCES
    assert other.is_running()  # the partition was not blocked by the reservation's queue
    third = pending(c, user_id=0, reservation="r")
    cycle(c)
    assert third.state_reason == R.WAIT_PRIORITY


def test_maintenance_over_the_whole_partition() -> None:
    c = make_cluster()
    create(c, name="mnt", node_list="ALL", flags=F.MAINT | F.IGN_JOBS)
    job = pending(c)
    cycle(c)
    assert (job.state_reason, job.state_desc) == (R.WAIT_NODE_NOT_AVAIL, MAINT_DESC)
    f = fence(job, c.partitions["small"], c, T0, T0 + 60)
    assert f.desc == MAINT_DESC


# -- durability -------------------------------------------------------------------------------------


def test_reservations_survive_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.open()
    c = Cluster(parse_text(textwrap.dedent(CONF)), store, clock=lambda: T0)
    resv = c.reservations.create(desc(node_list="n1", flags=F.DAILY, accounts="a"), c, T0)
    c.reservations_changed()
    gone = c.reservations.create(desc(name="gone", node_list="n2"), c, T0)
    c.reservations_changed()
    c.reservations.delete(gone.name, c, T0)
    c.reservations_changed()
    store.close()
    store2 = Store(tmp_path / "s.sqlite")
    again = Cluster(parse_text(textwrap.dedent(CONF)), store2, clock=lambda: T0)
    again.restore(store2.open())
    assert list(again.reservations.items) == [resv.name]
    assert again.reservations.items[resv.name] == resv
    assert again.reservations.create(desc(node_list="n3"), again, T0).name == "root_3"
    store2.close()


def test_to_dict_round_trips() -> None:
    c = make_cluster()
    resv = create(c, node_cnt=(2,), users="root,nobody")
    assert Reservation.from_dict(resv.to_dict()) == resv
    book = Reservations()
    book.restore([resv.to_dict()])
    assert book.items == {resv.name: resv} and book.top_suffix == resv.resv_id
