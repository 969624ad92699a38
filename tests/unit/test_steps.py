"""Interactive allocations and steps without daemons: srun's real requests (the srun capture)
are fed to a controller that is not started; its replies, the job and step records and the
messages it would send to srun and slurmd are checked."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from flurm.auth import SLURM_AUTH_NOBODY
from flurm.auth.authenticator import FakeAuthenticator, Identity
from flurm.config import parse_text
from flurm.config.prologflags import PrologFlag, parse_prolog_flags
from flurm.controller.handlers.jobs import job_ready
from flurm.controller.handlers.slurmd import complete_prolog
from flurm.controller.steps import JobSteps, Step, cpus_per_task_of, task_layout, tasks_per_node_text
from flurm.daemon import Daemon
from flurm.errors import SlurmError
from flurm.protocol.constants import (
    NO_VAL,
    PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    SLURM_BATCH_SCRIPT,
    SLURM_EXTERN_CONT,
    SLURM_PENDING_STEP,
    JobFlag,
    JobState,
    JobStateFlag,
    JobStateReason,
    MsgType,
    NodeState,
    SlurmRC,
)
from flurm.protocol.frame import Frame, FrameDecoder, Header
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.common import ReturnCode
from flurm.protocol.messages.credential import JobCredential, StepId
from flurm.protocol.messages.job_control import ResourceAllocationResponse
from flurm.protocol.messages.job_desc import JobDesc
from flurm.protocol.messages.job_info import JobIdRequest
from flurm.protocol.messages.slurmd import CompleteProlog, LaunchProlog
from flurm.protocol.messages.steps import (
    SSF_OVERLAP_FORCE,
    SSF_WHOLE,
    JobStepCreateRequest,
    JobStepCreateResponse,
    JobStepInfoResponse,
    SrunJobComplete,
    SrunNodeFail,
    SrunStepSignal,
    SrunTimeout,
)
from flurm.protocol.wire import Bitmap
from flurm.rpc.transport import Reply, Request
from flurm.state.cluster import Allocation
from flurm.state.gres import GresUse
from flurm.state.model import Job

PROXY = Path(__file__).resolve().parents[2] / "tests" / "golden" / "captures" / "proxy"
CONF = """
ClusterName=localtest
SlurmctldHost=localhost
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
NodeName=compute-node-[1-2] NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=2 Sockets=1 CoresPerSocket=2 \
ThreadsPerCore=1 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
NOW = 1_795_696_400
SRUN_HOST = "127.0.0.9"
V24, V26 = SLURM_24_11_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION


def captured(name: str, msg_type: int) -> Any:
    dec = FrameDecoder()
    dec.feed((PROXY / f"{name}.bin").read_bytes())
    while (f := dec.next_frame()) is not None:
        if f.msg_type == msg_type:
            return decode_body(f.msg_type, f.body, f.version)
    raise AssertionError(f"no {msg_type} in {name}")


SRUN_ALLOC: JobDesc = captured("srun-conn1-c2s", MsgType.REQUEST_RESOURCE_ALLOCATION)  # srun -N1 true
SRUN_STEP: JobStepCreateRequest = captured("srun-conn3-c2s", MsgType.REQUEST_JOB_STEP_CREATE)


class Harness:
    """A controller that is not started: its clock is ours; what it would send is recorded."""

    def __init__(self, tmp: Path, extra_conf: str = "") -> None:
        self.now = float(NOW)
        conf = parse_text(CONF + extra_conf)
        self.daemon = Daemon(conf, FakeAuthenticator(), state_dir=tmp, clock=lambda: self.now)
        self.ctl = self.daemon.controller
        self.ctl.store.open()
        self.sent: list[tuple[str, dict[str, Any]]] = []  # (coroutine name, its arguments)
        self.ctl.spawn = self._record  # type: ignore[method-assign]
        self.daemon.node_agent._spawn = self._record  # type: ignore[method-assign]
        for node in self.ctl.cluster.node_list:
            node.registered = True
            node.base_state = NodeState.IDLE

    def _record(self, coro: Coroutine[Any, Any, None], name: str = "") -> Any:
        args = dict(coro.cr_frame.f_locals)  # type: ignore[attr-defined]
        self.sent.append((getattr(coro, "__qualname__", "").rsplit(".", 1)[-1], args))
        coro.close()
        return None

    def told_srun(self) -> list[tuple[str, int, int, Any]]:
        """(host, port, msg_type, body) of every message to an srun."""
        return [(a["host"], a["port"], a["msg_type"], a["body"]) for n, a in self.sent if n == "_tell_srun"]

    def to_slurmd(self, name: str) -> list[dict[str, Any]]:
        return [a for n, a in self.sent if n == name]

    def close(self) -> None:
        self.ctl.store.close()
        self.ctl.signer.close()

    # -- helpers ----------------------------------------------------------------------------------
    async def allocate(self, desc: JobDesc = SRUN_ALLOC) -> Reply:
        return await self.ctl.steps.allocate(desc, 0, 0, SRUN_HOST, "localhost")

    async def step(self, job_id: int, **changes: Any) -> Reply:
        req = dataclasses.replace(SRUN_STEP, step_id=StepId(job_id, NO_VAL, NO_VAL), **changes)
        return await self.ctl.steps.create_step(req, 0, SRUN_HOST)

    def job(self, job_id: int) -> Job:
        return self.ctl.cluster.jobs[job_id]

    def batch_job(self, job_id: int, nodes: tuple[str, ...], cores: tuple[tuple[int, ...], ...]) -> Job:
        job = Job(job_id=job_id, name="b", user_id=0, group_id=0, partition="debug", script="#!/bin/sh")
        self.ctl.cluster.jobs[job_id] = job
        cpus = tuple(len(c) for c in cores)
        self.ctl.cluster.start_job(job, Allocation(nodes, cores, cpus, (0,) * len(nodes)), NOW)
        self.ctl.cluster.next_job_id = max(self.ctl.cluster.next_job_id, job_id + 1)
        return job


def run(tmp: Path, fn: Callable[[Harness], Awaitable[None]], extra_conf: str = "") -> None:
    async def main() -> None:
        h = Harness(tmp, extra_conf)
        try:
            await fn(h)
        finally:
            h.close()

    asyncio.run(main())


# -- pure rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpus", "tasks", "dist", "expected"),
    [
        ([1], 1, 2, ((0,),)),
        ([2, 2], 3, 2, ((0, 1), (2,))),  # block fills node by node
        ([2, 2], 3, 1, ((0, 2), (1,))),  # cyclic deals round robin
        ([1, 1], 2, 2, ((0,), (1,))),
        ([1, 1], 3, 2, ((0, 1), (2,))),  # block over-subscribes evenly
        ([1, 1], 3, 1, ((0, 2), (1,))),
        ([2, 1], 4, 1, ((0, 2), (1, 3))),
        ([1, 2], 3, 2, ((0,), (1, 2))),
        ([2, 2], 2, 0x10000 | 2, ((0,), (1,))),  # block spreads before it fills; flag bits ignored
    ],
)
def test_task_layout(cpus: list[int], tasks: int, dist: int, expected: tuple[tuple[int, ...], ...]) -> None:
    assert task_layout(cpus, tasks, dist) == expected


