"""The forwarder against a fake slurmctld that records what it is sent: flurm applies the caller's
rights before anything leaves (a refused request is never sent), sends what slurmctld should act on,
and hands slurmctld's answer back unchanged. (Which reads may be forwarded: test_forward_reads.py;
operator-only requests: test_modes.py.)"""

from __future__ import annotations

import asyncio
import errno
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from flurm.auth import SLURM_AUTH_NOBODY
from flurm.auth.authenticator import Identity
from flurm.config import parse_text
from flurm.controller.jobs import JobOps
from flurm.migration.forward import RULES, Forwarder
from flurm.modes import OPERATION_OF, POLICY, Action, Mode
from flurm.protocol.constants import (
    AUTH_PLUGIN_MUNGE,
    NO_VAL,
    NO_VAL64,
    PROTOCOL_VERSION,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    MsgType,
    SlurmRC,
)
from flurm.protocol.frame import Frame, Header
from flurm.protocol.messages import base
from flurm.protocol.messages.base import Body, Message, decode_body, encode_body
from flurm.protocol.messages.common import Opaque, ReturnCode
from flurm.protocol.messages.credential import StepId
from flurm.protocol.messages.crontab import CrontabRequest
from flurm.protocol.messages.job_control import CompleteJobAllocation, JobStepKill
from flurm.protocol.messages.job_desc import JobDesc
from flurm.protocol.messages.job_info import JobIdRequest, JobInfoRequest
from flurm.protocol.messages.job_lookups import (
    DeletePartitionRequest,
    FsDampeningFactorRequest,
    NodeChangeRequest,
    SbcastCredRequest,
    StepLayoutRequest,
    UpdateStepRequest,
)
from flurm.protocol.messages.reports import UpdateFrontEndRequest
from flurm.protocol.messages.reservations import ReservationDesc, ReservationName, ReserveFlag
from flurm.protocol.messages.slurmd import JobRequeue
from flurm.protocol.messages.stats import STAT_COMMAND_GET, STAT_COMMAND_RESET, StatsInfoRequest
from flurm.protocol.messages.steps import JobAllocInfoRequest, JobStepCreateRequest
from flurm.protocol.messages.triggers import Trigger, TriggerMessage
from flurm.protocol.wire import Reader, Writer
from flurm.rpc.transport import Reply, Request, Response
from flurm.state.cluster import Cluster
from flurm.state.model import Job
from flurm.state.reservations import Reservation

HEAD = """ClusterName=test
SlurmctldHost=ctl(127.0.0.1)
NodeName=n1 CPUs=2 RealMemory=1000
PartitionName=debug Nodes=ALL Default=YES
"""
USER, OTHER, ROOT = 1000, 1001, 0
NOW = 1_795_696_400
ANSWER = b"\x00\x00\x00\x2a slurmctld's own bytes"
MISSING = SlurmRC.ESLURM_USER_ID_MISSING


@dataclass
class FakeSource:
    sent: list[tuple[int, bytes]] = field(default_factory=list)
    triggers: tuple[Trigger, ...] = ()  # what it answers REQUEST_TRIGGER_GET with
    version: int = SLURM_22_05_PROTOCOL_VERSION  # its release
    answer: tuple[int, bytes] = (MsgType.RESPONSE_SLURM_RC, ANSWER)  # (type, body in its release)

    async def release(self) -> int:
        return self.version

    async def request(self, msg_type: int, body: Body) -> Response:
        assert msg_type == MsgType.REQUEST_TRIGGER_GET
        answer = TriggerMessage(self.triggers)
        raw = encode_body(answer, self.version)
        return Response(MsgType.RESPONSE_TRIGGER_GET, answer, Identity(ROOT, ROOT), raw)

    async def forward(self, msg_type: int, body: bytes) -> Response:
        self.sent.append((msg_type, body))
        return Response(self.answer[0], None, Identity(ROOT, ROOT), self.answer[1])


@dataclass
class FakeMirror:
    passes: int = 0

    async def sync(self, *, full: bool = False) -> None:
        self.passes += 1


