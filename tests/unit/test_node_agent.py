"""The node agent without daemons: registrations captured from a real slurmd 22.05.8
(tests/golden/slurmd) are fed to it, and its answer, node states and reconciliation are checked.

The golden cluster had one node of 2 CPUs and 1000 MiB; slurmctld answered its 1002 with 1024 and
eight TRES (cpu 2, mem 1000, node 1, billing 2): flurm must send the same bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from flurm.auth.authenticator import FakeAuthenticator
from flurm.config import parse_text
from flurm.daemon import Daemon
from flurm.protocol.constants import (
    NO_VAL,
    SLURM_BATCH_SCRIPT,
    JobState,
    MsgType,
    NodeState,
    NodeStateFlag,
    SlurmRC,
)
from flurm.protocol.frame import Frame, FrameDecoder
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.credential import StepId
from flurm.protocol.messages.slurmd import NodeRegistrationStatus
from flurm.state.cluster import Allocation
from flurm.state.model import Job

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "slurmd"
CONF = """
ClusterName=localtest
SlurmctldHost=localhost
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdTimeout=30
NodeName=compute-node-1 NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=2 Sockets=1 CoresPerSocket=2 \
ThreadsPerCore=1 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
NOW = 1_795_696_400


def frames(name: str) -> list[Frame]:
    dec = FrameDecoder()
    dec.feed((GOLDEN / f"{name}.bin").read_bytes())
    out = []
    while (f := dec.next_frame()) is not None:
        out.append(f)
    return out


def registration(name: str) -> NodeRegistrationStatus:
    f = frames(f"{name}-c2s")[0]
    body = decode_body(f.msg_type, f.body, f.version)
    assert isinstance(body, NodeRegistrationStatus)
    return body


class Harness:
    """A controller that is not started: its clock is ours, node RPCs are recorded, not sent."""

    def __init__(self, tmp: Path, extra: str = "") -> None:
        self.now = float(NOW)
        daemon = Daemon(parse_text(CONF + extra), FakeAuthenticator(), state_dir=tmp, clock=lambda: self.now)
        self.ctl = daemon.controller
        self.agent = daemon.node_agent
        self.sent: list[str] = []
        self.agent._spawn = self._record  # type: ignore[method-assign]

    def _record(self, coro: Coroutine[Any, Any, None]) -> None:
        self.sent.append(coro.__qualname__.rsplit(".", 1)[-1])
        coro.close()

    @property
    def node(self) -> Any:
        return self.ctl.cluster.nodes["compute-node-1"]

    def running_job(self, job_id: int, *, requeue: int = 1, started: int = NOW) -> Job:
        cluster = self.ctl.cluster
        job = Job(
            job_id=job_id,
            name="j",
            user_id=0,
            group_id=0,
            partition="debug",
            script="#!/bin/sh",
            requeue=requeue,
        )
        cluster.jobs[job_id] = job
        cluster.start_job(job, Allocation(("compute-node-1",), ((0,),), (1,), (0,)), started)
        return job


def run(fn: Callable[[], None]) -> None:
    async def main() -> None:
        fn()
        await asyncio.sleep(0)

    asyncio.run(main())