def test_cpus_per_task() -> None:
    job = Job(job_id=1, name="j", user_id=0, group_id=0, partition="debug", cpus_alloc=(2, 2))
    assert cpus_per_task_of(dataclasses.replace(SRUN_STEP, cpu_count=4, num_tasks=2), job) == 2
    assert cpus_per_task_of(dataclasses.replace(SRUN_STEP, cpu_count=3, num_tasks=2), job) == 0  # uneven
    assert (
        cpus_per_task_of(dataclasses.replace(SRUN_STEP, cpu_count=6, num_tasks=2), job) == 0
    )  # 3 > 2 per node
    assert cpus_per_task_of(dataclasses.replace(SRUN_STEP, cpu_count=0, num_tasks=2), job) == 0


def test_the_step_table_survives_json() -> None:
    step = Step(
        step_id=3,
        nodes=("a", "b"),
        tids=((0, 1), (2,)),
        task_dist=2,
        cores=((0, 1), (0,)),
        cpu_count=3,
        cpus_per_task=1,
        mem=(0, 0),
        flags=SSF_WHOLE,
        start_time=NOW,
        name="x",
        addr="127.0.0.1",
        port=4000,
        exited=(1,),
        cpus_per_tres="gres:gpu:2",
        gres_alloc=(
            (GresUse("gpu", "tesla", 1, (1,)),),
            (GresUse("mps", None, 50, (0,)), GresUse("nic", None, 1)),
        ),
    )
    table = JobSteps(4, "127.0.0.1", 100, 200, {3: step}, (("127.0.0.1", 300, 0x2A00),))
    job = Job(job_id=1, name="j", user_id=0, group_id=0, partition="debug", steps=table.to_dict())
    again = Job.from_dict(json.loads(json.dumps(job.to_dict())))
    assert JobSteps.of(again) == table
    assert JobSteps.of(Job(job_id=2, name="j", user_id=0, group_id=0, partition="debug")) == JobSteps()


# -- srun -N1 true, end to end ----------------------------------------------------------------------


def test_srun_allocation_step_and_end(tmp_path: Path) -> None:
    async def check(h: Harness) -> None:
        reply = await h.allocate()
        assert reply.msg_type == MsgType.RESPONSE_RESOURCE_ALLOCATION
        alloc = reply.body
        assert isinstance(alloc, ResourceAllocationResponse)
        expected = captured("srun-conn1-s2c", MsgType.RESPONSE_RESOURCE_ALLOCATION)
        # slurmctld's answer to the same request, but for flurm's job id
        # what 22.05 does not carry: the owner's names (24.11) and the client's version (26.05)
        newer = {"group_name": "root", "user_name": "root", "start_protocol_ver": PROTOCOL_VERSION}
        assert alloc == dataclasses.replace(expected, job_id=alloc.job_id, **newer)
        job = h.job(alloc.job_id)
        assert job.is_running() and job.script is None and job.argv == ("true",)
        assert job.accrue_time == 0  # started by the allocation itself: AccrueTime=Unknown
        assert JobSteps.of(job) == JobSteps(
            0, SRUN_HOST, SRUN_ALLOC.alloc_resp_port, SRUN_ALLOC.other_port, protocol_version=PROTOCOL_VERSION
        )
        assert h.told_srun() == []  # the reply carried the allocation

        reply = await h.step(job.job_id)
        resp = reply.body
        assert isinstance(resp, JobStepCreateResponse)
        expected_step = captured("srun-conn3-s2c", MsgType.RESPONSE_JOB_STEP_CREATE)
        assert resp.job_step_id == 0 and resp.step_layout == expected_step.step_layout
        cred = resp.credential
        want = dataclasses.replace(
            expected_step.credential,
            step_id=StepId(job.job_id, 0, NO_VAL, job.sluid),  # (a 22.05 peer gets no sluid)
            ctime=NOW,
            signature=cred.signature,
            pw_gecos=cred.pw_gecos,
            pw_dir=cred.pw_dir,
            pw_shell=cred.pw_shell,
            gids=cred.gids,
            # packed from 24.11 only: the job's times
            job_start_time=job.start_time,
            job_end_time=job.end_time,
        )
        assert cred == want
        # signed for SlurmdUser (uid 0 here) over exactly the packed fields, NUL-terminated
        assert cred.signature is not None and cred.signature.endswith(b"\0")
        decoded = FakeAuthenticator().decode(cred.signature[:-1])
        assert decoded.payload == cred.signed_payload()
        assert JobSteps.of(job).next_step_id == 1

        assert h.ctl.steps.step_complete(StepId(job.job_id, 0), 0, 0, 256, uid=0) == 0
        assert JobSteps.of(job).steps == {}
        assert job.derived_ec == 256

        assert h.ctl.jobs.allocation_complete(job.job_id, 256, uid=0) == 0
        assert job.base_state == JobState.FAILED and job.state & JobStateFlag.COMPLETING
        assert (job.exit_code, job.state_reason) == (256, JobStateReason.FAIL_EXIT_CODE)
        assert len(h.to_slurmd("_send_kill")) == 1  # the nodes run the epilog
        assert h.told_srun() == []  # srun ended it itself
        # completing counts as finished (slurmctld logs "already completing or completed")
        assert h.ctl.jobs.allocation_complete(job.job_id, 0, uid=0) == SlurmRC.ESLURM_ALREADY_DONE

    run(tmp_path, check)


@pytest.mark.parametrize(
    ("job_rc", "state", "reason", "exit_code"),
    [
        (0, JobState.COMPLETE, 0, 0),
        (1 << 8, JobState.FAILED, JobStateReason.FAIL_EXIT_CODE, 256),
        (9, JobState.FAILED, JobStateReason.FAIL_LAUNCH, 9),
        (NO_VAL, JobState.CANCELLED, 0, 0),
    ],
)
def test_the_end_of_an_allocation(
    tmp_path: Path, job_rc: int, state: int, reason: int, exit_code: int
) -> None:
    async def check(h: Harness) -> None:
        alloc = (await h.allocate()).body
        assert isinstance(alloc, ResourceAllocationResponse)
        job = h.job(alloc.job_id)
        assert h.ctl.jobs.allocation_complete(job.job_id, job_rc, uid=0) == 0
        assert (job.base_state, job.state_reason, job.exit_code) == (state, reason, exit_code)
        assert h.ctl.jobs.allocation_complete(job.job_id, job_rc, uid=1000) == SlurmRC.ESLURM_USER_ID_MISSING
        h.ctl.cluster.node_done_completing(job, "compute-node-1")
        assert h.ctl.jobs.allocation_complete(job.job_id, 15, uid=0) == SlurmRC.ESLURM_ALREADY_DONE
        assert job.exit_code == (exit_code or 15)  # a finished job takes the status if it had none

    run(tmp_path, check)