class Setup:
    def __init__(self, extra: str = "") -> None:
        config = parse_text(HEAD + extra)
        self.cluster = Cluster(config, None, lambda: NOW)
        ctl: Any = SimpleNamespace(
            config=config, cluster=self.cluster, now=lambda: NOW, is_admin=lambda uid: uid == ROOT
        )
        ctl.jobs = JobOps(ctl)
        self.source = FakeSource()
        self.mirror = FakeMirror()
        self.forwarder = Forwarder(ctl, self.source, self.mirror)  # type: ignore[arg-type]

    def job(self, job_id: int, owner: int) -> Job:
        job = Job(
            job_id=job_id, name="j", user_id=owner, group_id=owner, partition="debug", script="#!/bin/sh"
        )
        job.priority = 100  # not held
        self.cluster.jobs[job_id] = job
        return job

    def send(
        self, msg_type: int, body: Any, uid: int, raw: bytes | None = None, version: int = PROTOCOL_VERSION
    ) -> Reply:
        """``body`` as flurm decoded it; ``raw``: the bytes that came (default: ``body`` encoded in
        ``version``)."""
        raw = encode_body(body, version) if raw is None else raw
        frame = Frame(Header(msg_type, version, body_length=len(raw)), AUTH_PLUGIN_MUNGE, None, raw)
        req = Request(msg_type, body, Identity(uid, uid), frame, ("127.0.0.1", 4000))
        return asyncio.run(self.forwarder.forward(req))


def rc(reply: Reply) -> int | None:
    return getattr(reply.body, "rc", None)


def submission(**fields: Any) -> JobDesc:
    return JobDesc(script="#!/bin/sh\ntrue\n", partition="debug", **fields)


def test_a_plain_users_forbidden_field_is_refused_before_anything_is_sent() -> None:
    s = Setup()
    for desc, expected in [
        (submission(user_id=OTHER), SlurmRC.ESLURM_USER_ID_MISSING),  # to run as someone else
        (submission(admin_comment="mine"), SlurmRC.ESLURM_ACCESS_DENIED),
        (submission(job_id=77), SlurmRC.ESLURM_INVALID_JOB_ID),  # to choose the job id
    ]:
        reply = s.send(MsgType.REQUEST_SUBMIT_BATCH_JOB, desc, USER)
        assert rc(reply) == expected, desc
    assert s.source.sent == []
    assert s.forwarder.refused == 3 and s.forwarder.forwarded == 0
    assert s.mirror.passes == 0


def test_an_allowed_submission_is_sent_as_the_caller_and_the_answer_comes_back_unchanged() -> None:
    s = Setup()
    reply = s.send(MsgType.REQUEST_SUBMIT_BATCH_JOB, submission(priority=5000), USER)
    assert reply.raw_body == ANSWER and reply.msg_type == MsgType.RESPONSE_SLURM_RC
    [(msg_type, raw)] = s.source.sent
    assert msg_type == MsgType.REQUEST_SUBMIT_BATCH_JOB
    sent = decode_body(msg_type, raw)
    assert isinstance(sent, JobDesc)
    # slurmctld sees SlurmUser: the job must say who runs it, and a user's priority is dropped
    assert (sent.user_id, sent.group_id, sent.priority) == (USER, USER, NO_VAL)
    assert s.mirror.passes == 1  # the caller sees its own job at once


def test_an_operator_request_goes_as_it_came() -> None:
    s = Setup()
    desc = submission(user_id=OTHER, group_id=OTHER, priority=5000)
    raw = encode_body(desc)
    s.send(MsgType.REQUEST_SUBMIT_BATCH_JOB, desc, ROOT)
    assert s.source.sent == [(MsgType.REQUEST_SUBMIT_BATCH_JOB, raw)]


def test_a_plain_user_cancels_only_their_own_jobs() -> None:
    s = Setup()
    s.job(10, USER)
    s.job(11, OTHER)
    refused = s.send(MsgType.REQUEST_KILL_JOB, JobStepKill(sjob_id="11", signal=9), USER)
    assert rc(refused) == SlurmRC.ESLURM_ACCESS_DENIED and s.source.sent == []
    unknown = s.send(MsgType.REQUEST_KILL_JOB, JobStepKill(sjob_id="12", signal=9), USER)
    assert rc(unknown) == SlurmRC.ESLURM_INVALID_JOB_ID and s.source.sent == []
    assert s.mirror.passes == 2  # each decision on the jobs' latest state: a mirror pass before it
    own = JobStepKill(sjob_id="10", signal=9)
    s.send(MsgType.REQUEST_KILL_JOB, own, USER)
    assert s.source.sent == [(MsgType.REQUEST_KILL_JOB, encode_body(own))]


