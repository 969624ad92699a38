"""Driving the real slurmd daemons: registration, pings, batch launch, terminate, signal, time limits.

Every message to a node runs in its own task with a deadline, so a slurmd that does not answer
delays nobody else. Node state follows what slurmctld shows: UNKNOWN until the node registers; then
IDLE/ALLOCATED (clients compute MIXED); NO_RESPOND ("*") when a ping fails; DOWN with reason
"Not responding" after SlurmdTimeout without an answer; back up when it registers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from flurm.controller.records import compress
from flurm.controller.transport import Reply, call, rc_reply
from flurm.protocol.constants import (
    NO_VAL,
    NO_VAL16,
    SLURM_BATCH_SCRIPT,
    JobStateFlag,
    KillFlags,
    MsgType,
    NodeState,
    NodeStateFlag,
    SlurmRC,
)
from flurm.protocol.messages.common import Empty, ReturnCode
from flurm.protocol.messages.credential import JobCredential, StepId
from flurm.protocol.messages.slurmd import (
    DEFAULT_TRES,
    BatchJobLaunch,
    KillJobMsg,
    NodeRegistrationResponse,
    NodeRegistrationStatus,
    PingSlurmdResponse,
    SignalTasks,
    TresRecord,
)
from flurm.protocol.wire import Bitmap
from flurm.state.model import Job, Node
from flurm.users import user_info

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

log = logging.getLogger("flurm.nodes")

SLURMD_REG_FLAG_RESP = 0x2
# slurmd answers TERMINATE with this when nothing of the job runs there any more
ESLURMD_KILL_JOB_ALREADY_COMPLETE = 4002


class NodeAgent:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.cluster = ctl.cluster
        cfg = ctl.config
        self.timeout = float(cfg.message_timeout)
        self.slurmd_timeout = int(cfg.slurmd_timeout)
        # slurmctld pings every SlurmdTimeout/3 (at most every 100 s)
        self.ping_interval = max(1, min(100, self.slurmd_timeout // 3 if self.slurmd_timeout else 100))
        self._last_ping = 0
        self._last_reg_request: dict[str, float] = {}
        self._inflight_ping: set[str] = set()
        self.unknown_steps: dict[str, list[StepId]] = {}  # quarantined: running on a node, unknown to us

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        for node in self.cluster.node_list:
            if node.base_state != NodeState.FUTURE:
                self.request_registration(node)

    async def stop(self) -> None:
        return None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self.ctl.spawn(coro)

    async def _call(
        self,
        node: Node,
        msg_type: int,
        body: object,
        *,
        expect_reply: bool = True,
        timeout: float | None = None,
    ) -> object | None:
        resp = await call(
            node.addr,
            node.port,
            msg_type,
            body,  # type: ignore[arg-type]
            self.ctl.signer,
            timeout=timeout or self.timeout,
            expect_reply=expect_reply,
        )
        if resp is None:
            return None
        self.node_answered(node)
        return resp.body

    # -- registration -----------------------------------------------------------------------------
    def request_registration(self, node: Node) -> None:
        """Ask slurmd to register (REQUEST_NODE_REGISTRATION_STATUS); it answers on its own connection."""
        now = time.monotonic()
        if now - self._last_reg_request.get(node.name, 0.0) < 1.0:
            return
        self._last_reg_request[node.name] = now
        self._spawn(self._request_registration(node))

    async def _request_registration(self, node: Node) -> None:
        try:
            await self._call(node, MsgType.REQUEST_NODE_REGISTRATION_STATUS, Empty(), timeout=5.0)
        except (OSError, TimeoutError, ConnectionError) as exc:
            log.debug("registration request to %s failed: %s", node.name, exc)
        except Exception as exc:
            log.info("registration request to %s failed: %s", node.name, exc)

    def registration(self, msg: NodeRegistrationStatus, uid: int) -> Reply:
        """MESSAGE_NODE_REGISTRATION_STATUS from slurmd."""
        node = self.cluster.nodes.get(msg.node_name or "")
        if node is None:
            log.warning("registration from unknown node %r", msg.node_name)
            return rc_reply(0)  # as slurmctld: answer so that slurmd stops retrying
        if not self.ctl.is_admin(uid):
            log.warning("registration of %s by uid %s refused", node.name, uid)
            return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
        now = self.ctl.now()
        was_down = node.base_state in (NodeState.DOWN, NodeState.UNKNOWN) or not node.is_responding()
        node.registered = True
        node.version = msg.version
        node.arch = msg.arch
        node.os = msg.os
        node.cpu_load = msg.cpu_load
        node.free_mem = msg.free_mem
        node.slurmd_start_time = msg.slurmd_start_time
        node.boot_time = now - msg.up_time if msg.up_time else now
        node.last_response = now
        node.flags &= ~NodeStateFlag.NO_RESPOND
        if node.base_state in (NodeState.UNKNOWN, NodeState.DOWN) and not node.config_down:
            if node.base_state == NodeState.DOWN and node.reason == "Not responding":
                node.reason = None
                node.reason_time = 0
                node.reason_uid = NO_VAL
            node.base_state = NodeState.IDLE
            node.refresh_base_state()
        if was_down:
            log.info("node %s registered (slurmd %s)", node.name, msg.version)
        self._reconcile(node, msg)
        self.cluster.node_changed(node)
        self.ctl.schedule_soon()
        if msg.flags & SLURMD_REG_FLAG_RESP:
            return Reply(MsgType.RESPONSE_NODE_REGISTRATION, NodeRegistrationResponse(self._cluster_tres()))
        return rc_reply(0)

    def _cluster_tres(self) -> tuple[TresRecord, ...]:
        """The TRES list slurmd waits for, with the cluster's totals as slurmctld fills them."""
        nodes = self.cluster.node_list
        totals = {
            "cpu": sum(n.cpus for n in nodes),
            "mem": sum(n.real_memory for n in nodes),
            "node": len(nodes),
            "billing": sum(n.cpus for n in nodes),
        }
        return tuple(replace(t, count=totals.get(t.type or "", 0)) for t in DEFAULT_TRES)

    def _reconcile(self, node: Node, msg: NodeRegistrationStatus) -> None:
        """Match the steps slurmd reports with our jobs. Unknown ones are left alone (quarantined)."""
        unknown = []
        for step in msg.steps:
            job = self.cluster.jobs.get(step.job_id)
            if job is None or node.name not in job.nodes:
                unknown.append(step)
        if unknown:
            self.unknown_steps[node.name] = unknown
            log.warning(
                "node %s runs steps flurm does not know: %s",
                node.name,
                ", ".join(f"{s.job_id}.{s.step_id:#x}" for s in unknown),
            )
        else:
            self.unknown_steps.pop(node.name, None)

    def node_answered(self, node: Node) -> None:
        node.last_response = self.ctl.now()
        if node.flags & NodeStateFlag.NO_RESPOND:
            node.flags &= ~NodeStateFlag.NO_RESPOND
            self.cluster.node_changed(node)

    # -- health -----------------------------------------------------------------------------------
    def tick(self, now: int) -> None:
        for node in self.cluster.node_list:
            if node.base_state == NodeState.FUTURE:
                continue
            if not node.registered or node.base_state == NodeState.UNKNOWN:
                self.request_registration(node)
                continue
            if node.base_state == NodeState.DOWN:
                self.request_registration(node)
                continue
            silent = now - node.last_response
            if silent >= self.slurmd_timeout > 0:
                self._node_down(node, "Not responding", now)
            elif silent >= self.ping_interval and node.name not in self._inflight_ping:
                self._inflight_ping.add(node.name)
                self._spawn(self._ping(node))

    async def _ping(self, node: Node) -> None:
        try:
            body = await self._call(node, MsgType.REQUEST_PING, Empty(), timeout=self.timeout)
            if isinstance(body, PingSlurmdResponse):
                node.cpu_load = body.cpu_load
                node.free_mem = body.free_mem
        except Exception as exc:
            log.info("ping of %s failed: %s", node.name, exc)
            if not node.flags & NodeStateFlag.NO_RESPOND:
                node.flags |= NodeStateFlag.NO_RESPOND
                self.cluster.node_changed(node)
        finally:
            self._inflight_ping.discard(node.name)

    def _node_down(self, node: Node, reason: str, now: int) -> None:
        if node.base_state == NodeState.DOWN:
            return
        log.warning("node %s is DOWN: %s", node.name, reason)
        node.base_state = NodeState.DOWN
        node.flags |= NodeStateFlag.NO_RESPOND
        node.reason = reason
        node.reason_time = now
        node.reason_uid = self.ctl.config.slurm_user_uid
        node.registered = False
        for job_id in list(node.jobs):
            job = self.cluster.jobs.get(job_id)
            if job is None:
                continue
            if job.is_running():
                self.ctl.jobs.node_failed(job, node.name)
            elif job.is_completing():
                self.ctl.jobs.node_epilog_done(job.job_id, node.name)
        self.cluster.node_changed(node)

    def node_failed_to_answer(self, node: Node) -> None:
        if not node.flags & NodeStateFlag.NO_RESPOND:
            node.flags |= NodeStateFlag.NO_RESPOND
            self.cluster.node_changed(node)

    # -- credentials ------------------------------------------------------------------------------
    def credential(
        self, job: Job, step_id: int, hosts: tuple[str, ...] | None = None, *, kill_time: int | None = None
    ) -> JobCredential:
        """The job credential slurmd and slurmstepd need (unsigned, as slurmctld makes batch ones).

        A kill credential (``kill_time`` set) covers the whole job: no step hosts, no step cores, no
        memory array, and its ctime is the revoke time (job_mgr.c:create_kill_job_msg).
        """
        info = user_info(job.user_id)
        nodes = [self.cluster.nodes[n] for n in job.nodes]
        sockets: list[int] = []
        cores: list[int] = []
        sock_reps: list[int] = []
        for n in nodes:
            if sockets and sockets[-1] == n.sockets and cores[-1] == n.cores_per_socket:
                sock_reps[-1] += 1
            else:
                sockets.append(n.sockets)
                cores.append(n.cores_per_socket)
                sock_reps.append(1)
        total = sum(n.total_cores for n in nodes)
        value, offset = 0, 0
        for n, picked in zip(nodes, job.cores_alloc, strict=True):
            for c in picked:
                value |= 1 << (offset + c)
            offset += n.total_cores
        cpu_vals, cpu_reps = _rle(list(job.cpus_alloc))
        mem_vals, mem_reps = _rle(list(job.mem_alloc))
        hostlist = compress(job.nodes)
        kill = kill_time is not None
        return JobCredential(
            step_id=StepId(job.job_id, step_id, NO_VAL),
            uid=job.user_id,
            gid=job.group_id,
            pw_name=info.name if info else None,
            pw_gecos=info.gecos if info else None,
            pw_dir=info.home if info else None,
            pw_shell=info.shell if info else None,
            gids=info.gids if info else (job.group_id,),
            job_core_spec=NO_VAL16,
            job_account=job.account,
            job_comment=job.comment,
            job_constraints=job.features,
            job_partition=job.partition,
            job_reservation=job.reservation,
            job_restart_cnt=job.restart_cnt,
            job_std_err=job.std_err,
            job_std_in=job.std_in,
            job_std_out=job.std_out,
            step_hostlist=None if kill else (compress(hosts) if hosts else hostlist),
            ctime=kill_time if kill_time is not None else self.ctl.now(),
            job_core_bitmap=Bitmap(total, value),
            step_core_bitmap=None if kill else Bitmap(total, value),
            cores_per_socket=tuple(cores),
            sockets_per_node=tuple(sockets),
            sock_core_rep_count=tuple(sock_reps),
            cpu_array=tuple(cpu_vals),
            cpu_array_reps=tuple(cpu_reps),
            job_nhosts=len(nodes),
            job_ntasks=job.num_tasks if job.tasks_set else 0,
            job_hostlist=hostlist,
            job_mem_alloc=() if kill else tuple(mem_vals),
            job_mem_alloc_rep_count=() if kill else tuple(mem_reps),
        )

    # -- batch launch -----------------------------------------------------------------------------
    def launch_batch(self, job: Job) -> None:
        self._spawn(self._launch_batch(job))

    async def _launch_batch(self, job: Job) -> None:
        host = job.batch_host
        node = self.cluster.nodes.get(host or "")
        if node is None:
            return
        cpu_vals, cpu_reps = _rle(list(job.cpus_alloc))
        msg = BatchJobLaunch(
            job_id=job.job_id,
            uid=job.user_id,
            gid=job.group_id,
            credential=self.credential(job, SLURM_BATCH_SCRIPT, (node.name,)),
            partition=job.partition,
            ntasks=job.num_tasks if job.tasks_set else 0,
            pn_min_memory=job.pn_min_memory,
            open_mode=job.open_mode,
            overcommit=0,
            array_job_id=job.array_job_id,
            array_task_id=job.array_task_id,
            cpus_per_task=job.cpus_per_task,
            restart_cnt=job.restart_cnt,
            job_core_spec=0,
            cpus_per_node=tuple(cpu_vals),
            cpu_count_reps=tuple(cpu_reps),
            nodes=compress(job.nodes),
            script=job.script,
            work_dir=job.work_dir,
            std_err=job.std_err,
            std_in=job.std_in,
            std_out=job.std_out,
            argv=job.argv,
            spank_job_env=job.spank_job_env,
            environment=job.environment,
            job_mem=job.pn_min_memory,
            account=job.account,
            qos=job.qos,
            resv_name=job.reservation,
        )
        try:
            body = await self._call(node, MsgType.REQUEST_BATCH_JOB_LAUNCH, msg)
        except Exception as exc:
            log.warning("launch of job %s on %s failed: %s", job.job_id, node.name, exc)
            self.node_failed_to_answer(node)
            if job.is_running():
                self.ctl.jobs.requeue_after_launch_failure(job, f"launch on {node.name} failed")
                self.ctl.schedule_soon()
            return
        rc = body.rc if isinstance(body, ReturnCode) else 0
        if rc != 0:
            log.warning("slurmd on %s refused job %s: rc %s", node.name, job.job_id, rc)
            if job.is_running():
                self.ctl.jobs.fail_launch(job, rc)

    # -- terminate / signal -----------------------------------------------------------------------
    def terminate_job(self, job: Job, job_state: int) -> None:
        for name in job.completing_nodes or job.nodes:
            node = self.cluster.nodes.get(name)
            if node is not None:
                self._spawn(self._terminate(job, node, job_state, MsgType.REQUEST_TERMINATE_JOB))

    def kill_timelimit(self, job: Job) -> None:
        for name in job.completing_nodes or job.nodes:
            node = self.cluster.nodes.get(name)
            if node is not None:
                self._spawn(self._terminate(job, node, job.base_state, MsgType.REQUEST_KILL_TIMELIMIT))

    def _kill_msg(self, job: Job, job_state: int) -> KillJobMsg:
        now = self.ctl.now()
        return KillJobMsg(
            step_id=StepId(job.job_id, NO_VAL, NO_VAL),
            job_state=job_state | JobStateFlag.COMPLETING,
            job_uid=job.user_id,
            job_gid=job.group_id,
            time=now,
            credential=self.credential(job, NO_VAL, kill_time=now),
            exit_code=job.exit_code,
            derived_ec=job.derived_ec,
            nodes=compress(job.nodes),
            spank_job_env=job.spank_job_env,
            start_time=job.start_time,
            work_dir=job.work_dir,
        )

    async def _terminate(self, job: Job, node: Node, job_state: int, msg_type: int, attempt: int = 0) -> None:
        try:
            body = await self._call(node, msg_type, self._kill_msg(job, job_state))
        except Exception as exc:
            log.info("terminate of job %s on %s failed: %s", job.job_id, node.name, exc)
            self.node_failed_to_answer(node)
            # retried by the epilog watchdog in tick() through the node's DOWN handling
            if attempt < 3 and not self.ctl.stopping.is_set():
                await asyncio.sleep(min(10.0, 2.0**attempt))
                if job.is_completing() and node.name in job.completing_nodes:
                    await self._terminate(job, node, job_state, msg_type, attempt + 1)
            return
        rc = body.rc if isinstance(body, ReturnCode) else 0
        if rc == ESLURMD_KILL_JOB_ALREADY_COMPLETE or rc == SlurmRC.ESLURM_INVALID_JOB_ID:
            self.ctl.jobs.node_epilog_done(job.job_id, node.name)
        # rc 0: slurmd runs the epilog and reports with MESSAGE_EPILOG_COMPLETE

    def signal_job(self, job: Job, signal: int, flags: int) -> None:
        step = SLURM_BATCH_SCRIPT if flags & KillFlags.BATCH else NO_VAL
        targets = [job.batch_host] if flags & KillFlags.BATCH else list(job.nodes)
        for name in targets:
            node = self.cluster.nodes.get(name or "")
            if node is not None:
                msg = SignalTasks(StepId(job.job_id, step, NO_VAL), signal, flags)
                self._spawn(self._signal(node, msg))

    async def _signal(self, node: Node, msg: SignalTasks) -> None:
        try:
            await self._call(node, MsgType.REQUEST_SIGNAL_TASKS, msg)
        except Exception as exc:
            log.info("signal to %s failed: %s", node.name, exc)


def _rle(values: list[int]) -> tuple[list[int], list[int]]:
    vals: list[int] = []
    reps: list[int] = []
    for v in values:
        if vals and vals[-1] == v:
            reps[-1] += 1
        else:
            vals.append(v)
            reps.append(1)
    return vals, reps