def test_a_pending_allocation_is_granted_on_the_srun_port(tmp_path: Path) -> None:
    async def check(h: Harness) -> None:
        big = h.batch_job(7, ("compute-node-1", "compute-node-2"), ((0, 1), (0, 1)))
        alloc = (await h.allocate()).body
        assert isinstance(alloc, ResourceAllocationResponse)
        assert (alloc.node_cnt, alloc.node_list, alloc.cpus_per_node, alloc.error_code) == (0, None, (), 0)
        job = h.job(alloc.job_id)
        assert job.is_pending()
        assert (
            await h.ctl.steps.create_step(dataclasses.replace(SRUN_STEP, step_id=StepId(job.job_id)), 0, "x")
        ).body == ReturnCode(SlurmRC.ESLURM_DUPLICATE_JOB_ID)
        # the big job ends: the next pass starts the allocation and tells srun where it waits
        h.ctl.jobs.cancel(big)
        for name in big.nodes:
            h.ctl.jobs.node_epilog_done(big.job_id, name)
        h.ctl.schedule_now()
        assert job.is_running() and job.accrue_time != 0  # it waited in the queue
        ((host, port, msg_type, body),) = h.told_srun()
        assert (host, port, msg_type) == (
            SRUN_HOST,
            SRUN_ALLOC.alloc_resp_port,
            MsgType.RESPONSE_RESOURCE_ALLOCATION,
        )
        assert (
            isinstance(body, ResourceAllocationResponse) and body.node_cnt == 1 and body.job_id == job.job_id
        )

    run(tmp_path, check)


def test_srun_immediate_fails_when_nothing_is_free(tmp_path: Path) -> None:
    async def check(h: Harness) -> None:
        h.batch_job(7, ("compute-node-1", "compute-node-2"), ((0, 1), (0, 1)))
        reply = await h.allocate(dataclasses.replace(SRUN_ALLOC, immediate=1))
        assert reply.body == ReturnCode(SlurmRC.ESLURM_NODES_BUSY)
        job = h.job(8)
        assert (job.base_state, job.state_reason, job.exit_code, job.accrue_time) == (
            JobState.FAILED,
            JobStateReason.FAIL_BAD_CONSTRAINTS,
            1,
            0,
        )

    run(tmp_path, check)


def test_scancel_of_a_pending_srun_tells_it(tmp_path: Path) -> None:
    async def check(h: Harness) -> None:
        h.batch_job(7, ("compute-node-1", "compute-node-2"), ((0, 1), (0, 1)))
        alloc = (await h.allocate()).body
        assert isinstance(alloc, ResourceAllocationResponse)
        assert h.ctl.jobs.kill(None, alloc.job_id, 9, 0, uid=0) == 0
        ((host, port, msg_type, body),) = h.told_srun()
        assert (host, port, msg_type) == (SRUN_HOST, SRUN_ALLOC.alloc_resp_port, MsgType.SRUN_JOB_COMPLETE)
        assert body == SrunJobComplete(StepId(alloc.job_id, NO_VAL, NO_VAL))

    run(tmp_path, check)


def test_scancel_of_a_running_srun_tells_the_allocation_and_each_step(tmp_path: Path) -> None:
    async def check(h: Harness) -> None:
        alloc = (await h.allocate()).body
        assert isinstance(alloc, ResourceAllocationResponse)
        await h.step(alloc.job_id)
        assert h.ctl.jobs.kill(None, alloc.job_id, 9, 0, uid=0) == 0
        told = h.told_srun()
        assert (
            SRUN_HOST,
            SRUN_ALLOC.other_port,
            MsgType.SRUN_JOB_COMPLETE,
            SrunJobComplete(StepId(alloc.job_id)),
        ) in told
        assert (
            SRUN_HOST,
            SRUN_STEP.port,
            MsgType.SRUN_JOB_COMPLETE,
            SrunJobComplete(StepId(alloc.job_id, 0)),
        ) in told
        assert len(told) == 2
        assert h.job(alloc.job_id).base_state == JobState.CANCELLED

    run(tmp_path, check)


