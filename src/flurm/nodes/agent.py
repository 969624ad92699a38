"""Driving the real slurmd daemons: registration, pings, batch launch, terminate, signal, time limits.

Every message to a node runs in its own task with a deadline, so a slurmd that does not answer
delays nobody else. Node states follow slurmctld (node_mgr.c, ping_nodes.c):

* UNKNOWN until slurmd registers; "*" (NO_RESPOND) as long as it cannot be reached;
* IDLE / ALLOCATED as the allocation says (clients show MIXED from the allocated CPUs);
* a node that has not answered for SlurmdTimeout goes DOWN with reason "Not responding"; its
  running jobs are requeued (batch jobs that allow it) or end with NODE_FAIL;
* a DOWN node that registers again returns to service as ReturnToService says (2: always;
  1: when it was DOWN for not responding; 0: never by itself).

Registration reconciles the steps slurmd reports with flurm's jobs (job_mgr.c
validate_jobs_on_node): a step of a job flurm does not know is quarantined — logged and kept
in :attr:`NodeAgent.quarantine`, never aborted, since after a takeover it may be a job flurm has
not imported yet; a step of a job flurm requeued, or that runs on a node where it should not, is
aborted; a finished or completing job is terminated again; a running batch job its batch host no
longer reports (after BatchStartTimeout) is treated as a node failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from flurm.config.hostlists import compress
from flurm.config.prologflags import PrologFlag, parse_prolog_flags
from flurm.controller import reboot
from flurm.controller.steps import interactive_allocation
from flurm.nodes import batch_env, gres_reg
from flurm.nodes.health import HealthChecks
from flurm.protocol.constants import (
    NO_VAL,
    NO_VAL16,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_BATCH_SCRIPT,
    SLURM_EXTERN_CONT,
    JobState,
    JobStateFlag,
    JobStateReason,
    KillFlags,
    MsgType,
    NodeState,
    NodeStateFlag,
    SlurmRC,
)
from flurm.protocol.messages.base import Message
from flurm.protocol.messages.common import Empty, ReturnCode
from flurm.protocol.messages.credential import GresEpilogInfo, JobCredential, StepId
from flurm.protocol.messages.slurmd import (
    DEFAULT_TRES,
    BatchJobLaunch,
    KillJobMsg,
    LaunchProlog,
    NodeRegistrationResponse,
    NodeRegistrationStatus,
    PingSlurmdResponse,
    SignalTasks,
    TresRecord,
)
from flurm.protocol.versions import SPOKEN
from flurm.rpc.slurmd import call_node, node_version
from flurm.rpc.transport import Reply, call, rc_reply
from flurm.state import gres_alloc, gres_bind, multicore
from flurm.state.layout import core_layout, rle
from flurm.state.model import Job, Node
from flurm.users import user_info

if TYPE_CHECKING:
    from flurm.controller.ports import ControllerPort

log = logging.getLogger("flurm.nodes")

SLURMD_REG_FLAG_RESP = 0x2
# slurmd answers TERMINATE with this when nothing of the job runs there any more (and no epilog)
ESLURMD_KILL_JOB_ALREADY_COMPLETE = 4002
ESLURMD_PROLOG_FAILED = 4022
ESLURMD_SETUP_ENVIRONMENT_ERROR = 4025
# slurmd refuses a second launch of a job it already runs with this: the first one got through
ESLURM_DUPLICATE_JOB_ID = 2011
# job ids slurmd may report for steps outside any allocation (srun --no-allocate)
MIN_NOALLOC_JOBID = 0xFFFF0000
MAX_NOALLOC_JOBID = 0xFFFFFFFD
# retries of a launch or a terminate that got no answer: 1 s, doubling up to this
MAX_RETRY_DELAY = 10.0


async def _no_script(job: Job) -> bool:
    log.warning("job %s has no script and nothing to fetch it from", job.job_id)
    return False


class NodeAgent:
    def __init__(self, ctl: ControllerPort) -> None:
        self.ctl = ctl
        self.cluster = ctl.cluster
        cfg = ctl.config
        self.msg_timeout = float(cfg.message_timeout)
        self.slurmd_timeout = int(cfg.slurmd_timeout)
        # slurmctld pings nodes silent for SlurmdTimeout/3 (every 100 s with SlurmdTimeout=0)
        self.ping_interval = max(1, self.slurmd_timeout // 3 if self.slurmd_timeout else 100)
        self.return_to_service = int(cfg.return_to_service)
        self.batch_start_timeout = int(cfg.batch_start_timeout)
        self._epoch = 0  # when this agent (re)started driving the nodes
        self._reg_due: dict[str, float] = {}  # earliest time of the next REQUEST_NODE_REGISTRATION_STATUS
        self._registering: set[str] = set()
        self._pinging: set[str] = set()
        self._last_ping: dict[str, int] = {}
        self._terminating: set[tuple[int, str]] = set()
        self._batch_seen: dict[int, int] = {}  # job id -> last time its batch host reported (or got) it
        # steps slurmd reported for jobs flurm does not know, per node: left running, never aborted
        self.quarantine: dict[str, tuple[StepId, ...]] = {}
        # the script of a job imported from slurmctld, from its saved state (daemon.py attaches it)
        self.fetch_script: Callable[[Job], Awaitable[bool]] = _no_script
        self.prolog_flags = parse_prolog_flags(cfg.prolog_flags)
        # per job: the nodes whose prolog (PrologFlags=Alloc) has not reported yet, and an event set
        # when none is left (a DeferBatch launch waits on it)
        self._prolog_running: dict[int, set[str]] = {}
        self._prolog_done: dict[int, asyncio.Event] = {}
        self.health = HealthChecks(cfg.raw, 0)
        self._tres_of: list[Node] | None = None  # the node list cluster_tres was built for
        self._tres: tuple[TresRecord, ...] = ()

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Start driving the nodes (again): every node is asked to register."""
        now = self.ctl.now()
        self._epoch = now
        self.health.last = now
        for node in self.cluster.node_list:
            if not _not_driven(node):
                self.request_registration(node)

    async def stop(self) -> None:
        return None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self.ctl.spawn(coro)

    def _active(self) -> bool:
        return not self.ctl.stopping.is_set()

    node_version = staticmethod(node_version)

    async def _call(
        self, node: Node, msg_type: int, body: Message, *, timeout: float | None = None
    ) -> object | None:
        resp = await call_node(node, msg_type, body, self.ctl.signer, timeout or self.msg_timeout)
        if resp is None:
            return None
        self.node_answered(node)
        return resp.body

    # -- registration -----------------------------------------------------------------------------
    def request_registration(self, node: Node) -> None:
        """Ask slurmd to register now (REQUEST_NODE_REGISTRATION_STATUS); it answers with a 1002."""
        self._reg_due.pop(node.name, None)
        self._maybe_request_registration(node, self.ctl.clock())

    def _maybe_request_registration(self, node: Node, now: float) -> None:
        """An unregistered node is asked again a ping interval after the last time, answered or not, as
        slurmctld's ping cycle asks its UNKNOWN nodes: a slurmd that starts registers on its own, and
        asking on a quick backoff while a storm of registrations waited to be served made every node
        register twice (5,000 extra requests and registrations at 5,000 nodes)."""
        if node.name in self._registering or now < self._reg_due.get(node.name, 0.0):
            return
        self._reg_due[node.name] = now + self.ping_interval
        self._registering.add(node.name)
        self._spawn(self._request_registration(node))

    async def _request_registration(self, node: Node) -> None:
        try:
            await self._call(node, MsgType.REQUEST_NODE_REGISTRATION_STATUS, Empty())
        except Exception as exc:
            log.debug("registration request to %s failed: %s", node.name, exc)
            self.node_failed_to_answer(node)
        finally:
            self._registering.discard(node.name)

    def registration(self, msg: NodeRegistrationStatus, uid: int) -> Reply:
        """MESSAGE_NODE_REGISTRATION_STATUS from slurmd."""
        node = self.cluster.nodes.get(msg.node_name or "")
        if node is None:
            log.warning("registration from unknown node %r (hostname %r)", msg.node_name, msg.hostname)
            return rc_reply(0)  # as slurmctld: answer, so that slurmd stops retrying
        if not self.ctl.is_admin(uid):
            log.warning("registration of %s by uid %s refused", node.name, uid)
            return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
        now = self.ctl.now()
        self._reg_due.pop(node.name, None)
        boot_time = now - msg.up_time if 0 < msg.up_time <= now else now
        rebooted = (
            node.registered
            and node.last_response > 0
            and boot_time > node.last_response
            and node.base_state not in (NodeState.UNKNOWN, NodeState.DOWN)
        )
        node.version = msg.version
        node.arch = msg.arch
        node.os = msg.os
        node.cpu_load = msg.cpu_load
        node.free_mem = msg.free_mem
        node.slurmd_start_time = msg.slurmd_start_time
        node.boot_time = boot_time
        if reboot.node_rebooted(node, boot_time):  # (jobctl) the end of a reboot flurm issued
            log.info("node %s rebooted", node.name)
        invalid = gres_reg.register(node, msg, self.cluster.config)  # the reason it is INVAL, if it is
        if invalid is None:
            node.last_busy = now  # slurmctld (validate_node_specs) counts every valid registration as busy
        if not node.is_responding():
            log.info("node %s now responding", node.name)
            node.flags &= ~NodeStateFlag.NO_RESPOND
        steps = [s for s in msg.steps if not MIN_NOALLOC_JOBID <= s.job_id <= MAX_NOALLOC_JOBID]
        was_invalid = node.flags & NodeStateFlag.INVALID_REG
        node.flags &= ~NodeStateFlag.INVALID_REG
        failed = msg.status in (ESLURMD_PROLOG_FAILED, ESLURMD_SETUP_ENVIRONMENT_ERROR)
        if invalid is not None:
            # validate_node_specs: INVAL, drained with the reason unless down, drained or failed already;
            # the node stays in the state it had (UNKNOWN before its first valid registration)
            node.flags |= NodeStateFlag.INVALID_REG
            if not was_invalid:
                log.error("Setting node %s state to INVAL with reason:%s", node.name, invalid)
            unavailable = node.flags & (NodeStateFlag.DRAIN | NodeStateFlag.FAIL)
            if node.base_state != NodeState.DOWN and not unavailable:
                self._set_reason(node, invalid, now)
                node.flags |= NodeStateFlag.DRAIN
        elif failed and not node.flags & NodeStateFlag.DRAIN:
            why = "Prolog error" if msg.status == ESLURMD_PROLOG_FAILED else "Job env setup error"
            log.error("node %s reports a prolog or job environment failure: draining it", node.name)
            self._set_reason(node, why, now)
            node.flags |= NodeStateFlag.DRAIN
        if invalid is not None:
            pass
        elif node.base_state == NodeState.UNKNOWN:
            node.base_state = NodeState.IDLE
            node.refresh_base_state()
            if not node.flags & (NodeStateFlag.DRAIN | NodeStateFlag.FAIL):
                self._set_reason(node, None, 0)  # the node is up (clusteracct_storage_g_node_up)
            log.debug("node %s registered (slurmd %s, %d step(s))", node.name, msg.version, len(steps))
        elif node.base_state == NodeState.DOWN:
            if self._may_return(node):
                node.base_state = NodeState.IDLE
                node.refresh_base_state()
                if not node.flags & (NodeStateFlag.DRAIN | NodeStateFlag.FAIL):
                    self._set_reason(node, None, 0)  # the node is up (clusteracct_storage_g_node_up)
                log.info("node %s returned to service", node.name)
            elif not node.registered:
                log.info("node %s registered but stays DOWN (%s)", node.name, node.reason)
        elif rebooted and self.return_to_service != 2:
            log.warning(
                "node %s unexpectedly rebooted (boot time %s, last response %s)",
                node.name,
                boot_time,
                node.last_response,
            )
            if not node.reason or node.reason == "Not responding":
                self._set_reason(node, "Node unexpectedly rebooted", now)
            self._mark_down(node, now)
            steps = []
        node.registered = True
        node.last_response = now
        self._reconcile(node, steps, now)
        self.cluster.node_changed(node)
        self.ctl.schedule_soon()
        if invalid is not None:
            log.error("_slurm_rpc_node_registration node=%s: Invalid argument", node.name)
            return rc_reply(0)  # as slurmctld: acknowledged, so that slurmd does not retry
        if msg.flags & SLURMD_REG_FLAG_RESP:
            return Reply(MsgType.RESPONSE_NODE_REGISTRATION, NodeRegistrationResponse(self.cluster_tres()))
        return rc_reply(0)

    def _may_return(self, node: Node) -> bool:
        """May a DOWN node that registers return to service (ReturnToService)?"""
        if node.config_down or node.flags & NodeStateFlag.REBOOT_ISSUED:
            return False  # (jobctl) a node told to reboot returns once it booted
        if self.return_to_service == 2:
            return True
        return self.return_to_service == 1 and node.reason == "Not responding"

    def cluster_tres(self) -> tuple[TresRecord, ...]:
        """The TRES list slurmd waits for, with the cluster's totals as slurmctld fills them.

        Built once per node list: nodes' CPUs and memory come from slurm.conf, and a reconfigure
        replaces the list (summing 5,000 nodes for each of 5,000 registrations was an eighth of a
        registration storm's CPU)."""
        nodes = self.cluster.node_list
        if nodes is not self._tres_of:
            totals = {
                "cpu": sum(n.cpus for n in nodes),
                "mem": sum(n.real_memory for n in nodes),
                "node": len(nodes),
                "billing": sum(n.cpus for n in nodes),
            }
            self._tres = tuple(replace(t, count=totals.get(t.type or "", 0)) for t in DEFAULT_TRES)
            self._tres_of = nodes
        return self._tres

    def _reconcile(self, node: Node, steps: list[StepId], now: int) -> None:
        """Match the steps slurmd reports with flurm's jobs (slurmctld: validate_jobs_on_node)."""
        jobs = self.cluster.jobs
        unknown: list[StepId] = []
        reported: set[int] = set()
        for step in steps:
            if step.job_id in reported:
                if step.job_id not in jobs:
                    unknown.append(step)
                continue
            reported.add(step.job_id)
            job = jobs.get(step.job_id)
            if job is None:
                unknown.append(step)
            elif job.is_running() or job.base_state == JobState.SUSPENDED:
                if node.name in job.nodes:
                    if job.batch_host == node.name:
                        self._batch_seen[job.job_id] = now
                else:
                    log.error(
                        "job %s runs on %s, not one of its nodes: aborting it there", job.job_id, node.name
                    )
                    self.abort_job_on_node(job.job_id, job, node)
            elif job.is_completing():
                self._terminate_one(job, node, job.base_state, MsgType.REQUEST_TERMINATE_JOB)
            elif job.is_pending():
                log.error(
                    "node %s runs job %s, which is pending (requeued): aborting it", node.name, job.job_id
                )
                self.abort_job_on_node(job.job_id, job, node)
            elif now - job.end_time < self.msg_timeout and job.base_state != JobState.NODE_FAIL:
                log.debug("node %s reports job %s, which just ended", node.name, job.job_id)
            else:
                log.error("node %s runs job %s, which ended: terminating it there", node.name, job.job_id)
                self.terminate_on_nodes(job, job.base_state, (node.name,))
        if unknown:
            self.quarantine[node.name] = tuple(unknown)
            log.warning(
                "node %s runs step(s) flurm does not know, left alone (quarantined): %s",
                node.name,
                ", ".join(_step_text(s) for s in unknown),
            )
        elif self.quarantine.pop(node.name, None):
            log.info("node %s no longer runs unknown steps", node.name)
        for job_id in sorted(node.jobs):
            job = jobs.get(job_id)
            if job is None:
                continue
            if job.is_completing() and node.name in job.completing_nodes and job_id not in reported:
                # the epilog of a job may have ended while nobody listened: ask again
                self._terminate_one(job, node, job.base_state, MsgType.REQUEST_TERMINATE_JOB)
            elif (
                job.is_running()
                and job.batch_host == node.name
                and job_id not in reported
                and not interactive_allocation(job)  # (steps) an idle salloc runs nothing there
            ):
                self._check_missing(job, node, now)

    def _check_missing(self, job: Job, node: Node, now: int) -> None:
        """A running batch job its batch host does not report (slurmctld: _purge_missing_jobs)."""
        startup = now - self.batch_start_timeout - min(10, int(self.msg_timeout))
        seen = self._batch_seen.get(job.job_id, max(job.start_time, self._epoch))
        if seen >= startup or job.start_time >= startup:
            return
        log.warning(
            "batch job %s missing from batch node %s (not found BatchStartTimeout after its start)%s",
            job.job_id,
            node.name,
            ", requeuing it" if job.requeue else "",
        )
        job.exit_code = 1
        self.ctl.jobs.node_failed(job, node.name, node_down=False)

    def node_answered(self, node: Node) -> None:
        node.last_response = self.ctl.now()
        if node.flags & NodeStateFlag.NO_RESPOND and node.base_state != NodeState.DOWN:
            log.info("node %s now responding", node.name)
            node.flags &= ~NodeStateFlag.NO_RESPOND
            self.cluster.node_changed(node)
        elif node.base_state == NodeState.DOWN and node.registered and self._may_return(node):
            # a registered node set DOWN by an admin answers (slurmctld's node_did_resp); one that
            # must register again returns by its registration
            node.flags &= ~NodeStateFlag.NO_RESPOND
            node.base_state = NodeState.IDLE
            node.refresh_base_state()
            if not node.flags & (NodeStateFlag.DRAIN | NodeStateFlag.FAIL):
                self._set_reason(node, None, 0)  # the node is up (clusteracct_storage_g_node_up)
            log.info("node %s returned to service", node.name)
            self.cluster.node_changed(node)
            self.ctl.schedule_soon()

    def node_failed_to_answer(self, node: Node) -> None:
        if not node.flags & NodeStateFlag.NO_RESPOND:
            log.warning("node %s not responding", node.name)
            node.flags |= NodeStateFlag.NO_RESPOND
            self.cluster.node_changed(node)

    # -- health -----------------------------------------------------------------------------------
    def tick(self, now: int) -> None:
        """Once a second: registration requests, pings, and DOWN for nodes silent too long."""
        clock = self.ctl.clock()
        if now % 60 == 0:
            jobs = self.cluster.jobs
            for job_id in [j for j in self._batch_seen if j not in jobs or not jobs[j].is_running()]:
                del self._batch_seen[job_id]
            for job_id in [j for j in self._prolog_running if j not in jobs or not jobs[j].is_running()]:
                del self._prolog_running[job_id]
                self._prolog_done.pop(job_id, asyncio.Event()).set()  # a deferred launch gives up
        for node in self.cluster.node_list:
            if _not_driven(node):
                continue
            if not node.registered:
                if self._silent_too_long_unregistered(node, now):
                    # a node that holds jobs (restored or imported) but never registered with us
                    self.node_down(node, "Not responding", now)
                else:
                    self._maybe_request_registration(node, clock)
                continue
            silent = now - node.last_response
            if self.slurmd_timeout and silent >= self.slurmd_timeout:
                self.node_down(node, "Not responding", now)
                continue
            if (
                silent >= self.ping_interval
                and now - self._last_ping.get(node.name, 0) >= self.ping_interval
                and node.name not in self._pinging
            ):
                self._last_ping[node.name] = now
                self._pinging.add(node.name)
                self._spawn(self._ping(node))
        for node in self.health.due(self.cluster.node_list, now):
            self._spawn(self._health_check(node))

    async def _health_check(self, node: Node) -> None:
        """REQUEST_HEALTH_CHECK: slurmd runs HealthCheckProgram (once at a time) and answers."""
        try:
            body = await self._call(node, MsgType.REQUEST_HEALTH_CHECK, Empty())
        except Exception as exc:
            log.info("health check of %s got no answer: %s", node.name, exc)
            self.node_failed_to_answer(node)
            return
        rc = body.rc if isinstance(body, ReturnCode) else 0
        if rc:
            log.info("health check on %s: rc %s", node.name, rc)

    def _silent_too_long_unregistered(self, node: Node, now: int) -> bool:
        if not self.slurmd_timeout or node.base_state in (NodeState.DOWN, NodeState.FUTURE):
            return False
        if node.base_state == NodeState.UNKNOWN and not node.jobs:
            return False  # as slurmctld: a node never heard of stays UNKNOWN ("unk*")
        return now - max(node.last_response, self._epoch) >= self.slurmd_timeout

    async def _ping(self, node: Node) -> None:
        try:
            body = await self._call(node, MsgType.REQUEST_PING, Empty())
            if isinstance(body, PingSlurmdResponse):
                node.cpu_load = body.cpu_load
                node.free_mem = body.free_mem
        except Exception as exc:
            log.info("ping of %s failed: %s", node.name, exc)
            self.node_failed_to_answer(node)
        finally:
            self._pinging.discard(node.name)

    def node_down(self, node: Node, reason: str, now: int, *, by_admin: bool = False) -> None:
        """Set a node DOWN: its running jobs are requeued or fail, its completing ones let go.

        ``by_admin``: scontrol set it DOWN; the reason (and who gave it) is already on the node."""
        if node.base_state == NodeState.DOWN:
            return
        log.error("node %s set DOWN: %s", node.name, reason)
        if not by_admin:
            self._set_reason(node, reason, now)
        if reason == "Not responding":
            node.flags |= NodeStateFlag.NO_RESPOND
        self._mark_down(node, now, reregister=not by_admin)
        self.cluster.node_changed(node)
        self.ctl.schedule_soon()

    def _mark_down(self, node: Node, now: int, *, reregister: bool = True) -> None:
        """``reregister``: ask its slurmd to register (again) from now on. Not for a node an admin set
        DOWN: its slurmd answers as before and is pinged when due, as slurmctld does (with
        ReturnToService=2 a registration or a ping answer returns it to service, so asking for one
        at once would undo the admin's DOWN within seconds)."""
        node.base_state = NodeState.DOWN
        if reregister:
            node.registered = False
            self._reg_due[node.name] = self.ctl.clock() + 1.0  # once soon, then each ping interval
        for job_id in sorted(node.jobs):
            job = self.cluster.jobs.get(job_id)
            if job is None:
                continue
            if job.is_running() or job.base_state == JobState.SUSPENDED:
                self.ctl.steps.node_failed(job, node.name)  # its sruns hear first (srun_node_fail)
                self.ctl.jobs.node_failed(job, node.name)
            elif job.is_completing():
                self.ctl.jobs.node_epilog_done(job.job_id, node.name)

    def _set_reason(self, node: Node, reason: str | None, now: int) -> None:
        node.reason = reason
        node.reason_time = now if reason else 0
        node.reason_uid = self.ctl.config.slurm_user_uid if reason else NO_VAL

    # -- credentials ------------------------------------------------------------------------------
    def credential(
        self,
        job: Job,
        step_id: int,
        hosts: tuple[str, ...] | None = None,
        *,
        kill_time: int | None = None,
        version: int | None = None,
    ) -> JobCredential:
        """The job credential slurmd and slurmstepd need (unsigned, as slurmctld makes batch ones; with
        CredType=cred/slurm a launch token all the same, minted as the message is packed).

        A kill credential (``kill_time`` set) covers the whole job: no step hosts, no step cores, no
        memory array, and its ctime is the revoke time (job_mgr.c:create_kill_job_msg). ``version`` is
        the release it goes to (its GRES records differ a little; None: 22.05's).
        """
        info = user_info(job.user_id)
        nodes = [self.cluster.nodes[n] for n in job.nodes]
        layout = core_layout(nodes, job.cores_alloc)
        cpu_vals, cpu_reps = rle(multicore.cpu_array(job, self.cluster.nodes))
        mem_vals, mem_reps = rle(job.mem_alloc)
        hostlist = compress(job.nodes)
        kill = kill_time is not None
        return JobCredential(
            step_id=job_step(job, step_id),
            uid=job.user_id,
            gid=job.group_id,
            pw_name=info.name if info else None,
            pw_gecos=info.gecos if info else None,
            pw_dir=info.home if info else None,
            pw_shell=info.shell if info else None,
            gids=info.gids if info else (job.group_id,),
            # the job's GRES allocation (setup_cred_arg: gres_list_alloc), whatever the step
            job_gres=gres_bind.job_gres_states(
                job.nodes,
                job.gres_alloc,
                self._inventories(job),
                version or SLURM_22_05_PROTOCOL_VERSION,
                gres_alloc.job_untyped_names(job) if job.gres_alloc else (),
            ),
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
            job_core_bitmap=layout.core_bitmap,
            step_core_bitmap=None if kill else layout.core_bitmap,
            cores_per_socket=layout.cores_per_socket,
            sockets_per_node=layout.sockets_per_node,
            sock_core_rep_count=layout.sock_core_rep_count,
            cpu_array=cpu_vals,
            cpu_array_reps=cpu_reps,
            job_nhosts=len(nodes),
            job_ntasks=job.num_tasks if job.tasks_set else 0,
            job_hostlist=hostlist,
            job_mem_alloc=() if kill else mem_vals,
            job_mem_alloc_rep_count=() if kill else mem_reps,
            # packed from 24.11 (setup_cred_arg); slurmstepd exports them as SLURM_JOB_START_TIME,
            # SLURM_JOB_END_TIME and SLURM_JOB_LICENSES
            job_start_time=job.start_time,
            job_end_time=job.end_time,
            job_licenses=job.licenses,
        ).sealed_by(self.ctl.creds.sealer)

    def _inventories(self, job: Job) -> gres_alloc.Inventories:
        return gres_alloc.inventories(self.cluster.nodes, job.nodes)

    def _prep_gres(self, job: Job, node: Node | None) -> tuple[GresEpilogInfo, ...]:
        """The GRES the prolog and epilog set CUDA_VISIBLE_DEVICES and SLURM_JOB_GPUS from, built as the
        slurmctld of that node's release builds them."""
        if not job.gres_alloc:
            return ()
        version = (self.node_version(node) if node is not None else None) or SLURM_22_05_PROTOCOL_VERSION
        requests = gres_alloc.job_request_keys(job)
        return gres_bind.prep_infos(job.nodes, job.gres_alloc, self._inventories(job), version, requests)

    # -- the prolog at allocation (PrologFlags=Alloc, config/prologflags.py) -----------------------------
    def job_started(self, job: Job) -> None:
        """A job got its nodes: with PrologFlags=Alloc every one of them runs the prolog now
        (node_scheduler.c launch_prolog), before the batch script or any step arrives there."""
        if not self.prolog_flags & PrologFlag.ALLOC or not job.nodes:
            return
        if not self.prolog_flags & PrologFlag.NOHOLD:
            job.state_reason = JobStateReason.WAIT_PROLOG
            self._prolog_running[job.job_id] = set(job.nodes)
            self._prolog_done[job.job_id] = asyncio.Event()
            self.cluster.job_changed(job)
        msg = self._prolog_msg(job)
        for name in job.nodes:
            node = self.cluster.nodes.get(name)
            if node is not None:
                if job.gres_alloc:  # its GRES records as that node's release has them
                    cred = self.credential(job, SLURM_EXTERN_CONT, version=self.node_version(node))
                    node_msg = replace(msg, credential=cred, job_gres_info=self._prep_gres(job, node))
                else:
                    node_msg = msg
                self._spawn(self._launch_prolog(job.job_id, node, node_msg))

    def _prolog_msg(self, job: Job) -> LaunchProlog:
        info = user_info(job.user_id)
        cred = self.credential(job, SLURM_EXTERN_CONT)
        return LaunchProlog(
            job_id=job.job_id,
            uid=job.user_id,
            gid=job.group_id,
            credential=cred,  # unsigned: slurmd 22.05 trusts a prolog launch from its controller
            nodes=compress(job.nodes),
            std_err=job.std_err,
            std_out=job.std_out,
            work_dir=job.work_dir,
            spank_job_env=job.spank_job_env,
            user_name=info.name if info else None,
        )

    async def _launch_prolog(self, job_id: int, node: Node, msg: LaunchProlog) -> None:
        # sent once, as slurmctld's agent does (retry=0); slurmd answers at once, the prolog later
        try:
            body = await self._call(node, MsgType.REQUEST_LAUNCH_PROLOG, msg)
        except Exception as exc:
            log.warning("prolog launch of job %s on %s got no answer: %s", job_id, node.name, exc)
            self.node_failed_to_answer(node)
            return
        rc = body.rc if isinstance(body, ReturnCode) else 0
        if rc:
            log.warning("slurmd on %s refused the prolog of job %s: rc %s", node.name, job_id, rc)

    def prolog_complete(self, job_id: int, prolog_rc: int, node_name: str | None) -> int:
        """REQUEST_COMPLETE_PROLOG from slurmd (job_mgr.c prolog_complete): the rc to answer."""
        job = self.cluster.jobs.get(job_id)
        if job is None:
            log.info("prolog_complete: invalid job %s", job_id)
            return SlurmRC.ESLURM_INVALID_JOB_ID
        if job.is_completing():
            return 0
        if prolog_rc:
            log.error("prolog launch failure, job %s on %s (rc %s)", job_id, node_name, prolog_rc)
        waiting = self._prolog_running.get(job_id)
        if waiting is not None:
            if node_name in self.cluster.nodes:
                waiting.discard(node_name)
            else:
                waiting.clear()
        if not waiting:
            self._prolog_running.pop(job_id, None)
            done = self._prolog_done.pop(job_id, None)
            if done is not None:
                done.set()
            if job.state_reason == JobStateReason.WAIT_PROLOG:
                job.state_reason = JobStateReason.WAIT_NO_REASON
                self.cluster.job_changed(job)
        return 0

    async def _prolog_finished(self, job: Job) -> None:
        """With PrologFlags=DeferBatch: until the prolog reported from every node of the job."""
        done = self._prolog_done.get(job.job_id)
        if self.prolog_flags & PrologFlag.DEFER_BATCH and done is not None:
            await done.wait()

    # -- batch launch -----------------------------------------------------------------------------
    def launch_batch(self, job: Job) -> None:
        self._batch_seen[job.job_id] = self.ctl.now()
        self._spawn(self._launch_batch(job, job.batch_host or "", job.restart_cnt))

    def _launch_msg(self, job: Job, node: Node, stored_env: tuple[str, ...] | None = None) -> BatchJobLaunch:
        cpus = multicore.cpu_array(job, self.cluster.nodes)
        cpu_vals, cpu_reps = rle(cpus)
        version = self.node_version(node) or SLURM_22_05_PROTOCOL_VERSION
        part = self.cluster.partitions.get(job.partition)
        max_share = part.max_share if part is not None else 1
        return BatchJobLaunch(
            job_id=job.job_id,
            uid=job.user_id,
            gid=job.group_id,
            credential=self.credential(job, SLURM_BATCH_SCRIPT, (node.name,), version=version),
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
            cpus_per_node=cpu_vals,
            cpu_count_reps=cpu_reps,
            nodes=compress(job.nodes),
            script=job.script,
            work_dir=job.work_dir,
            std_err=job.std_err,
            std_in=job.std_in,
            std_out=batch_env.std_out(job, version),
            argv=job.argv,
            spank_job_env=job.spank_job_env,
            environment=batch_env.launch_environment(job, cpus, max_share, version, stored_env),
            job_mem=job.pn_min_memory,
            account=job.account,
            qos=job.qos,
            resv_name=job.reservation,
            tres_per_task=job.tres_per_task,  # packed for 26.05 only (_build_launch_job_msg)
        )

    async def _stored_environment(self, job: Job) -> tuple[str, ...] | None:
        """The environment of a job kept in the store, read in a worker thread (a task split from its
        array's record moments ago may find its own row not written yet: the record's serves)."""
        store = self.ctl.store
        loop = asyncio.get_running_loop()
        env = await loop.run_in_executor(None, store.read_environment, job.job_id, job.array_job_id)
        if env is None:
            await store.commit()  # what was queued for it is written: read once more
            env = await loop.run_in_executor(None, store.read_environment, job.job_id, job.array_job_id)
        if env is None:
            log.error("job %s: its environment is not in the store; the launch fails", job.job_id)
        return env

    async def _launch_batch(self, job: Job, host: str, restart_cnt: int) -> None:
        """Send REQUEST_BATCH_JOB_LAUNCH once, as slurmctld's agent (no retry): a refusal fails the
        job, no answer requeues it (requeue.py; a slurmd that does not answer may still hold the
        request, the requeue's REQUEST_TERMINATE_JOB follows it)."""
        node = self.cluster.nodes.get(host)
        if node is None:
            return

        def wanted() -> bool:
            return (
                self._active()
                and job.is_running()
                and job.batch_host == host
                and job.restart_cnt == restart_cnt
                and node.base_state != NodeState.DOWN
            )

        await self._prolog_finished(job)
        # a job imported from slurmctld whose script is still in slurmctld's files
        if job.script == "" and wanted() and not await self.fetch_script(job):
            if wanted():
                self.ctl.jobs.fail_launch(job, SlurmRC.ESLURM_JOB_SCRIPT_MISSING)
            return
        if not wanted():
            return
        stored_env = None
        if job.environment_in_store:
            stored_env = await self._stored_environment(job)
            if stored_env is None:
                if wanted():
                    self.ctl.jobs.fail_launch(job, SlurmRC.ESLURM_JOB_SCRIPT_MISSING)
                return
            if not wanted():
                return
        try:
            msg = self._launch_msg(job, node, stored_env)
            body = await self._call(node, MsgType.REQUEST_BATCH_JOB_LAUNCH, msg)
        except Exception as exc:
            log.warning("launch of job %s on %s got no answer (%s), requeuing it", job.job_id, node.name, exc)
            self.node_failed_to_answer(node)
            if wanted():
                self.ctl.jobs.launch_unanswered(job)
            return
        rc = body.rc if isinstance(body, ReturnCode) else 0
        if rc in (0, ESLURM_DUPLICATE_JOB_ID):
            self._batch_seen[job.job_id] = self.ctl.now()
            log.debug("job %s launched on %s", job.job_id, node.name)
        elif wanted():
            log.warning("slurmd on %s refused job %s: rc %s", node.name, job.job_id, rc)
            self.ctl.jobs.fail_launch(job, rc)

    # -- terminate / abort / signal ---------------------------------------------------------------
    def terminate_job(self, job: Job, job_state: int) -> None:
        """REQUEST_TERMINATE_JOB to every node the job still completes on."""
        for name in job.completing_nodes or job.nodes:
            node = self.cluster.nodes.get(name)
            if node is not None:
                self._terminate_one(job, node, job_state, MsgType.REQUEST_TERMINATE_JOB)

    def kill_timelimit(self, job: Job) -> None:
        """REQUEST_KILL_TIMELIMIT: slurmd signals the job, then runs the epilog and reports it."""
        for name in job.completing_nodes or job.nodes:
            node = self.cluster.nodes.get(name)
            if node is not None:
                self._terminate_one(job, node, job.base_state, MsgType.REQUEST_KILL_TIMELIMIT)

    def kill_step_timelimit(self, job: Job, step_id: int, nodes: tuple[str, ...]) -> None:
        """A step past its own time limit (step_mgr.c _signal_step_timelimit): REQUEST_KILL_TIMELIMIT
        for the step to its nodes; slurmstepd says "*** STEP ... CANCELLED AT ... DUE TO TIME LIMIT
        ***" and kills its tasks, the step ends as any other."""
        msg = KillJobMsg(
            step_id=job_step(job, step_id),
            job_state=job.state,
            job_uid=job.user_id,
            job_gid=job.group_id,
            time=self.ctl.now(),
            details=job.state_desc,
            nodes=compress(job.nodes),
            start_time=job.start_time,
        )
        for name in nodes:
            node = self.cluster.nodes.get(name)
            if node is not None:
                self._spawn(self._send_step_kill(node, msg))

    async def _send_step_kill(self, node: Node, msg: KillJobMsg) -> None:
        for attempt in range(2):  # slurmctld's agent: retry=1
            try:
                await self._call(node, MsgType.REQUEST_KILL_TIMELIMIT, msg)
                return
            except Exception as exc:
                log.info("step time limit kill on %s got no answer (%s)", node.name, exc)
                if attempt:
                    self.node_failed_to_answer(node)

    def terminate_on_nodes(self, job: Job, job_state: int, names: tuple[str, ...]) -> None:
        """Terminate what runs of a job on these nodes, without tracking its completion (requeue)."""
        now = self.ctl.now()
        for name in names:
            node = self.cluster.nodes.get(name)
            if node is not None:
                msg = self._kill_msg(job, job_state, now, node)
                self._spawn(
                    self._send_kill(job.job_id, node, msg, MsgType.REQUEST_TERMINATE_JOB, lambda: True)
                )

    def terminate_on_down_node(self, job: Job, job_state: int, name: str) -> None:
        """deallocate_nodes sends the kill to a DOWN node of the job too, once, not waiting for its
        epilog: a slurmd set DOWN by an operator still kills the job there."""
        msg = self._kill_msg(job, job_state, self.ctl.now(), self.cluster.nodes.get(name))
        self.send_to_node(name, MsgType.REQUEST_TERMINATE_JOB, msg)

    def _terminate_one(self, job: Job, node: Node, job_state: int, msg_type: int) -> None:
        key = (job.job_id, node.name)
        if key in self._terminating:
            return
        self._terminating.add(key)
        msg = self._kill_msg(job, job_state, self.ctl.now(), node)

        def wanted() -> bool:
            return job.is_completing() and node.name in job.completing_nodes

        self._spawn(self._send_kill(job.job_id, node, msg, msg_type, wanted, key))

    def _kill_msg(self, job: Job, job_state: int, now: int, node: Node | None = None) -> KillJobMsg:
        """The kill of a job (create_kill_job_msg), for ``node`` (the release its GRES records follow)."""
        return KillJobMsg(
            step_id=job_step(job, NO_VAL),
            job_state=job_state | JobStateFlag.COMPLETING,
            job_uid=job.user_id,
            job_gid=job.group_id,
            time=now,
            credential=(
                self.credential(job, NO_VAL, kill_time=now, version=self.node_version(node) if node else None)
                if job.nodes
                else None
            ),
            exit_code=job.exit_code,
            derived_ec=job.derived_ec,
            nodes=compress(job.nodes),
            spank_job_env=job.spank_job_env,
            start_time=job.start_time,
            work_dir=job.work_dir,
            job_gres_info=self._prep_gres(job, node),
        )

    async def _send_kill(
        self,
        job_id: int,
        node: Node,
        msg: KillJobMsg,
        msg_type: int,
        wanted: Callable[[], bool],
        key: tuple[int, str] | None = None,
    ) -> None:
        """Send a kill until slurmd answers, it is no longer wanted, or the node is DOWN."""
        delay = 1.0
        try:
            while self._active() and wanted() and node.base_state != NodeState.DOWN:
                try:
                    body = await self._call(node, msg_type, msg)
                except Exception as exc:
                    log.info("kill of job %s on %s got no answer (%s), will retry", job_id, node.name, exc)
                    self.node_failed_to_answer(node)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, MAX_RETRY_DELAY)
                    continue
                rc = body.rc if isinstance(body, ReturnCode) else 0
                if rc in (ESLURMD_KILL_JOB_ALREADY_COMPLETE, SlurmRC.ESLURM_INVALID_JOB_ID):
                    # nothing runs there and no epilog will report: done on this node
                    self.ctl.jobs.node_epilog_done(job_id, node.name)
                elif rc != 0:
                    # slurmd will not report an epilog for a kill it refused: do not wait for one
                    log.warning("slurmd on %s refused the kill of job %s: rc %s", node.name, job_id, rc)
                    self.ctl.jobs.node_epilog_done(job_id, node.name)
                # rc 0: slurmd runs the epilog and reports with MESSAGE_EPILOG_COMPLETE
                return
        finally:
            if key is not None:
                self._terminating.discard(key)

    def abort_job_on_node(self, job_id: int, job: Job | None, node: Node) -> None:
        """REQUEST_ABORT_JOB: slurmd kills what runs of the job and runs the epilog, reporting nothing."""
        msg = KillJobMsg(
            step_id=job_step(job, NO_VAL) if job else StepId(job_id, NO_VAL, NO_VAL),
            job_state=JobState.FAILED if job is None else job.base_state,
            job_uid=job.user_id if job else 0,
            job_gid=job.group_id if job else 0,
            time=self.ctl.now(),
            nodes=node.name,
            spank_job_env=job.spank_job_env if job else (),
            work_dir=job.work_dir if job else None,
        )
        self._spawn(self._send_abort(job_id, node, msg))

    async def _send_abort(self, job_id: int, node: Node, msg: KillJobMsg) -> None:
        try:
            await self._call(node, MsgType.REQUEST_ABORT_JOB, msg)
        except Exception as exc:
            log.info("abort of job %s on %s failed: %s", job_id, node.name, exc)

    def signal_job(self, job: Job, signal: int, flags: int) -> None:
        step = SLURM_BATCH_SCRIPT if flags & KillFlags.BATCH else NO_VAL
        targets = [job.batch_host] if flags & KillFlags.BATCH else list(job.nodes)
        for name in targets:
            node = self.cluster.nodes.get(name or "")
            if node is not None:
                msg = SignalTasks(job_step(job, step), signal, flags)
                self._spawn(self._signal(node, msg))

    async def _signal(
        self, node: Node, msg: SignalTasks, msg_type: int = MsgType.REQUEST_SIGNAL_TASKS
    ) -> None:
        try:
            await self._call(node, msg_type, msg)
        except Exception as exc:
            log.info("signal to %s failed: %s", node.name, exc)

    # (steps) scancel J.S and srun's own step cancel (controller/steps.py)
    def signal_step(
        self,
        job: Job,
        step_id: int,
        nodes: tuple[str, ...],
        signal: int,
        flags: int,
        msg_type: int = MsgType.REQUEST_SIGNAL_TASKS,
    ) -> None:
        """REQUEST_SIGNAL_TASKS (or REQUEST_TERMINATE_TASKS) for one step on its nodes."""
        for name in nodes:
            node = self.cluster.nodes.get(name)
            if node is not None:
                msg = SignalTasks(job_step(job, step_id), signal, flags)
                self._spawn(self._signal(node, msg, msg_type))

    # (jobctl) notify, suspend/resume, reboot: one message to one node, answered by a return code
    def send_to_node(
        self,
        name: str,
        msg_type: int,
        body: Message,
        done: Callable[[int | None], None] | None = None,
        *,
        expect_reply: bool = True,
    ) -> None:
        """Send and forget; ``done`` gets slurmd's return code (None: no answer). slurmd answers
        REQUEST_REBOOT_NODES with nothing: ``expect_reply=False``."""
        node = self.cluster.nodes.get(name)
        if node is not None:
            self._spawn(self._send_to_node(node, msg_type, body, done, expect_reply))

    async def _send_to_node(
        self,
        node: Node,
        msg_type: int,
        body: Message,
        done: Callable[[int | None], None] | None,
        expect_reply: bool,
    ) -> None:
        rc: int | None
        try:
            if expect_reply:
                resp = await self._call(node, msg_type, body)
            else:
                resp = await call(
                    node.addr,
                    node.port,
                    msg_type,
                    body,  # type: ignore[arg-type]
                    self.ctl.signer,
                    timeout=self.msg_timeout,
                    expect_reply=False,
                    version=self.node_version(node) or SPOKEN,
                )
            rc = resp.rc if isinstance(resp, ReturnCode) else 0
        except Exception as exc:
            log.info("%s to %s failed: %s", MsgType(msg_type).name, node.name, exc)
            rc = None
        if done is not None:
            done(rc)

    # scontrol shutdown and reconfigure (controller/handlers/admin_ctl.py)
    async def tell_all_nodes(self, msg_type: int, body: Message) -> None:
        """REQUEST_SHUTDOWN or REQUEST_RECONFIGURE to every slurmd (it answers neither), all at once;
        a node that cannot be reached is logged and left (slurmctld's msg_to_slurmd, no retry)."""

        async def one(node: Node) -> None:
            try:
                await call(
                    node.addr,
                    node.port,
                    msg_type,
                    body,  # type: ignore[arg-type]
                    self.ctl.signer,
                    timeout=self.msg_timeout,
                    expect_reply=False,
                    version=self.node_version(node) or SPOKEN,
                )
            except Exception as exc:
                log.info("message %d to %s failed: %s", msg_type, node.name, exc)

        nodes = [n for n in self.cluster.node_list if n.base_state != NodeState.FUTURE]
        await asyncio.gather(*(one(n) for n in nodes))


def job_step(job: Job, step_id: int) -> StepId:
    """A step of the job as flurm names it to slurmd: with the job's sluid (a 26.05 slurmstepd exports
    it as SLURM_JOB_SLUID; 24.11 carries the field and ignores it)."""
    return StepId(job.job_id, step_id, NO_VAL, job.sluid)


def _not_driven(node: Node) -> bool:
    """Nodes slurmctld neither pings nor asks to register (ping_nodes.c): FUTURE ones, and those
    powered down (a CLOUD node until it is resumed)."""
    return node.base_state == NodeState.FUTURE or bool(node.flags & NodeStateFlag.POWERED_DOWN)


def _step_text(step: StepId) -> str:
    names = {SLURM_BATCH_SCRIPT: "batch", 0xFFFFFFFC: "extern", 0xFFFFFFFA: "interactive"}
    return f"{step.job_id}.{names.get(step.step_id, step.step_id)}"