def test_a_plain_users_hold_is_sent_as_a_user_hold() -> None:
    s = Setup()
    s.job(10, USER)
    s.send(MsgType.REQUEST_UPDATE_JOB, JobDesc(job_id_str="10", priority=0), USER)
    [(_, raw)] = s.source.sent
    sent = decode_body(MsgType.REQUEST_UPDATE_JOB, raw)
    assert isinstance(sent, JobDesc) and sent.alloc_sid == 2 and sent.priority == 0


def test_rolled_back_reads_are_forwarded_as_they_came_unless_private() -> None:
    read = JobInfoRequest()
    s = Setup()
    reply = s.send(MsgType.REQUEST_JOB_INFO, read, USER)
    assert reply.raw_body == ANSWER
    assert s.source.sent == [(MsgType.REQUEST_JOB_INFO, encode_body(read))]

    private = Setup("PrivateData=jobs\n")
    reply = private.send(MsgType.REQUEST_JOB_INFO, read, USER)
    assert rc(reply) == SlurmRC.ESLURM_ACCESS_DENIED and private.source.sent == []
    private.send(MsgType.REQUEST_JOB_INFO, read, ROOT)  # an operator's read shows everything anyway
    assert private.source.sent == [(MsgType.REQUEST_JOB_INFO, encode_body(read))]


# -- one rule per request type: slurmctld 22.05's answer to a plain user (proc_req.c) ---------------
SLURMD_OWN = (MsgType.MESSAGE_NODE_REGISTRATION_STATUS,)
FAIL_CLOSED = {  # no codec yet to check them with: refused to a plain user
    MsgType.REQUEST_HET_JOB_ALLOCATION,
    MsgType.REQUEST_SUBMIT_BATCH_HET_JOB,
    MsgType.REQUEST_AUTH_TOKEN,
    MsgType.REQUEST_KILL_JOBS,
    MsgType.REQUEST_JOB_STATE,
    MsgType.REQUEST_NODE_ALIAS_ADDRS,
    MsgType.REQUEST_STEP_BY_CONTAINER_ID,
    MsgType.REQUEST_RESOURCE_LAYOUT,
    MsgType.REQUEST_SBCAST_CRED_NO_JOB,
}


def test_every_type_flurm_may_forward_has_a_rule() -> None:
    forwarded = {
        t
        for t, op in OPERATION_OF.items()
        if Action.FORWARD in (POLICY[Mode.SHADOW][op], POLICY[Mode.ROLLED_BACK][op]) and t != 0
    }
    assert forwarded - set(RULES) == FAIL_CLOSED
    s = Setup()
    for msg_type in FAIL_CLOSED:
        reply = s.send(msg_type, Opaque(b"\0" * 8), USER)
        assert rc(reply) == SlurmRC.ESLURM_ACCESS_DENIED, msg_type
    assert s.source.sent == []