def test_each_srun_is_told_in_its_own_protocol_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The allocation's owner and each step's srun keep the version they spoke (start_protocol_ver):
    a 24.11 salloc's allocation, a 26.05 srun's step inside it."""
    # the credential's own bytes in each release are the credential codec's tests
    signed: list[int] = []
    monkeypatch.setattr(JobCredential, "signed_payload", lambda self, version: signed.append(version) or b"")

    async def check(h: Harness) -> None:
        alloc = (await h.ctl.steps.allocate(SRUN_ALLOC, 0, 0, SRUN_HOST, "localhost", version=V24)).body
        assert isinstance(alloc, ResourceAllocationResponse) and alloc.start_protocol_ver == V24
        job = h.job(alloc.job_id)
        assert JobSteps.of(job).protocol_version == V24
        # 24.11 and 26.05 srun leave the user to the controller (SLURM_AUTH_NOBODY)
        req = dataclasses.replace(
            SRUN_STEP, step_id=StepId(job.job_id, NO_VAL, NO_VAL), user_id=SLURM_AUTH_NOBODY
        )
        resp = (await h.ctl.steps.create_step(req, 0, SRUN_HOST, version=V26)).body
        assert isinstance(resp, JobStepCreateResponse)
        assert (resp.job_id, resp.job_step_id, resp.use_protocol_ver) == (job.job_id, 0, V26)
        assert resp.step_layout is not None and resp.step_layout.start_protocol_ver == V26
        assert JobSteps.of(job).steps[0].protocol_version == V26
        assert signed == [V26]  # signed as the srun's release packs it
        assert h.ctl.jobs.kill(None, job.job_id, 9, 0, uid=0) == 0
        told = {(a["port"], a["version"]) for n, a in h.sent if n == "_tell_srun"}
        assert told == {(SRUN_ALLOC.other_port, None), (SRUN_STEP.port, V26)}  # None: the owner's
        # and the owner's version is what _tell_srun falls back on
        assert JobSteps.of(job).protocol_version == V24

    run(tmp_path, check)


def test_a_26_05_allocation_tells_the_tasks_per_node(tmp_path: Path) -> None:
    async def check(h: Harness) -> None:
        for version, env in ((V24, ()), (V26, ("SLURM_TASKS_PER_NODE=1",))):
            alloc = (
                await h.ctl.steps.allocate(SRUN_ALLOC, 0, 0, SRUN_HOST, "localhost", version=version)
            ).body
            assert isinstance(alloc, ResourceAllocationResponse) and alloc.node_cnt == 1
            assert alloc.environment == env, version
            # a lookup of it tells none (build_job_info_resp)
            info = h.ctl.steps.alloc_info(alloc.job_id, 0)
            assert isinstance(info, ResourceAllocationResponse) and info.environment == ()

    run(tmp_path, check)


@pytest.mark.parametrize(
    ("cpus", "changes", "text"),
    [
        ((1,), {}, "1"),
        ((2, 2, 2, 1), {}, "2(x3),1"),  # as many tasks as CPUs
        ((4, 4), {"cpus_per_task": 2}, "2(x2)"),
        ((2, 2), {"num_tasks": 3, "bitflags": JobFlag.JOB_NTASKS_SET}, "2,1"),  # -n3: block
        ((2, 2), {"num_tasks": 3}, "2(x2)"),  # a count srun did not set is not used
        ((4, 4), {"ntasks_per_node": 1}, "1(x2)"),
    ],
)
def test_tasks_per_node_text(cpus: tuple[int, ...], changes: dict[str, Any], text: str) -> None:
    job = Job(job_id=1, name="j", user_id=0, group_id=0, partition="debug", **changes)
    assert tasks_per_node_text(job, cpus) == text


def test_a_22_05_srun_of_user_99_is_not_taken_for_nobody(tmp_path: Path) -> None:
    async def check(h: Harness) -> None:
        alloc = (await h.allocate()).body
        assert isinstance(alloc, ResourceAllocationResponse)
        req = dataclasses.replace(
            SRUN_STEP, step_id=StepId(alloc.job_id, NO_VAL, NO_VAL), user_id=SLURM_AUTH_NOBODY
        )
        reply = await h.ctl.steps.create_step(req, 0, SRUN_HOST)
        assert reply.msg_type == MsgType.RESPONSE_SLURM_RC  # the job is root's, not uid 99's
        assert isinstance(reply.body, ReturnCode) and reply.body.rc == SlurmRC.ESLURM_ACCESS_DENIED

    run(tmp_path, check)


def test_a_lookup_tells_no_start_protocol_version(tmp_path: Path) -> None:
    """build_job_info_resp: srun inside a batch job keeps its own version (0), whatever steps ran."""

    async def check(h: Harness) -> None:
        h.batch_job(9, ("compute-node-1",), ((0, 1),))
        await h.step(9)
        info = h.ctl.steps.alloc_info(9, 0)
        assert isinstance(info, ResourceAllocationResponse)
        assert (info.start_protocol_ver, info.tres_per_node, info.user_name) == (0, None, "root")
        assert JobSteps.of(h.job(9)).protocol_version is None

    run(tmp_path, check)


# -- steps inside an allocation ---------------------------------------------------------------------


def test_steps_share_a_batch_allocation(tmp_path: Path) -> None:
    async def check(h: Harness) -> None:
        job = h.batch_job(5, ("compute-node-1", "compute-node-2"), ((0, 1), (1,)))
        info = h.ctl.steps.alloc_info(5, 0)
        assert isinstance(info, ResourceAllocationResponse)
        assert (info.node_cnt, info.node_list, info.cpus_per_node, info.cpu_count_reps) == (
            2,
            "compute-node-[1-2]",
            (2, 1),
            (1, 1),
        )
        # srun -n3 --exact: 3 CPUs, block over the job's 2 + 1
        r = await h.step(5, min_nodes=2, max_nodes=2, cpu_count=3, num_tasks=3, flags=0)
        first = r.body
        assert isinstance(first, JobStepCreateResponse)
        assert first.step_layout is not None and first.step_layout.tids == ((0, 1), (2,))
        assert first.credential.step_core_bitmap == Bitmap(4, 0b1011)  # node 1 cores 0-1, node 2 core 1
        assert first.credential.step_hostlist == "compute-node-[1-2]"
        # nothing left: the next step waits (srun retries when woken)
        r = await h.step(5, port=5555)
        assert r.body == ReturnCode(SlurmRC.ESLURM_NODES_BUSY)
        assert JobSteps.of(job).waiting == ((SRUN_HOST, 5555, PROTOCOL_VERSION),)
        # more CPUs than the job has is an error, not a wait
        r = await h.step(5, min_nodes=2, max_nodes=2, cpu_count=4, num_tasks=4, flags=0)
        assert r.body == ReturnCode(SlurmRC.ESLURM_TOO_MANY_REQUESTED_CPUS)
        # the step ends node by node; the waiting srun is woken when all nodes reported
        assert h.ctl.steps.step_complete(StepId(5, 0), 1, 1, 0, uid=0) == 0
        assert h.told_srun() == []
        assert h.ctl.steps.step_complete(StepId(5, 0), 5, 5, 0, uid=0) == 22  # EINVAL: no node 5
        assert h.ctl.steps.step_complete(StepId(5, 0), 0, 0, 9, uid=1000) == SlurmRC.ESLURM_USER_ID_MISSING
        assert h.ctl.steps.step_complete(StepId(5, 0), 0, 0, 9, uid=0) == 0
        ((host, port, msg_type, body),) = h.told_srun()
        assert (host, port, msg_type) == (SRUN_HOST, 5555, MsgType.SRUN_STEP_SIGNAL)
        assert body == SrunStepSignal(5, SLURM_PENDING_STEP, NO_VAL, signal=0)
        assert job.derived_ec == 9 and JobSteps.of(job).waiting == ()
        # a step creation that arrives before the end of the step that holds the CPUs waits for it
        blocker = (await h.step(5, min_nodes=1, max_nodes=1, cpu_count=2, num_tasks=2, flags=0)).body
        assert isinstance(blocker, JobStepCreateResponse) and blocker.job_step_id == 1
        pending = asyncio.ensure_future(h.step(5, node_list="compute-node-1"))
        await asyncio.sleep(0.05)
        assert not pending.done()
        assert h.ctl.steps.step_complete(StepId(5, 1), 0, 0, 0, uid=0) == 0
        r = await asyncio.wait_for(pending, 0.5)
        assert isinstance(r.body, JobStepCreateResponse) and r.body.job_step_id == 2
        assert h.ctl.steps.step_complete(StepId(5, 2), 0, 0, 0, uid=0) == 0
        # the next step gets the next id, the whole allocation (SSF_WHOLE) on one node
        r = await h.step(5)
        second = r.body
        assert isinstance(second, JobStepCreateResponse) and second.job_step_id == 3
        assert second.credential.step_core_bitmap == Bitmap(4, 0b0011)
        assert h.ctl.steps.step_complete(StepId(5, 3), 0, 0, 0, uid=0) == 0
        assert h.ctl.steps.step_complete(StepId(5, 3), 0, 0, 0, uid=0) == SlurmRC.ESLURM_INVALID_JOB_ID
        assert h.ctl.steps.step_complete(StepId(5, SLURM_BATCH_SCRIPT), 0, 0, 0, uid=0) == 0

    run(tmp_path, check)


def test_step_errors(tmp_path: Path) -> None:
    async def check(h: Harness) -> None:
        h.batch_job(5, ("compute-node-1",), ((0,),))
        assert (await h.step(99)).body == ReturnCode(SlurmRC.ESLURM_INVALID_JOB_ID)
        r = await h.ctl.steps.create_step(dataclasses.replace(SRUN_STEP, step_id=StepId(5)), 1000, "x")
        assert r.body == ReturnCode(SlurmRC.ESLURM_USER_ID_MISSING)
        assert (await h.step(5, user_id=1000)).body == ReturnCode(SlurmRC.ESLURM_ACCESS_DENIED)
        assert (await h.step(5, num_tasks=0)).body == ReturnCode(SlurmRC.ESLURM_BAD_TASK_COUNT)
        assert (await h.step(5, min_nodes=2, max_nodes=2)).body == ReturnCode(
            SlurmRC.ESLURM_INVALID_NODE_COUNT
        )
        r = await h.step(5, node_list="compute-node-2")
        assert r.body == ReturnCode(SlurmRC.ESLURM_REQUESTED_NODE_CONFIG_UNAVAILABLE)
        assert h.ctl.steps.alloc_info(99, 0) == SlurmRC.ESLURM_INVALID_JOB_ID
        h.ctl.jobs.cancel(h.job(5))
        assert (await h.step(5)).body == ReturnCode(SlurmRC.ESLURM_ALREADY_DONE)
        assert h.ctl.steps.alloc_info(5, 0) == SlurmRC.ESLURM_ALREADY_DONE

    run(tmp_path, check)


def test_scancel_of_a_step(tmp_path: Path) -> None:
    async def check(h: Harness) -> None:
        alloc = (await h.allocate()).body
        assert isinstance(alloc, ResourceAllocationResponse)
        jid = alloc.job_id
        await h.step(jid)
        steps = h.ctl.steps
        assert steps.signal_step(jid, 3, 9, 0, uid=0) == SlurmRC.ESLURM_INVALID_JOB_ID
        assert steps.signal_step(jid, 0, 9, 0, uid=1000) == SlurmRC.ESLURM_USER_ID_MISSING
        assert steps.signal_step(jid, 0, 9, 0, uid=0) == 0
        ((host, port, msg_type, body),) = h.told_srun()  # srun learns first that its step is over
        assert (host, port, msg_type) == (SRUN_HOST, SRUN_STEP.port, MsgType.SRUN_JOB_COMPLETE)
        assert body == SrunJobComplete(StepId(jid, 0))
        (sig,) = h.to_slurmd("_signal")
        assert sig["msg_type"] == MsgType.REQUEST_SIGNAL_TASKS
        assert (sig["msg"].step_id, sig["msg"].signal) == (StepId(jid, 0, NO_VAL, h.job(jid).sluid), 9)
        assert steps.signal_step(jid, 0, 10, 0, uid=0) == 0  # another signal: no srun message
        assert len(h.told_srun()) == 1

    run(tmp_path, check)


def test_squeue_steps(tmp_path: Path) -> None:
    async def check(h: Harness) -> None:
        h.batch_job(5, ("compute-node-1",), ((0, 1),))
        await h.step(5)
        h.now += 7
        reply = h.ctl.steps.step_info(NO_VAL, NO_VAL, 0, uid=0)
        body = reply.body
        assert isinstance(body, JobStepInfoResponse)
        batch, step = body.steps
        # as build_batch_step: no CPU count, no formatted TRES, a fake layout without distribution
        assert (batch.step_id, batch.name, batch.nodes, batch.num_cpus, batch.num_tasks) == (
            StepId(5, SLURM_BATCH_SCRIPT, NO_VAL),
            "batch",
            "compute-node-1",
            0,
            1,
        )
        assert (batch.tres_alloc_str, batch.task_dist) == (None, 0)
        assert (step.step_id, step.name, step.nodes, step.num_tasks, step.run_time) == (
            StepId(5, 0, NO_VAL),
            "true",
            "compute-node-1",
            1,
            7,
        )
        # srun without --exact (SSF_WHOLE): the step gets all the job's CPUs on its node
        assert step.node_bitmap == Bitmap(2, 1) and step.tres_alloc_str == "cpu=2,mem=0,node=1"
        assert step.num_cpus == 2
        assert step.srun_host == "vm" and step.submit_line == "srun -N1 true"
        assert encode_body(body)  # packs
        one = h.ctl.steps.step_info(5, 0, 0, uid=0).body
        assert isinstance(one, JobStepInfoResponse) and [s.step_id.step_id for s in one.steps] == [0]
        assert h.ctl.steps.step_info(77, NO_VAL, 0, uid=0).body == ReturnCode(SlurmRC.ESLURM_INVALID_JOB_ID)

    run(tmp_path, check)


def test_an_allocation_that_can_never_run_is_refused(tmp_path: Path) -> None:
    async def check(h: Harness) -> None:
        with pytest.raises(SlurmError) as err:
            await h.allocate(dataclasses.replace(SRUN_ALLOC, partition="nosuch"))
        assert err.value.rc == SlurmRC.ESLURM_INVALID_PARTITION_NAME

    run(tmp_path, check)


def test_an_idle_allocation_is_not_a_missing_batch_job(tmp_path: Path) -> None:
    """A node that reports nothing of an salloc job (no step runs) does not fail it, as slurmctld
    checks only batch jobs in _purge_missing_jobs; a batch job its node forgot does fail."""

    async def check(h: Harness) -> None:
        alloc = (await h.allocate()).body
        assert isinstance(alloc, ResourceAllocationResponse)
        job = h.job(alloc.job_id)
        batch = h.batch_job(7, ("compute-node-2",), ((0,),))
        h.now += 600
        for node in h.ctl.cluster.node_list:
            h.daemon.node_agent._reconcile(node, [], int(h.now))
        assert job.is_running()
        assert not batch.is_running()  # requeued: its batch host lost it

    run(tmp_path, check)


def test_prolog_at_allocation_and_the_extern_step(tmp_path: Path) -> None:
    """PrologFlags=Contain: every node of a starting job gets REQUEST_LAUNCH_PROLOG with an extern
    credential; the job waits in reason Prolog until each node reported; squeue -s shows the extern
    step first, over all the job's nodes, as slurmctld's build_extern_step."""

    async def check(h: Harness) -> None:
        job = h.batch_job(5, ("compute-node-1", "compute-node-2"), ((0,), (0,)))
        agent = h.daemon.node_agent
        agent.job_started(job)
        launches = h.to_slurmd("_launch_prolog")
        assert sorted(a["node"].name for a in launches) == ["compute-node-1", "compute-node-2"]
        msg = launches[0]["msg"]
        assert isinstance(msg, LaunchProlog) and encode_body(msg)
        assert (msg.job_id, msg.nodes, msg.user_name) == (5, "compute-node-[1-2]", "root")
        assert msg.credential.step_id == StepId(5, SLURM_EXTERN_CONT, NO_VAL)
        assert msg.credential.step_hostlist == "compute-node-[1-2]" and msg.credential.signature is None
        assert job.state_reason == JobStateReason.WAIT_PROLOG
        assert agent.prolog_complete(5, 0, "compute-node-1") == 0
        assert job.state_reason == JobStateReason.WAIT_PROLOG  # one node still runs it
        assert agent.prolog_complete(5, 0, "compute-node-2") == 0
        assert job.state_reason == JobStateReason.WAIT_NO_REASON
        assert agent.prolog_complete(77, 0, "compute-node-2") == SlurmRC.ESLURM_INVALID_JOB_ID
        body = h.ctl.steps.step_info(NO_VAL, NO_VAL, 0, uid=0).body
        assert isinstance(body, JobStepInfoResponse) and encode_body(body)
        extern, batch = body.steps
        assert (extern.step_id.step_id, extern.name, extern.nodes, extern.num_tasks, extern.num_cpus) == (
            SLURM_EXTERN_CONT,
            "extern",
            "compute-node-[1-2]",
            2,
            0,
        )
        assert extern.tres_alloc_str is None and batch.step_id.step_id == SLURM_BATCH_SCRIPT

    run(tmp_path, check, "PrologFlags=Contain\n")


def test_without_prolog_flags_nothing_is_sent_and_no_extern_step(tmp_path: Path) -> None:
    async def check(h: Harness) -> None:
        job = h.batch_job(5, ("compute-node-1",), ((0,),))
        h.daemon.node_agent.job_started(job)
        assert h.to_slurmd("_launch_prolog") == [] and job.state_reason == 0
        body = h.ctl.steps.step_info(NO_VAL, NO_VAL, 0, uid=0).body
        assert isinstance(body, JobStepInfoResponse)
        assert [s.name for s in body.steps] == ["batch"]

    run(tmp_path, check)


def test_prolog_nohold_keeps_the_reason(tmp_path: Path) -> None:
    async def check(h: Harness) -> None:
        job = h.batch_job(5, ("compute-node-1",), ((0,),))
        h.daemon.node_agent.job_started(job)
        assert len(h.to_slurmd("_launch_prolog")) == 1 and job.state_reason == 0
        body = h.ctl.steps.step_info(NO_VAL, NO_VAL, 0, uid=0).body
        assert isinstance(body, JobStepInfoResponse)
        assert [s.name for s in body.steps] == ["batch"]  # Alloc alone: no extern step

    run(tmp_path, check, "PrologFlags=alloc,NoHold\n")


def test_a_step_past_its_own_time_limit_is_killed_once(tmp_path: Path) -> None:
    """srun -t 1: at one minute REQUEST_KILL_TIMELIMIT for the step goes to its nodes (once), and
    the step shows TIMEOUT until slurmstepd reports its end (check_job_step_time_limit)."""

    async def check(h: Harness) -> None:
        jid = (await h.allocate()).body.job_id  # type: ignore[union-attr]
        await h.step(jid, time_limit=1)
        steps = h.ctl.steps
        steps.time_limits(NOW + 59)
        assert h.to_slurmd("_send_step_kill") == []
        steps.time_limits(NOW + 60)
        steps.time_limits(NOW + 61)
        (kill,) = h.to_slurmd("_send_step_kill")
        assert (
            kill["msg"].step_id == StepId(jid, 0, NO_VAL, h.job(jid).sluid)
            and kill["node"].name == "compute-node-1"
        )
        assert encode_body(kill["msg"])
        info = steps.step_info(jid, 0, 0, uid=0).body
        assert isinstance(info, JobStepInfoResponse) and info.steps[0].state == JobState.TIMEOUT

    run(tmp_path, check)


def test_sruns_hear_of_the_time_limit_and_of_a_failed_node(tmp_path: Path) -> None:
    """SRUN_TIMEOUT to the allocation's srun and each step's srun once the job's end is within a
    minute, again every 30 s (srun_timeout); SRUN_NODE_FAIL for a node of the job (srun_node_fail)."""

    async def check(h: Harness) -> None:
        jid = (await h.allocate(dataclasses.replace(SRUN_ALLOC, time_limit=2))).body.job_id  # type: ignore[union-attr]
        await h.step(jid)
        steps = h.ctl.steps
        end = h.job(jid).end_time
        assert end == NOW + 120
        steps.time_limits(NOW + 59)
        assert h.told_srun() == []
        steps.time_limits(NOW + 60)
        told = h.told_srun()
        assert [(port, t) for _, port, t, _ in told] == [
            (SRUN_ALLOC.other_port, MsgType.SRUN_TIMEOUT),
            (SRUN_STEP.port, MsgType.SRUN_TIMEOUT),
        ]
        assert [b for *_, b in told] == [SrunTimeout(StepId(jid), end), SrunTimeout(StepId(jid, 0), end)]
        steps.time_limits(NOW + 89)
        assert len(h.told_srun()) == 2
        steps.time_limits(NOW + 90)
        assert len(h.told_srun()) == 4
        steps.node_failed(h.job(jid), "compute-node-1")
        fail = h.told_srun()[4:]
        assert [b for *_, b in fail] == [
            SrunNodeFail(StepId(jid), "compute-node-1"),
            SrunNodeFail(StepId(jid, 0), "compute-node-1"),
        ]
        assert all(encode_body(b) for *_, b in fail)

    run(tmp_path, check)


def test_inactive_limit_pings_the_srun_and_ends_a_silent_allocation(tmp_path: Path) -> None:
    """InactiveLimit=30: SRUN_PING to the allocation's srun every 10 s while it was not heard of
    lately; silent for 30*4/3 + MessageTimeout(10) + 1 s, the job ends TIMEOUT/InactiveLimit."""

    async def check(h: Harness) -> None:
        jid = (await h.allocate()).body.job_id  # type: ignore[union-attr]
        steps = h.ctl.steps
        steps.time_limits(NOW + 10)
        (ping,) = h.to_slurmd("_ping_srun")  # (the recorder lists every spawned coroutine)
        assert (ping["host"], ping["port"]) == (SRUN_HOST, SRUN_ALLOC.other_port)
        steps.time_limits(NOW + 15)
        assert len(h.to_slurmd("_ping_srun")) == 1  # next round 10 s later
        steps.time_limits(NOW + 50)
        assert h.job(jid).is_running()
        steps.time_limits(NOW + 51)
        job = h.job(jid)
        assert job.base_state == JobState.TIMEOUT and job.state_reason == JobStateReason.FAIL_INACTIVE_LIMIT

    run(tmp_path, check, "InactiveLimit=30\n")


def test_an_answered_ping_keeps_the_allocation(tmp_path: Path) -> None:
    async def check(h: Harness) -> None:
        jid = (await h.allocate()).body.job_id  # type: ignore[union-attr]
        steps = h.ctl.steps
        steps.time_limits(NOW + 10)
        steps._last_active[jid] = NOW + 40  # what an answer to the ping at +40 records
        steps.time_limits(NOW + 51)
        assert h.job(jid).is_running()

    run(tmp_path, check, "InactiveLimit=30\n")


def test_a_step_created_counts_as_srun_activity(tmp_path: Path) -> None:
    """step_create sets the job's time_last_active: an srun that creates steps keeps its allocation
    though it answers no ping."""

    async def check(h: Harness) -> None:
        jid = (await h.allocate()).body.job_id  # type: ignore[union-attr]
        steps = h.ctl.steps
        steps.time_limits(NOW + 10)
        h.now = NOW + 40
        assert (await h.step(jid)).msg_type == MsgType.RESPONSE_JOB_STEP_CREATE
        steps.time_limits(NOW + 51)
        assert h.job(jid).is_running()
        steps.time_limits(NOW + 40 + 51)
        assert h.job(jid).state_reason == JobStateReason.FAIL_INACTIVE_LIMIT

    run(tmp_path, check, "InactiveLimit=30\n")


def _request(msg_type: int, body: Any, uid: int) -> Request:
    frame = Frame(Header(msg_type), 101, None, encode_body(body))
    return Request(msg_type, body, Identity(uid, uid), frame, ("127.0.0.1", 1))


def test_only_slurmd_may_report_a_prolog_complete(tmp_path: Path) -> None:
    """A user's REQUEST_COMPLETE_PROLOG would let the job's steps start before the extern step is
    set up (pam_slurm_adopt, X11): refused unless it comes from SlurmUser/root, as slurmd's does."""

    async def check(h: Harness) -> None:
        job = h.batch_job(5, ("compute-node-1",), ((0,),))
        h.daemon.node_agent.job_started(job)
        body = CompleteProlog(5, "compute-node-1", 0)
        user = complete_prolog(h.ctl, _request(MsgType.REQUEST_COMPLETE_PROLOG, body, 1000))
        assert user.body == ReturnCode(SlurmRC.ESLURM_USER_ID_MISSING)
        assert job.state_reason == JobStateReason.WAIT_PROLOG
        assert complete_prolog(h.ctl, _request(MsgType.REQUEST_COMPLETE_PROLOG, body, 0)).body == ReturnCode(
            0
        )
        assert job.state_reason == JobStateReason.WAIT_NO_REASON

    run(tmp_path, check, "PrologFlags=Alloc\n")


