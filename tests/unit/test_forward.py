"""The forwarder against a fake slurmctld that records what it is sent: flurm applies the caller's
rights before anything leaves (a refused request is never sent), sends what slurmctld should act on,
and hands slurmctld's answer back unchanged. (Which reads may be forwarded: test_forward_reads.py;
operator-only requests: test_modes.py.)"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from flurm.auth.authenticator import Identity
from flurm.config import parse_text
from flurm.controller.jobs import JobOps
from flurm.migration.forward import Forwarder
from flurm.protocol.constants import AUTH_PLUGIN_MUNGE, NO_VAL, MsgType, SlurmRC
from flurm.protocol.frame import Frame, Header
from flurm.protocol.messages.base import Body, decode_body, encode_body
from flurm.protocol.messages.job_control import JobStepKill
from flurm.protocol.messages.job_desc import JobDesc
from flurm.protocol.messages.job_info import JobInfoRequest
from flurm.rpc.transport import Reply, Request, Response
from flurm.state.cluster import Cluster
from flurm.state.model import Job

HEAD = """ClusterName=test
SlurmctldHost=ctl(127.0.0.1)
NodeName=n1 CPUs=2 RealMemory=1000
PartitionName=debug Nodes=ALL Default=YES
"""
USER, OTHER, ROOT = 1000, 1001, 0
NOW = 1_795_696_400
ANSWER = b"\x00\x00\x00\x2a slurmctld's own bytes"


@dataclass
class FakeSource:
    sent: list[tuple[int, bytes]] = field(default_factory=list)

    async def forward(self, msg_type: int, body: bytes) -> Response:
        self.sent.append((msg_type, body))
        return Response(MsgType.RESPONSE_SLURM_RC, None, Identity(ROOT, ROOT), ANSWER)


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

    def send(self, msg_type: int, body: Body, uid: int) -> Reply:
        raw = encode_body(body)
        frame = Frame(Header(msg_type, body_length=len(raw)), AUTH_PLUGIN_MUNGE, None, raw)
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