@pytest.mark.parametrize(
    ("msg_type", "body", "expected"),
    [
        (MsgType.REQUEST_DELETE_PARTITION, DeletePartitionRequest("debug"), SlurmRC.ESLURM_USER_ID_MISSING),
        (MsgType.REQUEST_CREATE_RESERVATION, ReservationDesc(name="r"), SlurmRC.ESLURM_USER_ID_MISSING),
        (MsgType.REQUEST_UPDATE_FRONT_END, UpdateFrontEndRequest("fe"), SlurmRC.ESLURM_USER_ID_MISSING),
        (MsgType.REQUEST_CREATE_NODE, NodeChangeRequest(node_names="n9"), SlurmRC.ESLURM_USER_ID_MISSING),
        (MsgType.REQUEST_DELETE_NODE, NodeChangeRequest(node_names="n1"), SlurmRC.ESLURM_USER_ID_MISSING),
        (MsgType.REQUEST_SET_FS_DAMPENING_FACTOR, FsDampeningFactorRequest(3), errno.EACCES),
        (MsgType.REQUEST_TRIGGER_SET, TriggerMessage((Trigger(res_type=2),)), SlurmRC.ESLURM_ACCESS_DENIED),
        (MsgType.REQUEST_TRIGGER_PULL, TriggerMessage((Trigger(),)), SlurmRC.ESLURM_USER_ID_MISSING),
        (MsgType.REQUEST_REBOOT_NODES, Opaque(b"\0" * 12), errno.EACCES),
        (MsgType.REQUEST_TOP_JOB, Opaque(b"\0" * 12), SlurmRC.ESLURM_ACCESS_DENIED),
    ],
)
def test_operator_only_requests_get_slurmctlds_refusal(msg_type: int, body: Body, expected: int) -> None:
    s = Setup()
    assert rc(s.send(msg_type, body, USER)) == expected
    assert s.source.sent == []
    s.send(msg_type, body, ROOT)
    assert [t for t, _ in s.source.sent] == [msg_type]  # an operator's goes on


@dataclass(frozen=True)
class NamedJob:
    """A body as a job-control codec decodes it (its job id fields)."""

    job_id: int = NO_VAL
    job_id_str: str | None = None


def test_suspend_looks_the_job_up_before_refusing() -> None:
    s = Setup()
    s.job(10, USER)
    raw = b"\0" * 10
    assert (
        rc(s.send(MsgType.REQUEST_SUSPEND, NamedJob(job_id_str="10"), USER, raw))
        == SlurmRC.ESLURM_ACCESS_DENIED
    )
    assert (
        rc(s.send(MsgType.REQUEST_SUSPEND, NamedJob(job_id=77), USER, raw)) == SlurmRC.ESLURM_INVALID_JOB_ID
    )
    assert rc(s.send(MsgType.REQUEST_SUSPEND, Opaque(raw), USER)) == SlurmRC.ESLURM_ACCESS_DENIED
    assert s.source.sent == []


@pytest.mark.parametrize(
    ("msg_type", "own", "other", "refusal"),
    [
        (MsgType.REQUEST_JOB_REQUEUE, JobRequeue(0, "10"), JobRequeue(0, "11"), SlurmRC.ESLURM_ACCESS_DENIED),
        (MsgType.REQUEST_UPDATE_JOB_STEP, UpdateStepRequest(10, 0, 5), UpdateStepRequest(11, 0, 5), MISSING),
        (
            MsgType.REQUEST_COMPLETE_JOB_ALLOCATION,
            CompleteJobAllocation(10),
            CompleteJobAllocation(11),
            MISSING,
        ),
        (
            MsgType.REQUEST_JOB_SBCAST_CRED,
            SbcastCredRequest(StepId(10)),
            SbcastCredRequest(StepId(11)),
            MISSING,
        ),
        (MsgType.REQUEST_BATCH_SCRIPT, JobIdRequest(10), JobIdRequest(11), MISSING),
        (
            MsgType.REQUEST_JOB_NOTIFY,
            SimpleNamespace(step_id=StepId(10)),
            SimpleNamespace(step_id=StepId(11)),
            MISSING,
        ),
    ],
)
def test_a_plain_user_acts_on_their_own_jobs_only(msg_type: int, own: Any, other: Any, refusal: int) -> None:
    s = Setup()
    s.job(10, USER)
    s.job(11, OTHER)
    raw = b"\0" * 16
    assert rc(s.send(msg_type, other, USER, raw)) == refusal and s.source.sent == []
    unknown = (
        replace(other, job_id=99) if hasattr(other, "job_id") and not isinstance(other, JobRequeue) else None
    )
    if unknown is not None:
        assert rc(s.send(msg_type, unknown, USER, raw)) == SlurmRC.ESLURM_INVALID_JOB_ID
    # a body flurm cannot read (its codec not there yet): refused as someone else's
    assert rc(s.send(msg_type, Opaque(raw), USER)) == refusal and s.source.sent == []
    s.send(msg_type, own, USER, raw)
    assert s.source.sent == [(msg_type, raw)]