def test_prolog_flags_keywords() -> None:
    assert parse_prolog_flags("Contain") == PrologFlag.ALLOC | PrologFlag.CONTAIN
    assert parse_prolog_flags("x11") == PrologFlag.ALLOC | PrologFlag.CONTAIN | PrologFlag.X11
    assert (
        parse_prolog_flags("NoHold,DeferBatch")
        == PrologFlag.ALLOC | PrologFlag.NOHOLD | PrologFlag.DEFER_BATCH
    )
    assert parse_prolog_flags(None) == PrologFlag(0)
    with pytest.raises(ValueError, match="Invalid PrologFlag: bogus"):
        parse_prolog_flags("alloc,bogus")


def test_job_ready_says_the_node_prologs_still_run(tmp_path: Path) -> None:
    """REQUEST_JOB_READY while the job waits in reason Prolog: RESPONSE_PROLOG_EXECUTING
    (_slurm_rpc_job_ready), RESPONSE_JOB_READY once every node reported."""

    async def check(h: Harness) -> None:
        job = h.batch_job(5, ("compute-node-1",), ((0,),))
        h.daemon.node_agent.job_started(job)
        ask = JobIdRequest(5)
        reply = job_ready(h.ctl, _request(MsgType.REQUEST_JOB_READY, ask, 0))
        assert (reply.msg_type, reply.body) == (MsgType.RESPONSE_PROLOG_EXECUTING, ReturnCode(7))
        h.daemon.node_agent.prolog_complete(5, 0, "compute-node-1")
        reply = job_ready(h.ctl, _request(MsgType.REQUEST_JOB_READY, ask, 0))
        assert (reply.msg_type, reply.body) == (MsgType.RESPONSE_JOB_READY, ReturnCode(7))

    run(tmp_path, check, "PrologFlags=Alloc\n")