def test_startup_registration_gets_slurmctlds_answer(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    msg = registration("reg_1002_startup")
    assert msg.flags & 0x2 and msg.steps == ()
    reply_frame = frames("reg_1002_startup-s2c")[0]

    def check() -> None:
        assert h.node.base_state == NodeState.UNKNOWN and not h.node.registered
        reply = h.agent.registration(msg, uid=0)
        assert reply.msg_type == MsgType.RESPONSE_NODE_REGISTRATION == reply_frame.msg_type
        assert encode_body(reply.body) == reply_frame.body  # type: ignore[arg-type]
        node = h.node
        assert node.registered and node.base_state == NodeState.IDLE and node.is_responding()
        assert (node.version, node.arch, node.cpu_load, node.free_mem) == ("22.05.8", "x86_64", 35, 23754)
        assert node.boot_time == NOW - msg.up_time and node.last_response == NOW
        assert h.sent == []

    run(check)


def test_registration_without_the_response_flag_gets_rc(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    msg = replace(registration("reg_1002_startup"), flags=0)
    run(lambda: _expect_rc(h, msg, 0, uid=0))


def test_registration_by_a_user_is_refused(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    msg = registration("reg_1002_startup")

    def check() -> None:
        _expect_rc(h, msg, SlurmRC.ESLURM_USER_ID_MISSING, uid=1000)
        assert not h.node.registered

    run(check)


def _expect_rc(h: Harness, msg: NodeRegistrationStatus, rc: int, uid: int) -> None:
    reply = h.agent.registration(msg, uid=uid)
    assert reply.msg_type == MsgType.RESPONSE_SLURM_RC
    assert getattr(reply.body, "rc", None) == rc


def test_unknown_steps_are_quarantined_not_aborted(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    msg = registration("reg_1002_running_job")  # slurmctld had restarted: job 4's batch step runs
    assert msg.steps == (StepId(4, SLURM_BATCH_SCRIPT, NO_VAL),)

    def check() -> None:
        reply = h.agent.registration(msg, uid=0)
        assert reply.msg_type == MsgType.RESPONSE_NODE_REGISTRATION
        assert h.agent.quarantine == {"compute-node-1": msg.steps}
        assert h.sent == []  # no REQUEST_ABORT_JOB, no TERMINATE
        # once the node no longer reports it, the quarantine is lifted
        h.agent.registration(registration("reg_1002_after_1001"), uid=0)
        assert h.agent.quarantine == {}

    run(check)


def test_steps_of_known_jobs_are_reconciled(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    base = registration("reg_1002_running_job")

    def check() -> None:
        running = h.running_job(4)
        h.agent.registration(base, uid=0)
        assert h.sent == [] and h.agent.quarantine == {}
        assert h.node.base_state == NodeState.ALLOCATED and running.is_running()
        # a step of a job flurm requeued is aborted on the node
        running.state = JobState.PENDING
        h.agent.registration(base, uid=0)
        assert h.sent == ["_send_abort"]
        # a step of a job that ended long ago is terminated there
        h.sent.clear()
        running.state = JobState.COMPLETE
        running.end_time = NOW - 60
        h.agent.registration(base, uid=0)
        assert h.sent == ["_send_kill"]

    run(check)


def test_a_completing_job_is_terminated_again_when_its_node_registers(tmp_path: Path) -> None:
    """The epilog's MESSAGE_EPILOG_COMPLETE may have been lost while flurm restarted: ask again."""
    h = Harness(tmp_path)

    def check() -> None:
        job = h.running_job(9)
        job.state = JobState.COMPLETE
        h.ctl.cluster.mark_completing(job)
        h.agent.registration(registration("reg_1002_after_1001"), uid=0)
        assert h.sent == ["_send_kill"]
        # while that kill is on its way, another registration does not send a second one
        h.agent.registration(registration("reg_1002_after_1001"), uid=0)
        assert h.sent == ["_send_kill"]

    run(check)


def test_a_batch_job_its_node_no_longer_reports_is_requeued(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    empty = registration("reg_1002_after_1001")

    def check() -> None:
        h.agent.registration(empty, uid=0)
        young = h.running_job(5, started=NOW - 5)
        old = h.running_job(6, started=NOW - 3600, requeue=0)
        h.agent._batch_seen.clear()
        h.agent._epoch = NOW - 3600
        h.agent.registration(empty, uid=0)
        assert young.is_running()  # within BatchStartTimeout of its start
        assert old.state & 0xFF == JobState.NODE_FAIL and old.exit_code == 1

    run(check)


@pytest.mark.parametrize(("ret2service", "back"), [(0, False), (1, True), (2, True)])
def test_a_down_node_returns_as_return_to_service_says(tmp_path: Path, ret2service: int, back: bool) -> None:
    h = Harness(tmp_path, f"ReturnToService={ret2service}\n")
    msg = registration("reg_1002_after_1001")

    def check() -> None:
        h.agent.registration(msg, uid=0)
        h.now += 31
        h.agent.tick(int(h.now))  # silent for more than SlurmdTimeout=30
        node = h.node
        assert node.base_state == NodeState.DOWN and node.flags & NodeStateFlag.NO_RESPOND
        assert node.reason == "Not responding" and node.reason_time == int(h.now)
        h.now += 5
        h.agent.registration(msg, uid=0)
        assert node.is_responding()
        if back:
            assert node.base_state == NodeState.IDLE and node.reason is None
        else:
            assert node.base_state == NodeState.DOWN and node.reason == "Not responding"

    run(check)


def test_a_node_an_admin_set_down_stays_down_until_its_slurmd_is_heard_again(tmp_path: Path) -> None:
    """scontrol update State=DOWN with ReturnToService=2: no registration is asked for (the slurmd
    would return it at once); it is pinged when due, and its answer returns it (node_did_resp)."""
    h = Harness(tmp_path, "ReturnToService=2\n")

    def check() -> None:
        h.agent.registration(registration("reg_1002_after_1001"), uid=0)
        node = h.node
        node.reason, node.reason_uid = "broken", 0
        h.agent.node_down(node, "broken", int(h.now), by_admin=True)
        for _ in range(9):  # SlurmdTimeout/3 = 10 s
            h.now += 1
            h.agent.tick(int(h.now))
        assert h.sent == [] and node.base_state == NodeState.DOWN and node.reason == "broken"
        h.now += 1
        h.agent.tick(int(h.now))
        assert h.sent == ["_ping"]
        h.agent.node_answered(node)  # the ping's answer
        assert node.base_state == NodeState.IDLE and node.reason is None

    run(check)


@pytest.mark.parametrize("ret2service", [0, 1])
def test_a_ping_answer_returns_an_admins_down_node_only_with_return_to_service_2(
    tmp_path: Path, ret2service: int
) -> None:
    h = Harness(tmp_path, f"ReturnToService={ret2service}\n")

    def check() -> None:
        h.agent.registration(registration("reg_1002_after_1001"), uid=0)
        node = h.node
        node.reason = "broken"
        h.agent.node_down(node, "broken", int(h.now), by_admin=True)
        h.agent.node_answered(node)
        assert node.base_state == NodeState.DOWN and node.reason == "broken"

    run(check)


def test_jobs_on_a_node_that_goes_down(tmp_path: Path) -> None:
    h = Harness(tmp_path)

    def check() -> None:
        h.agent.registration(registration("reg_1002_after_1001"), uid=0)
        requeue = h.running_job(7)
        norequeue = h.running_job(8, requeue=0)
        h.now += 30
        h.agent.tick(int(h.now))
        down_at = int(h.now)
        assert h.node.base_state == NodeState.DOWN
        assert requeue.is_pending() and requeue.restart_cnt == 1 and requeue.nodes == ()
        assert requeue.begin_time == down_at + 121  # after the credential lifetime (120 s)
        assert norequeue.state & 0xFF == JobState.NODE_FAIL and not norequeue.is_completing()
        assert (h.node.alloc_cpus, h.node.jobs) == (0, set())

    run(check)


def test_a_node_that_never_comes_back_after_a_restart(tmp_path: Path) -> None:
    """Restored jobs on a node whose slurmd never registers again: DOWN after SlurmdTimeout, jobs
    requeued. A node without jobs stays UNKNOWN (``unk*``) as under slurmctld."""
    h = Harness(tmp_path, "NodeName=compute-node-2 NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000\n")

    def check() -> None:
        job = h.running_job(11)
        h.ctl.cluster.jobs[11].state = JobState.RUNNING
        h.agent.start()
        assert h.sent == ["_request_registration", "_request_registration"]
        h.now += 29
        h.agent.tick(int(h.now))
        assert h.node.base_state == NodeState.UNKNOWN and job.is_running()
        h.now += 1
        h.agent.tick(int(h.now))
        assert h.node.base_state == NodeState.DOWN and h.node.reason == "Not responding"
        assert job.is_pending() and job.restart_cnt == 1
        assert h.ctl.cluster.nodes["compute-node-2"].base_state == NodeState.UNKNOWN

    run(check)


def test_silent_nodes_are_pinged_then_set_down(tmp_path: Path) -> None:
    h = Harness(tmp_path)

    def check() -> None:
        h.agent.registration(registration("reg_1002_after_1001"), uid=0)
        h.now += 9
        h.agent.tick(int(h.now))
        assert h.sent == []
        h.now += 1  # SlurmdTimeout/3 without a word: ping
        h.agent.tick(int(h.now))
        assert h.sent == ["_ping"]
        h.agent._pinging.clear()
        h.now += 1
        h.agent.tick(int(h.now))  # not again before the next ping interval
        assert h.sent == ["_ping"]

    run(check)


def test_an_unregistered_node_is_asked_again_each_ping_interval(tmp_path: Path) -> None:
    """At start every node is asked to register; one that has not registered is asked again a ping
    interval later (SlurmdTimeout=30: every 10 s), as slurmctld's ping cycle asks its UNKNOWN nodes, not
    on a quick backoff: a storm of nodes registering on their own would be asked to register twice."""
    h = Harness(tmp_path, "SlurmdTimeout=0\n")  # (never DOWN for silence: only the requests are seen)

    def check() -> None:
        h.agent.start()
        assert h.sent == ["_request_registration"]
        asked_at = [0.0]
        for second in range(1, 201):
            h.agent._registering.clear()  # each request is over (the recorder never runs them)
            h.now += 1
            before = len(h.sent)
            h.agent.tick(int(h.now))
            if len(h.sent) > before:
                asked_at.append(second)
        assert h.sent == ["_request_registration"] * 3
        assert asked_at == [0, 100, 200]  # (SlurmdTimeout=0: slurmctld's 100 s)
        h.agent.registration(registration("reg_1002_after_1001"), uid=0)
        h.now += 500
        h.agent.tick(int(h.now))
        assert h.sent == ["_request_registration"] * 3 + ["_ping"]  # registered: pinged when due

    run(check)