def test_allocation_lookups_are_anyones_unless_jobs_are_private() -> None:
    for msg_type, body in [
        (MsgType.REQUEST_JOB_ALLOCATION_INFO, JobAllocInfoRequest(11)),
        (MsgType.REQUEST_HET_JOB_ALLOC_INFO, JobAllocInfoRequest(11)),
        (MsgType.REQUEST_STEP_LAYOUT, StepLayoutRequest(StepId(11, 0))),
    ]:
        open_ = Setup()
        open_.job(11, OTHER)
        open_.send(msg_type, body, USER)
        assert [t for t, _ in open_.source.sent] == [msg_type]
        private = Setup("PrivateData=jobs\n")
        private.job(11, OTHER)
        assert rc(private.send(msg_type, body, USER)) == SlurmRC.ESLURM_ACCESS_DENIED
        assert private.source.sent == []
    s = Setup()
    s.job(11, OTHER)
    s.send(MsgType.REQUEST_JOB_READY, JobIdRequest(11), USER)  # job_node_ready(): anyone's
    assert [t for t, _ in s.source.sent] == [MsgType.REQUEST_JOB_READY]


def test_a_step_runs_as_the_caller_in_their_own_job() -> None:
    s = Setup()
    s.job(10, USER)
    s.job(11, OTHER)
    as_other = JobStepCreateRequest(StepId(10), user_id=OTHER)
    assert rc(s.send(MsgType.REQUEST_JOB_STEP_CREATE, as_other, USER)) == MISSING
    in_other = JobStepCreateRequest(StepId(11), user_id=USER)
    assert rc(s.send(MsgType.REQUEST_JOB_STEP_CREATE, in_other, USER)) == SlurmRC.ESLURM_ACCESS_DENIED
    assert s.source.sent == []
    s.send(MsgType.REQUEST_JOB_STEP_CREATE, JobStepCreateRequest(StepId(10), user_id=USER), USER)
    assert [t for t, _ in s.source.sent] == [MsgType.REQUEST_JOB_STEP_CREATE]
    # from 24.11 srun leaves the user to the controller (SLURM_AUTH_NOBODY): the caller's own step
    nobody = JobStepCreateRequest(StepId(10), user_id=SLURM_AUTH_NOBODY)
    s.send(MsgType.REQUEST_JOB_STEP_CREATE, nobody, USER, version=SLURM_24_11_PROTOCOL_VERSION)
    assert [t for t, _ in s.source.sent] == [MsgType.REQUEST_JOB_STEP_CREATE] * 2
    assert rc(s.send(MsgType.REQUEST_JOB_STEP_CREATE, nobody, USER)) == MISSING  # 22.05: uid 99's step
    nobody_elsewhere = JobStepCreateRequest(StepId(11), user_id=SLURM_AUTH_NOBODY)
    reply = s.send(
        MsgType.REQUEST_JOB_STEP_CREATE, nobody_elsewhere, USER, version=SLURM_24_11_PROTOCOL_VERSION
    )
    assert rc(reply) == SlurmRC.ESLURM_ACCESS_DENIED


def test_sdiag_but_not_its_reset() -> None:
    s = Setup()
    reset = StatsInfoRequest(STAT_COMMAND_RESET)
    assert rc(s.send(MsgType.REQUEST_STATS_INFO, reset, USER)) == SlurmRC.ESLURM_ACCESS_DENIED
    assert s.source.sent == []
    s.send(MsgType.REQUEST_STATS_INFO, StatsInfoRequest(STAT_COMMAND_GET), USER)
    assert [t for t, _ in s.source.sent] == [MsgType.REQUEST_STATS_INFO]


def test_only_the_callers_own_crontab() -> None:
    disabled, enabled = Setup(), Setup("ScronParameters=enable\n")
    assert rc(disabled.send(MsgType.REQUEST_CRONTAB, CrontabRequest(OTHER), USER)) == SlurmRC.SLURM_ERROR
    assert rc(enabled.send(MsgType.REQUEST_CRONTAB, CrontabRequest(OTHER), USER)) == MISSING
    assert enabled.source.sent == []
    enabled.send(MsgType.REQUEST_CRONTAB, CrontabRequest(USER), USER)
    assert [t for t, _ in enabled.source.sent] == [MsgType.REQUEST_CRONTAB]
    # an update: refused (no codec to check whose crontab it is) but as slurmctld where scrontab is off
    update = Opaque(b"\0" * 16)
    assert rc(disabled.send(MsgType.REQUEST_UPDATE_CRONTAB, update, USER)) == SlurmRC.SLURM_ERROR
    assert rc(enabled.send(MsgType.REQUEST_UPDATE_CRONTAB, update, USER)) == SlurmRC.ESLURM_ACCESS_DENIED
    assert [t for t, _ in enabled.source.sent] == [MsgType.REQUEST_CRONTAB]