def test_an_allocation_too_big_for_the_partition_per_release(tmp_path: Path) -> None:
    """srun -N3 on two nodes: slurmctld 22.05 and 26.05 queue it and answer 4002 with
    ESLURM_REQUESTED_PART_CONFIG_UNAVAILABLE (srun: "Requested partition configuration not
    available now"); 24.11 refuses it (ESLURM_REQUESTED_NODE_CONFIG_UNAVAILABLE), the job id used."""

    async def check(h: Harness) -> None:
        big = dataclasses.replace(SRUN_ALLOC, min_nodes=3, max_nodes=3)
        for version in (PROTOCOL_VERSION, V26):
            body = (await h.ctl.steps.allocate(big, 0, 0, SRUN_HOST, "localhost", version=version)).body
            assert isinstance(body, ResourceAllocationResponse) and body.node_list is None
            assert body.error_code == SlurmRC.ESLURM_REQUESTED_PART_CONFIG_UNAVAILABLE
            assert h.job(body.job_id).is_pending()
        with pytest.raises(SlurmError) as info:
            await h.ctl.steps.allocate(big, 0, 0, SRUN_HOST, "localhost", version=V24)
        assert info.value.rc == SlurmRC.ESLURM_REQUESTED_NODE_CONFIG_UNAVAILABLE and not info.value.message
        assert h.job(3).state == JobState.FAILED
        # ended as a job: its owner hears so on its message port (job_completion_logger)
        assert h.told_srun() == [
            (
                SRUN_ALLOC.resp_host or SRUN_HOST,
                SRUN_ALLOC.other_port,
                MsgType.SRUN_JOB_COMPLETE,
                SrunJobComplete(StepId(3)),
            )
        ]
        # one that fits hears nothing
        body = (await h.ctl.steps.allocate(SRUN_ALLOC, 0, 0, SRUN_HOST, "localhost", version=V24)).body
        assert isinstance(body, ResourceAllocationResponse) and body.error_code == 0

    run(tmp_path, check)