def test_slurmds_configless_files_are_not_fetched_through_flurm() -> None:
    # slurmctld gives a plain user the clients' files, slurmd's only to SlurmUser (flurm's signature)
    disabled = Setup()
    slurmd, client = (1).to_bytes(4, "big"), (0).to_bytes(4, "big")
    configless = Setup("SlurmctldParameters=enable_configless\n")
    assert rc(configless.send(MsgType.REQUEST_CONFIG, Opaque(slurmd), USER)) == MISSING
    assert (
        rc(disabled.send(MsgType.REQUEST_CONFIG, Opaque(slurmd), USER)) == SlurmRC.ESLURM_CONFIGLESS_DISABLED
    )
    assert configless.source.sent == []
    configless.send(MsgType.REQUEST_CONFIG, Opaque(client), USER)
    assert configless.source.sent == [(MsgType.REQUEST_CONFIG, client)]


def reservation_setup(extra: str = "SlurmctldParameters=user_resv_delete\n") -> Setup:
    s = Setup(extra)
    resv = Reservation(name="mine", resv_id=1, start_time=NOW, end_time=NOW + 3600, user_ids=(USER,))
    s.cluster.reservations.items["mine"] = resv
    s.cluster.reservations.items["theirs"] = replace(resv, name="theirs", resv_id=2, user_ids=(OTHER,))
    return s


def test_a_listed_user_may_only_skip_or_delete_a_reservation_with_user_resv_delete() -> None:
    update = MsgType.REQUEST_UPDATE_RESERVATION
    delete = MsgType.REQUEST_DELETE_RESERVATION
    for s in (reservation_setup(""), reservation_setup("AccountingStorageEnforce=associations\n")):
        assert rc(s.send(delete, ReservationName("mine"), USER)) == MISSING
        assert rc(s.send(update, ReservationDesc(name="mine", flags=ReserveFlag.SKIP), USER)) == MISSING
        assert s.source.sent == []
    s = reservation_setup()
    assert rc(s.send(delete, ReservationName("theirs"), USER)) == MISSING
    assert rc(s.send(delete, ReservationName("nosuch"), USER)) == MISSING
    assert rc(s.send(update, ReservationDesc(name="theirs", flags=ReserveFlag.SKIP), USER)) == MISSING
    assert rc(s.send(update, ReservationDesc(name="mine", flags=ReserveFlag.MAINT), USER)) == MISSING
    assert s.source.sent == []
    # slurmctld keeps only the skip of a user's update (and an update whose flags are unset, NO_VAL64)
    for flags in (ReserveFlag.SKIP | ReserveFlag.MAINT, NO_VAL64):
        s.send(update, ReservationDesc(name="mine", flags=flags, duration=5, users="root"), USER)
        [(msg_type, raw)] = s.source.sent
        assert decode_body(msg_type, raw) == ReservationDesc(name="mine", flags=ReserveFlag.SKIP)
        s.source.sent.clear()
    s.send(delete, ReservationName("mine"), USER)
    assert s.source.sent == [(delete, encode_body(ReservationName("mine")))]