def test_a_job_at_its_time_limit_is_killed_after_its_last_second(tmp_path: Path) -> None:
    """slurmctld finds a job past its end in its check every 30 s, after the second it ends: the
    owner hears SRUN_TIMEOUT with the end, then SRUN_JOB_COMPLETE (so salloc tells that the job
    "has exceeded its time limit"); OverTimeLimit (minutes) delays the kill."""

    async def check(h: Harness) -> None:
        jid = (await h.allocate(dataclasses.replace(SRUN_ALLOC, time_limit=1))).body.job_id  # type: ignore[union-attr]
        end = h.job(jid).end_time
        h.ctl.jobs.time_limits(end)
        assert h.job(jid).is_running()
        h.ctl.jobs.time_limits(end + 1)
        assert h.job(jid).base_state == JobState.TIMEOUT and h.job(jid).end_time == end + 1
        assert [(t, b) for _, _, t, b in h.told_srun()] == [
            (MsgType.SRUN_TIMEOUT, SrunTimeout(StepId(jid), end)),
            (MsgType.SRUN_JOB_COMPLETE, SrunJobComplete(StepId(jid))),
        ]

    run(tmp_path, check)

    async def over(h: Harness) -> None:
        jid = (await h.allocate(dataclasses.replace(SRUN_ALLOC, time_limit=1))).body.job_id  # type: ignore[union-attr]
        end = h.job(jid).end_time
        h.ctl.jobs.time_limits(end + 120)
        assert h.job(jid).is_running()
        h.ctl.jobs.time_limits(end + 121)
        assert h.job(jid).base_state == JobState.TIMEOUT

    run(tmp_path / "over", over, extra_conf="OverTimeLimit=2\n")


# -- GRES: steps take them from their job's allocation, credentials carry them --------------------------

GRES_CONF = "GresTypes=gpu\n"


def test_steps_take_gpus_from_their_job(tmp_path: Path) -> None:
    """A job holding both GPUs of its node: its credentials carry them; steps take one, all (asking
    nothing) or none; a step asking what the job does not hold is refused with 22.05's reason; one
    whose GPUs other steps hold waits; a step's GPUs come back when it ends."""
    from flurm.protocol.messages.common import ReturnCodeMsg
    from flurm.state import gres_node

    async def check(h: Harness) -> None:
        node = h.ctl.cluster.nodes["compute-node-1"]
        node.gres_inv = gres_node.inventory("gpu:tesla:2", ["gpu"])  # (Gres=gpu:tesla:2)
        job = Job(job_id=5, name="b", user_id=0, group_id=0, partition="debug", script="#!/bin/sh")
        job.tres_per_node = "gres:gpu:2"
        h.ctl.cluster.jobs[5] = job
        held = (GresUse("gpu", None, 2, (0, 1)),)
        h.ctl.cluster.start_job(job, Allocation(("compute-node-1",), ((0, 1),), (2,), (0,), (held,)), NOW)
        cred = h.daemon.node_agent.credential(job, SLURM_BATCH_SCRIPT, ("compute-node-1",))
        ((rec,),) = [cred.job_gres]
        assert (rec.type_name, rec.gres_cnt_node_alloc, rec.gres_bit_alloc) == (
            "tesla",
            (2,),
            (Bitmap(2, 3),),
        )
        assert cred.step_gres == ()
        kill = h.daemon.node_agent._kill_msg(job, JobState.COMPLETE, NOW, node)
        assert [i.gres_bit_alloc for i in kill.job_gres_info] == [(Bitmap(2, 3),)]
        one = dict(tres_per_step="cpu:1", tres_per_node="gres:gpu:1", cpu_count=1, num_tasks=1, flags=0)
        first = (await h.step(5, **one)).body
        assert isinstance(first, JobStepCreateResponse)
        ((srec,),) = [first.credential.step_gres]
        assert (srec.gres_cnt_node_alloc, srec.gres_bit_alloc, srec.node_in_use) == (
            (1,),
            (Bitmap(2, 0b01),),
            Bitmap(1, 1),
        )
        assert first.credential.job_gres == cred.job_gres
        second = (await h.step(5, **one)).body
        assert isinstance(second, JobStepCreateResponse)
        assert second.credential.step_gres[0].gres_bit_alloc == (Bitmap(2, 0b10),)
        # both GPUs held by steps: a third waits; --gres=none --overlap=force runs at once with none
        assert (await h.step(5, **one)).body == ReturnCode(SlurmRC.ESLURM_NODES_BUSY)
        none = (await h.step(5, **{**one, "tres_per_node": "none", "flags": SSF_OVERLAP_FORCE})).body
        assert isinstance(none, JobStepCreateResponse) and none.credential.step_gres == ()
        too_many = (await h.step(5, **{**one, "tres_per_node": "gres:gpu:3"})).body
        assert too_many == ReturnCodeMsg(
            SlurmRC.ESLURM_INVALID_GRES,
            "Step requested gres_per_node=gpu:3 is more than the job's gres_per_node=gpu:2",
        )
        # the first step ends: its GPU is free for the next, which asks nothing (the job's 2: busy yet)
        assert h.ctl.steps.step_complete(StepId(5, first.job_step_id), 0, 0, 0, uid=0) == 0
        assert (await h.step(5, tres_per_step="cpu:1", cpu_count=1, num_tasks=1, flags=0)).body == ReturnCode(
            SlurmRC.ESLURM_NODES_BUSY
        )
        third = (await h.step(5, **one)).body
        assert isinstance(third, JobStepCreateResponse)
        assert third.credential.step_gres[0].gres_bit_alloc == (Bitmap(2, 0b01),)
        steps = JobSteps.of(job).steps
        assert steps[third.job_step_id].gres_alloc == ((GresUse("gpu", None, 1, (0,)),),)
        assert steps[third.job_step_id].tres_per_node == "gres:gpu:1"

    run(tmp_path, check, GRES_CONF)