def test_a_plain_user_clears_only_their_own_triggers() -> None:
    clear = MsgType.REQUEST_TRIGGER_CLEAR
    s = Setup()
    s.source.triggers = (
        Trigger(trig_id=1, res_type=2, user_id=ROOT),
        Trigger(trig_id=2, res_type=1, res_id="10", user_id=USER),
    )
    for want, expected in [
        (Trigger(trig_id=1), SlurmRC.ESLURM_ACCESS_DENIED),  # root's
        (Trigger(trig_id=9), errno.ESRCH),  # none such
        (Trigger(trig_id=2, user_id=OTHER), errno.ESRCH),
        (Trigger(res_type=1, res_id="x"), SlurmRC.ESLURM_INVALID_JOB_ID),
        (Trigger(), errno.EINVAL),  # neither an id nor a user
    ]:
        assert rc(s.send(clear, TriggerMessage((want,)), USER)) == expected, want
    assert s.source.sent == []
    s.send(clear, TriggerMessage((Trigger(res_type=1, res_id="10"),)), USER)
    [(msg_type, raw)] = s.source.sent
    # sent on naming the caller: slurmctld then removes none but theirs
    assert decode_body(msg_type, raw) == TriggerMessage((Trigger(res_type=1, res_id="10", user_id=USER),))


# -- releases: a client of one release writing through flurm to a slurmctld of another -------------
V22, V24 = SLURM_22_05_PROTOCOL_VERSION, SLURM_24_11_PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class Grown(Message):
    """A request body that gained a field in 24.11 (as many did)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset({V24})

    job_id: int = 0
    since_24_11: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.u32(self.job_id)
        if version >= V24:
            w.u32(self.since_24_11)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Grown:
        job_id = r.u32()
        return cls(job_id, r.u32() if version >= V24 else 0)


def send_in(s: Setup, body: Body, client: int, source: int, monkeypatch: pytest.MonkeyPatch) -> Reply:
    """An administrator's request (forwarded as it came where the releases agree) of type
    REQUEST_UPDATE_JOB standing for any body that gained a field."""
    monkeypatch.setitem(base._REGISTRY, MsgType.REQUEST_UPDATE_JOB, type(body))
    s.source.version = source
    raw = encode_body(body, client)
    frame = Frame(Header(MsgType.REQUEST_UPDATE_JOB, version=client, body_length=len(raw)), 0, None, raw)
    req = Request(MsgType.REQUEST_UPDATE_JOB, body, Identity(ROOT, ROOT), frame, ("127.0.0.1", 4000))
    return asyncio.run(s.forwarder.forward(req))


def test_the_same_release_passes_bytes_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Setup()
    reply = send_in(s, Grown(7, 3), V24, V24, monkeypatch)
    assert s.source.sent == [(MsgType.REQUEST_UPDATE_JOB, encode_body(Grown(7, 3), V24))]
    assert reply.raw_body == ANSWER and reply.raw_version == V24  # answered in the client's release


def test_another_release_gets_the_request_re_encoded_when_nothing_is_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = Setup()
    s.source.answer = (MsgType.RESPONSE_SLURM_RC, encode_body(ReturnCode(0), V22))
    reply = send_in(s, Grown(7), V24, V22, monkeypatch)
    assert s.source.sent == [(MsgType.REQUEST_UPDATE_JOB, encode_body(Grown(7), V22))]
    # the answer, decoded in the source's release, goes out in the client's (the transport encodes it)
    assert reply.body == ReturnCode(0) and reply.raw_body is None


def test_another_release_refuses_what_the_source_has_no_field_for(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Setup()
    reply = send_in(s, Grown(7, since_24_11=3), V24, V22, monkeypatch)
    assert s.source.sent == []  # nothing left flurm
    assert rc(reply) == SlurmRC.SLURM_PROTOCOL_VERSION_ERROR
    message = getattr(reply.body, "message", "")
    assert "SLURM 24.11 client" in message and "SLURM 22.05 slurmctld" in message and "no field" in message


def test_another_release_refuses_a_body_flurm_has_no_codec_of_both_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = Setup()
    # an older client, a source whose release the body's codec does not speak
    monkeypatch.setattr(Grown, "NEWER_LAYOUTS", frozenset())
    reply = send_in(s, Grown(7), V22, V24, monkeypatch)
    assert s.source.sent == [] and rc(reply) == SlurmRC.SLURM_PROTOCOL_VERSION_ERROR
    # and a body flurm cannot read at all
    reply = send_in(s, Opaque(b"\x00\x00\x00\x07"), V22, V24, monkeypatch)
    assert s.source.sent == [] and rc(reply) == SlurmRC.SLURM_PROTOCOL_VERSION_ERROR