# -- the CPUs steps take and what the job record says they use (_step_alloc_lps) -----------------------


def _used(h: Harness, job_id: int) -> tuple[tuple[int, ...], Bitmap | None]:
    """The job record's job_resources cpus_used and core_bitmap_used (scontrol -d, squeue --json)."""
    from flurm.protocol.constants import ShowFlags
    from flurm.state.records import _native_job_record

    res = _native_job_record(h.job(job_id), h.ctl.cluster, ShowFlags.DETAIL).job_resources
    assert res is not None
    return res.cpus_used, res.core_bitmap_used


def _cpus(h: Harness, job_id: int, step_id: int) -> int:
    body = h.ctl.steps.step_info(job_id, step_id, 0, uid=0).body
    assert isinstance(body, JobStepInfoResponse)
    (info,) = body.steps
    assert info.tres_alloc_str is not None and info.tres_alloc_str.startswith(f"cpu={info.num_cpus},")
    return info.num_cpus


def test_steps_cpus_and_the_jobs_cpus_used(tmp_path: Path) -> None:
    """As slurmctld 22.05 (checked live: sbatch -n4 with srun -n1, srun -n1 --exact, srun -n1 -c2,
    srun --overlap): a step without --exact gets all the job's CPUs on its node, one with --exact
    its tasks times CPUs per task; the job's cpus_used and core_bitmap_used count the running
    steps, but a step asking exactly the job's CPUs marks no core and --overlap=force counts nothing."""

    async def check(h: Harness) -> None:
        h.batch_job(5, ("compute-node-1",), ((0, 1),))
        assert _used(h, 5) == ((0,), Bitmap(2, 0))
        one = dict(cpu_count=1, num_tasks=1, tres_per_step="cpu:1")
        whole = (await h.step(5, **one, flags=SSF_WHOLE)).body
        assert isinstance(whole, JobStepCreateResponse)
        assert _cpus(h, 5, whole.job_step_id) == 2
        assert _used(h, 5) == ((2,), Bitmap(2, 0b11))
        assert h.ctl.steps.step_complete(StepId(5, whole.job_step_id), 0, 0, 0, uid=0) == 0
        assert _used(h, 5) == ((0,), Bitmap(2, 0))
        exact = (await h.step(5, **one, flags=0)).body
        assert isinstance(exact, JobStepCreateResponse)
        assert _cpus(h, 5, exact.job_step_id) == 1
        assert _used(h, 5) == ((1,), Bitmap(2, 0b01))
        force = (await h.step(5, **one, flags=SSF_OVERLAP_FORCE)).body
        assert isinstance(force, JobStepCreateResponse)
        assert _cpus(h, 5, force.job_step_id) == 1
        assert _used(h, 5) == ((1,), Bitmap(2, 0b01))  # --overlap=force is not counted
        second = (await h.step(5, **one, flags=0)).body
        assert isinstance(second, JobStepCreateResponse)
        assert _used(h, 5) == ((2,), Bitmap(2, 0b11))
        for s in (exact, force, second):
            assert h.ctl.steps.step_complete(StepId(5, s.job_step_id), 0, 0, 0, uid=0) == 0
        # srun -c2 in a job of 2 CPUs: it takes the job's core bitmap as it is, marks no core
        c2 = (await h.step(5, cpu_count=2, num_tasks=1, tres_per_task="cpu:2", flags=0)).body
        assert isinstance(c2, JobStepCreateResponse)
        assert _cpus(h, 5, c2.job_step_id) == 2
        assert _used(h, 5) == ((2,), Bitmap(2, 0))

    run(tmp_path, check)


@pytest.mark.parametrize(("version", "cpus"), [(PROTOCOL_VERSION, 1), (V24, 2), (V26, 2)])
def test_step_cpus_per_gpu(tmp_path: Path, version: int, cpus: int) -> None:
    """A step with --cpus-per-gpu=2 and one GPU, --exact: from 24.11 it gets 2 CPUs (cpus_per_gres
    times its GPUs on the node, gres_stepmgr_step_alloc); 22.05 ignores --cpus-per-gpu there and
    gives its one task one CPU (checked live: sbatch --gpus=1 --cpus-per-gpu=2, srun --exact)."""
    from flurm.state import gres_node

    async def check(h: Harness) -> None:
        node = h.ctl.cluster.nodes["compute-node-1"]
        node.gres_inv = gres_node.inventory("gpu:tesla:2", ["gpu"])
        job = Job(job_id=5, name="b", user_id=0, group_id=0, partition="debug", script="#!/bin/sh")
        job.tres_per_job, job.cpus_per_tres = "gres:gpu:1", "gres:gpu:2"
        h.ctl.cluster.jobs[5] = job
        held = (GresUse("gpu", "tesla", 1, (0,)),)
        h.ctl.cluster.start_job(job, Allocation(("compute-node-1",), ((0, 1),), (2,), (0,), (held,)), NOW)
        req = dataclasses.replace(
            SRUN_STEP,
            step_id=StepId(5, NO_VAL, NO_VAL),
            cpu_count=1,
            num_tasks=1,
            flags=0,
            tres_per_step="cpu:1,gres:gpu:1",
            cpus_per_tres="gres:gpu:2",
        )
        resp = (await h.ctl.steps.create_step(req, 0, SRUN_HOST, version=version)).body
        assert isinstance(resp, JobStepCreateResponse)
        assert _cpus(h, 5, resp.job_step_id) == cpus
        assert _used(h, 5)[0] == (cpus,)

    run(tmp_path, check, GRES_CONF)
