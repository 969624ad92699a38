"""Interactive allocations and job steps: what srun and salloc need from the controller.

The flow of ``srun -N1 hostname`` (slurmctld's proc_req.c and step_mgr.c):

1. REQUEST_RESOURCE_ALLOCATION 4001 creates a job without a script (an *interactive
   allocation*, :meth:`StepOps.allocate`). The job goes through the same checks as a batch
   submission and through one scheduling pass at once: if it fits it starts and the reply 4002
   carries its nodes; otherwise the reply has no nodes, srun waits on ``alloc_resp_port`` and the
   scheduler's later start sends RESPONSE_RESOURCE_ALLOCATION there
   (:meth:`StepOps.allocation_granted`, slurmctld's srun_allocate).
2. REQUEST_JOB_STEP_CREATE 5001 (:meth:`StepOps.create_step`) picks the step's nodes and cores
   inside the job's allocation, lays its tasks out (block or cyclic, as
   slurm_step_layout_create) and answers with the layout and a step credential that is
   munge-signed for SlurmdUser, which srun hands to slurmd in REQUEST_LAUNCH_TASKS.
3. slurmstepd reports the step's end per node range with REQUEST_STEP_COMPLETE 5016
   (:meth:`StepOps.step_complete`); the step's highest exit code becomes the job's derived one.
4. REQUEST_COMPLETE_JOB_ALLOCATION 5017 from srun or salloc ends an interactive allocation
   (JobOps.allocation_complete). Inside a batch job the steps come and go; the job ends with
   its script.

When a job ends for another reason (scancel, time limit, node failure) the sruns are told with
SRUN_JOB_COMPLETE (:meth:`StepOps.job_ended`, slurmctld's srun_job_complete): the owner of the
allocation on its ``other_port``, each step's srun on the port it gave in 5001.

The steps of a job, its next step id and where its srun listens are kept in ``Job.steps`` (a
JSON-able dict, persisted with the job; :class:`JobSteps` is its typed form).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import logging
import signal as signals
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flurm.auth import SLURM_AUTH_NOBODY
from flurm.config.hostlists import HostlistError, compress, expand
from flurm.config.prologflags import PrologFlag, parse_prolog_flags
from flurm.controller.job_env import cpus_per_node_text
from flurm.controller.submit import RefusedJob
from flurm.errors import SlurmError
from flurm.protocol.constants import (
    INFINITE,
    INFINITE16,
    NO_VAL,
    NO_VAL16,
    PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    SLURM_BATCH_SCRIPT,
    SLURM_EXTERN_CONT,
    SLURM_PENDING_STEP,
    JobFlag,
    JobState,
    JobStateReason,
    MsgType,
    NodeState,
    NodeStateFlag,
    SlurmRC,
)
from flurm.protocol.messages.base import Message
from flurm.protocol.messages.credential import JobCredential, StepId
from flurm.protocol.messages.job_control import ResourceAllocationResponse
from flurm.protocol.messages.job_desc import JobDesc
from flurm.protocol.messages.slurmd import JobAcctInfo
from flurm.protocol.messages.steps import (
    SLURM_DIST_BLOCK,
    SLURM_DIST_CYCLIC,
    SLURM_DIST_NODEMASK,
    SLURM_DIST_STATE_BASE,
    SLURM_DIST_UNKNOWN,
    SSF_OVERCOMMIT,
    SSF_OVERLAP_FORCE,
    SSF_WHOLE,
    JobStepCreateRequest,
    JobStepCreateResponse,
    JobStepInfoResponse,
    SrunJobComplete,
    SrunNodeFail,
    SrunPing,
    SrunStepSignal,
    SrunTimeout,
    StepInfoRecord,
    StepLayout,
)
from flurm.protocol.wire import Bitmap
from flurm.rpc.transport import Reply, call, rc_reply
from flurm.state import gres, gres_alloc, gres_bind, multicore, step_use
from flurm.state.gres import GresError, NodeUses, uses_from_json, uses_to_json
from flurm.state.layout import rle
from flurm.state.model import Job
from flurm.state.records import gres_tres, gres_tres_names, step_tres_string
from flurm.users import group_name, user_name

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

log = logging.getLogger("flurm.steps")

SIG_OOM = 253  # slurm.h: the step_rc slurmstepd reports for an out-of-memory kill
# how long a message to an srun may take (srun answers at once, or is gone)
SRUN_MSG_TIMEOUT = 5.0
# sruns remembered per job while their step waits for resources
MAX_WAITING = 64
# how long a step creation that does not fit waits for a step of the job to end (seconds)
BUSY_GRACE = 1.0
# how often slurmctld checks time limits (job_time_limit): the rhythm of SRUN_TIMEOUT
PERIODIC_TIMEOUT = 30


# -- the step table ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Step:
    """One running srun step of a job.

    ``nodes`` are the step's nodes in the job's node order, ``tids`` the task ids on each,
    ``cores`` the node-local core indexes the step holds on each (what its credential's
    step_core_bitmap says), ``exited`` the node ranks whose slurmstepd reported the end.
    """

    step_id: int
    nodes: tuple[str, ...]
    tids: tuple[tuple[int, ...], ...]
    task_dist: int
    cores: tuple[tuple[int, ...], ...]
    cpu_count: int  # CPUs the step was given over its nodes (what slurmctld shows and accounts)
    cpus_per_task: int
    mem: tuple[int, ...]  # MiB per step node
    flags: int
    start_time: int
    time_limit: int = INFINITE
    name: str | None = None
    host: str | None = None  # srun's host name, as srun sent it
    addr: str | None = None  # where srun listens for this step (the address 5001 came from) ...
    port: int = 0  # ... and its port
    srun_pid: int = 0
    submit_line: str | None = None
    tres_per_step: str | None = None
    tres_per_node: str | None = None
    tres_per_socket: str | None = None
    tres_per_task: str | None = None
    # what srun asked per GRES and how to bind them (shown as CpusPerTres=, MemPerTres=, TresBind=, TresFreq=)
    cpus_per_tres: str | None = None
    mem_per_tres: str | None = None
    tres_bind: str | None = None
    tres_freq: str | None = None
    # per step node: the GRES (and devices) the step took from its job's allocation (state/gres_bind.py)
    gres_alloc: tuple[NodeUses, ...] = ()
    # per step node: the CPUs counted against the job's (its job_resources cpus_used; state/step_use.py),
    # and whether the step's cores are marked in the job's core_bitmap_used
    cpus_used: tuple[int, ...] = ()
    marks_cores: bool = True
    exited: tuple[int, ...] = ()
    exit_code: int = NO_VAL
    timed_out: bool = False  # past its own time limit, being killed (JOB_TIMEOUT)
    # the protocol version of the srun that asked for the step (slurmctld's step start_protocol_ver):
    # what the step's layout says, and what flurm speaks to that srun
    protocol_version: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "gres_alloc":
                v = uses_to_json(v)
            elif isinstance(v, tuple):
                v = [list(x) if isinstance(x, tuple) else x for x in v]
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Step:
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in d:
                continue
            v = d[f.name]
            if f.name == "gres_alloc":
                v = uses_from_json(v)
            elif isinstance(v, list):
                v = tuple(tuple(x) if isinstance(x, list) else x for x in v)
            kwargs[f.name] = v
        return cls(**kwargs)


@dataclass(slots=True)
class JobSteps:
    """The typed form of ``Job.steps``: the steps of one job and who to tell about them."""

    next_step_id: int = 0
    resp_host: str | None = None  # srun/salloc owning an interactive allocation: its address,
    alloc_resp_port: int = 0  # where it waits for a pending allocation,
    other_port: int = 0  # and where it listens for SRUN_* messages while the job runs
    steps: dict[int, Step] = field(default_factory=dict)
    # sruns whose step did not fit yet (ESLURM_NODES_BUSY): (address, port, protocol version) to wake
    # when a step ends
    waiting: tuple[tuple[str, int, int], ...] = ()
    # the protocol version the owner of the allocation spoke (the job's start_protocol_ver):
    # flurm's messages to it go in that version. None: not known (a batch job's steps)
    protocol_version: int | None = None

    @classmethod
    def of(cls, job: Job) -> JobSteps:
        d = job.steps
        if not d:
            return cls()
        return cls(
            next_step_id=int(d.get("next_step_id", 0)),
            resp_host=d.get("resp_host"),
            alloc_resp_port=int(d.get("alloc_resp_port", 0)),
            other_port=int(d.get("other_port", 0)),
            protocol_version=int(d["protocol_version"]) if "protocol_version" in d else None,
            steps={int(s["step_id"]): Step.from_dict(s) for s in d.get("steps", [])},
            # (an entry saved before versions were kept has none: 22.05)
            waiting=tuple(
                (str(w[0]), int(w[1]), int(w[2]) if len(w) > 2 else PROTOCOL_VERSION)
                for w in d.get("waiting", [])
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        out = {
            "next_step_id": self.next_step_id,
            "resp_host": self.resp_host,
            "alloc_resp_port": self.alloc_resp_port,
            "other_port": self.other_port,
            "steps": [s.to_dict() for s in sorted(self.steps.values(), key=lambda s: s.step_id)],
            "waiting": [list(w) for w in self.waiting],
        }
        if self.protocol_version is not None:
            out["protocol_version"] = self.protocol_version
        return out

    def cores_in_use(self, node: str, *, besides: int | None = None) -> set[int]:
        """Cores of ``node`` held by this job's running steps (but ``besides``)."""
        out: set[int] = set()
        for s in self.steps.values():
            if s.step_id == besides or s.flags & SSF_OVERLAP_FORCE:
                continue
            for name, cores in zip(s.nodes, s.cores, strict=True):
                if name == node:
                    out.update(cores)
        return out

    def gres_offer(self, node: str, held: NodeUses) -> gres_bind.NodeOffer:
        """What the job holds of GRES on ``node`` (``held``) and what its running steps took of it
        (but --overlap=force ones, which are not counted against the job: decr_job_alloc)."""
        offer = gres_bind.NodeOffer(held)
        for s in self.steps.values():
            if s.flags & SSF_OVERLAP_FORCE or node not in s.nodes:
                continue
            k = s.nodes.index(node)
            for u in s.gres_alloc[k] if k < len(s.gres_alloc) else ():
                if u.bits is not None and u.name not in gres.SHARED_NAMES:
                    offer.taken.setdefault(u.name, set()).update(u.bits)
                else:
                    key = (u.name, u.type)
                    offer.taken_count[key] = offer.taken_count.get(key, 0) + u.count
        return offer


def _may_time_out(steps: dict[str, Any]) -> bool:
    """Has a step of this (raw) table a time limit of its own not reached yet?"""
    return any(
        s.get("time_limit", INFINITE) not in (INFINITE, NO_VAL) and not s.get("timed_out")
        for s in steps.get("steps", ())
    )


def _limit_near(job: Job, now: int) -> bool:
    """Does the job's own time limit come within PERIODIC_TIMEOUT*2 (srun_timeout)?"""
    limited = job.time_limit not in (INFINITE, NO_VAL) and job.end_time
    return bool(limited) and job.end_time <= now + 2 * PERIODIC_TIMEOUT


def interactive_allocation(job: Job) -> bool:
    """A job srun or salloc asked for (4001): it has no batch script and no batch step, so its
    nodes may run nothing of it for a while (slurmctld checks batch_flag in _purge_missing_jobs).

    A job imported from slurmctld carries no mark of this yet: it counts as a batch job.
    """
    return job.script is None and "alloc_resp_port" in job.steps


# -- pure layout rules ---------------------------------------------------------------------------------


def base_dist(task_dist: int) -> int:
    return task_dist & SLURM_DIST_STATE_BASE


def task_layout(cpus: list[int], num_tasks: int, task_dist: int) -> tuple[tuple[int, ...], ...]:
    """Task ids per node, as slurm_step_layout_create places them.

    ``cpus`` are the tasks each node can take (its usable CPUs / CPUs per task). Cyclic deals
    task ids round robin; block (the default, and what an unknown distribution becomes) fills
    each node in turn with the counts a cyclic pass would give it, over-subscribing evenly once
    every node is full.
    """
    n = len(cpus)
    if n == 0:
        return ()
    counts = [0] * n
    ids: list[list[int]] = [[] for _ in range(n)]
    if base_dist(task_dist) & SLURM_DIST_NODEMASK == SLURM_DIST_CYCLIC:
        total = sum(cpus)
        over = total < num_tasks
        max_over = -(-(num_tasks - total) // n) if over else 0
        task = j = 0
        while task < num_tasks:
            placed = task
            for i in range(n):
                if task >= num_tasks:
                    break
                if j < cpus[i] or (over and j < cpus[i] + max_over):
                    ids[i].append(task)
                    task += 1
            if task == placed and j >= max(cpus) + max_over:
                raise ValueError("cyclic layout: no node can take another task")
            j += 1
        return tuple(tuple(t) for t in ids)
    task = j = 0
    over = False
    while task < num_tasks:
        space = False
        for i in range(n):
            if task >= num_tasks:
                break
            if j < cpus[i] or over:
                counts[i] += 1
                task += 1
                if j + 1 < cpus[i]:
                    space = True
        if not space:
            over = True
        j += 1
    out = []
    task = 0
    for c in counts:
        out.append(tuple(range(task, task + c)))
        task += c
    return tuple(out)


def cpus_per_task_of(req: JobStepCreateRequest, job: Job) -> int:
    """slurmctld's _calc_cpus_per_task: cpu_count / num_tasks when it divides evenly and every
    node of the job can run its share, else 0 (the step then takes one CPU per task)."""
    if req.cpu_count == 0 or req.num_tasks == 0 or req.cpu_count % req.num_tasks:
        return 0
    cpt = max(1, req.cpu_count // req.num_tasks)
    remaining = req.num_tasks
    for cpus in job.cpus_alloc:
        if cpt > cpus:
            return 0
        remaining -= cpus // cpt
    return 0 if remaining > 0 else cpt


def tasks_per_node_text(job: Job, cpus: tuple[int, ...]) -> str:
    """slurmctld's get_tasks_per_node (26.05 puts it in an allocation's environment): the tasks a
    default layout puts on each node, as "2(x3),1". The tasks are the job's -n, else
    --ntasks-per-node on each node, else as many as its CPUs hold of --cpus-per-task."""
    cpt = job.cpus_per_task if 0 < job.cpus_per_task < NO_VAL16 else 1
    if job.bitflags & JobFlag.JOB_NTASKS_SET and job.num_tasks:
        tasks = job.num_tasks
    elif job.ntasks_per_node:
        tasks = job.ntasks_per_node * len(cpus)
    else:
        tasks = sum(c // cpt for c in cpus)
    layout = task_layout([c // cpt for c in cpus], tasks, SLURM_DIST_BLOCK)
    return cpus_per_node_text(tuple(len(t) for t in layout))


def _names(expr: str | None) -> list[str]:
    if not expr:
        return []
    try:
        return expand(expr)
    except HostlistError:
        raise SlurmError(SlurmRC.ESLURM_INVALID_NODE_NAME) from None


# -- the operations ------------------------------------------------------------------------------------


class StepOps:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.cluster = ctl.cluster
        # jobs whose 4001 is being answered right now: their reply carries the allocation
        self._answering: set[int] = set()
        # per job: set when one of its steps ended (or it ended), for step creations that wait
        self._freed: dict[int, asyncio.Event] = {}
        self._timeout_told: dict[int, int] = {}  # per job: when its sruns last heard SRUN_TIMEOUT
        # InactiveLimit: per interactive job, when its srun/salloc last answered; the last ping round
        self._last_active: dict[int, int] = {}
        self._last_ping_round = 0

    # -- the table, persisted in the job --------------------------------------------------------
    def table(self, job: Job) -> JobSteps:
        return JobSteps.of(job)

    def _save(self, job: Job, table: JobSteps) -> None:
        job.steps = table.to_dict()  # a new dict: job records copied from this one keep theirs
        self.cluster.job_changed(job)

    # -- 4001: an interactive allocation ---------------------------------------------------------
    async def allocate(
        self,
        desc: JobDesc,
        uid: int,
        gid: int,
        peer_host: str,
        alloc_host: str,
        version: int = PROTOCOL_VERSION,
    ) -> Reply:
        """REQUEST_RESOURCE_ALLOCATION (slurmctld's _slurm_rpc_allocate_resources + job_allocate),
        from a client of protocol ``version``."""
        ctl = self.ctl
        try:
            job, error_code = ctl.jobs.create(desc, uid, gid, alloc_host, interactive=True, version=version)
        except RefusedJob as exc:
            await ctl.durable()  # a refused job leaves a FAILED record
            self._tell_failed(exc.job, desc.resp_host or peer_host, desc.other_port, version)
            raise
        table = JobSteps(
            resp_host=desc.resp_host or peer_host,
            alloc_resp_port=desc.alloc_resp_port,
            other_port=desc.other_port,
            protocol_version=version,
        )
        self._save(job, table)
        self._answering.add(job.job_id)
        try:
            ctl.jobs.wake()
            ctl.schedule_now()  # an allocation that fits starts at once, as in job_allocate
            if not job.is_pending() and job.accrue_time:
                # started by job_allocate itself, it never waited in a queue: AccrueTime=Unknown
                job.accrue_time = 0
                self.cluster.job_changed(job)
            if job.is_pending() and desc.immediate:
                # srun -I: what cannot start now fails now, with the code job_allocate had for it
                ctl.jobs.fail_immediate(job)
                await ctl.durable()
                self._tell_failed(job, table.resp_host, table.other_port, version)
                part_config = error_code == SlurmRC.ESLURM_REQUESTED_PART_CONFIG_UNAVAILABLE
                return rc_reply(error_code if part_config else SlurmRC.ESLURM_NODES_BUSY)
            body = self.allocation_response(job, error_code)
        finally:
            self._answering.discard(job.job_id)
        await ctl.durable()
        if job.is_pending():
            log.info(
                "interactive job %s queued: %s waits on port %s", job.job_id, peer_host, desc.alloc_resp_port
            )
        else:
            log.info("interactive job %s allocated %s", job.job_id, compress(job.nodes))
        return Reply(MsgType.RESPONSE_RESOURCE_ALLOCATION, body)

    def _tell_failed(self, job: Job, host: str | None, port: int, version: int) -> None:
        """An allocation that failed at once (refused for the nodes, or srun -I) ends as a job
        (job_completion_logger): SRUN_JOB_COMPLETE to the owner's message port, after which salloc
        says "Job allocation N has been revoked." if it still listens."""
        if host and port:
            done = SrunJobComplete(StepId(job.job_id, NO_VAL, NO_VAL))
            self.ctl.spawn(self._tell_srun(job, host, port, MsgType.SRUN_JOB_COMPLETE, done, version=version))

    def allocation_response(
        self,
        job: Job,
        error_code: int = 0,
        cls: type[ResourceAllocationResponse] = ResourceAllocationResponse,
        *,
        lookup: bool = False,
    ) -> ResourceAllocationResponse:
        """The 4002 body for a job (slurmctld's build_alloc_msg), or with ``lookup`` the answer
        to srun's lookup of an existing allocation (build_job_info_resp).

        The allocation tells (26.05) the job's start_protocol_ver, the version of the client
        that asked for it; a lookup tells neither that (0: the client keeps its own) nor the
        job's TRES per node and task.
        """
        running = bool(job.nodes) and not job.is_pending()
        per_node = multicore.cpu_array(job, self.cluster.nodes) if running else ()
        cpus, reps = rle(per_node)
        start_ver = 0 if lookup else (self.table(job).protocol_version or PROTOCOL_VERSION)
        env: tuple[str, ...] = ()
        if per_node and start_ver >= SLURM_26_05_PROTOCOL_VERSION:
            # 26.05's build_alloc_msg adds it (for the client that asked, in its release)
            env = (f"SLURM_TASKS_PER_NODE={tasks_per_node_text(job, per_node)}",)
        return cls(
            account=job.account,
            batch_host=job.batch_host if running else None,
            environment=env,
            error_code=error_code,
            job_id=job.job_id,
            node_cnt=len(job.nodes) if running else 0,
            node_list=compress(job.nodes) if running else None,
            ntasks_per_board=0,
            ntasks_per_core=INFINITE16,
            ntasks_per_tres=0,
            ntasks_per_socket=INFINITE16,
            cpus_per_node=cpus,
            cpu_count_reps=reps,
            partition=job.partition,
            pn_min_memory=job.pn_min_memory if job.bitflags & JobFlag.JOB_MEM_SET else 0,
            qos=job.qos,
            resv_name=job.reservation,
            gid=job.group_id,
            group_name=group_name(job.group_id),
            tres_per_node=None if lookup else job.tres_per_node,
            uid=job.user_id,
            user_name=user_name(job.user_id),
            start_protocol_ver=start_ver,
            tres_per_task=None if lookup else job.tres_per_task,
        )

    def allocation_granted(self, job: Job) -> None:
        """The scheduler started an interactive job: tell the srun/salloc waiting for it (srun_allocate)."""
        if job.job_id in self._answering:
            return  # the reply to its 4001, being written now, carries the allocation
        table = self.table(job)
        if not table.resp_host or not table.alloc_resp_port:
            log.warning("interactive job %s started, but nobody waits for it", job.job_id)
            return
        body = self.allocation_response(job)
        self.ctl.spawn(
            self._tell_srun(
                job,
                table.resp_host,
                table.alloc_resp_port,
                MsgType.RESPONSE_RESOURCE_ALLOCATION,
                body,
                expect_reply=True,
            )
        )

    async def _tell_srun(
        self,
        job: Job,
        host: str,
        port: int,
        msg_type: int,
        body: Message,
        *,
        expect_reply: bool = False,
        version: int | None = None,
    ) -> None:
        """One message to an srun or salloc, in its own protocol ``version`` (default: that of the
        one owning the allocation), as slurmctld's agent sends in the job's or step's
        start_protocol_ver."""
        if version is None:
            version = self.table(job).protocol_version or PROTOCOL_VERSION
        try:
            await call(
                host,
                port,
                msg_type,
                body,  # type: ignore[arg-type]
                self.ctl.signer,
                timeout=SRUN_MSG_TIMEOUT,
                expect_reply=expect_reply,
                uid_restriction=job.user_id,
                version=version,
            )
        except Exception as exc:
            log.info("job %s: %s to %s:%s failed: %s", job.job_id, MsgType(msg_type).name, host, port, exc)

    # -- 4014 / 4027: srun inside an allocation asks for it -------------------------------------
    def alloc_info(self, job_id: int, uid: int) -> ResourceAllocationResponse | int:
        """The allocation of a running job, or the rc slurmctld answers (job_alloc_info)."""
        job = self.cluster.jobs.get(job_id)
        if job is None:
            return SlurmRC.ESLURM_INVALID_JOB_ID
        if job.is_pending():
            return SlurmRC.ESLURM_JOB_PENDING
        if not job.is_running() or not job.nodes:
            return SlurmRC.ESLURM_ALREADY_DONE
        return self.allocation_response(job, lookup=True)

    # -- 5001: a step ---------------------------------------------------------------------------
    async def create_step(
        self, req: JobStepCreateRequest, uid: int, peer_host: str, version: int = PROTOCOL_VERSION
    ) -> Reply:
        """REQUEST_JOB_STEP_CREATE (slurmctld's _slurm_rpc_job_step_create + step_create).

        A step that does not fit only because another step holds the CPUs waits up to
        :data:`BUSY_GRACE` for a step of the job to end before it is told ESLURM_NODES_BUSY:
        slurmstepd tells srun that its tasks ended before it tells the controller, so the next
        srun of a job script may ask before the previous step's end arrived.
        """
        ctl = self.ctl
        if version >= SLURM_24_11_PROTOCOL_VERSION and req.user_id == SLURM_AUTH_NOBODY:
            # from 24.11 srun leaves the user to the controller: the one its credential names
            req = dataclasses.replace(req, user_id=uid)
        if uid != 0 and uid != req.user_id:
            log.error("step create for uid %s from uid %s refused", req.user_id, uid)
            return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BUSY_GRACE
        while True:
            placed = self._try_place(req, version)
            if not isinstance(placed, SlurmError):
                job, table, step = placed
                self._srun_active(job.job_id)
                break
            if placed.rc == SlurmRC.ESLURM_NODES_BUSY:  # the job's nodes were looked at
                self._srun_active(req.step_id.job_id)
            left = deadline - loop.time()
            if placed.rc != SlurmRC.ESLURM_NODES_BUSY or left <= 0:
                busy_job = self.cluster.jobs.get(req.step_id.job_id)
                if placed.rc == SlurmRC.ESLURM_NODES_BUSY and req.port and busy_job is not None:
                    # srun waits on its port and asks again when woken (_build_pending_step)
                    job = busy_job
                    table = self.table(job)
                    table.waiting = (*table.waiting, (peer_host, req.port, version))[-MAX_WAITING:]
                    self._save(job, table)
                return rc_reply(placed.rc, placed.message)
            freed = self._freed.setdefault(req.step_id.job_id, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(freed.wait(), left)
        now = step.start_time
        step.addr = peer_host
        step.protocol_version = version
        if req.step_id.step_id != NO_VAL:
            step.step_id = req.step_id.step_id
            table.next_step_id = max(table.next_step_id, step.step_id + 1)
        else:
            step.step_id = table.next_step_id
            table.next_step_id += 1
        table.steps[step.step_id] = step
        self._save(job, table)
        credential = self.credential(job, step, now, version)
        try:
            credential = await self._sign(credential, version)
        except Exception as exc:
            log.error("job %s: cannot sign the credential of step %s: %s", job.job_id, step.step_id, exc)
            table = self.table(job)
            table.steps.pop(step.step_id, None)
            self._save(job, table)
            return rc_reply(SlurmRC.ESLURM_INVALID_JOB_CREDENTIAL)
        ctl.accounting.step_started(job, step)  # step_create
        await ctl.durable()
        layout = StepLayout(
            node_list=compress(step.nodes),
            node_cnt=len(step.nodes),
            task_cnt=req.num_tasks,
            task_dist=step.task_dist,
            tids=step.tids,
            start_protocol_ver=version,
        )
        log.info(
            "step %s.%s: %s task(s) on %s for %s:%s",
            job.job_id,
            step.step_id,
            req.num_tasks,
            layout.node_list,
            peer_host,
            req.port,
        )
        return Reply(
            MsgType.RESPONSE_JOB_STEP_CREATE,
            JobStepCreateResponse(
                job_step_id=step.step_id,
                step_layout=layout,
                credential=credential,
                use_protocol_ver=version,
                job_id=job.job_id,
            ),
        )

    async def _sign(self, credential: JobCredential, version: int) -> JobCredential:
        """The step credential as CredType signs it: cred/slurm's launch token, minted as it is packed,
        or cred/munge's signature of the packed fields (restricted to SlurmdUser; its NUL included)."""
        creds = self.ctl.creds
        if creds.sealer is not None:
            return credential.sealed_by(creds.sealer)
        payload = credential.signed_payload(version)
        uid = self.ctl.config.slurmd_user_uid
        signature = await self.ctl.signer.sign_payload(payload, uid, creds.munge)
        return credential.with_signature(signature + b"\0")

    def _try_place(
        self, req: JobStepCreateRequest, version: int = PROTOCOL_VERSION
    ) -> tuple[Job, JobSteps, Step] | SlurmError:
        """The checks of step_create, then the step's place in the job (or why it has none)."""
        job = self.cluster.jobs.get(req.step_id.job_id)
        if job is None:
            return SlurmError(SlurmRC.ESLURM_INVALID_JOB_ID)
        if req.user_id != job.user_id:
            return SlurmError(SlurmRC.ESLURM_ACCESS_DENIED)
        if job.is_pending():
            return SlurmError(SlurmRC.ESLURM_DUPLICATE_JOB_ID)
        now = self.ctl.now()
        if not job.is_running() or job.is_completing() or (job.end_time and job.end_time <= now):
            return SlurmError(SlurmRC.ESLURM_ALREADY_DONE)
        if req.num_tasks < 1 or req.num_tasks == NO_VAL:
            return SlurmError(SlurmRC.ESLURM_BAD_TASK_COUNT)
        table = self.table(job)
        if req.step_id.step_id != NO_VAL and req.step_id.step_id in table.steps:
            return SlurmError(SlurmRC.ESLURM_DUPLICATE_STEP_ID)
        if table.next_step_id >= self.ctl.config.max_step_count:
            return SlurmError(SlurmRC.ESLURM_STEP_LIMIT)
        try:
            return job, table, self._place(job, table, req, now, version)
        except SlurmError as exc:
            return exc

    def _place(
        self, job: Job, table: JobSteps, req: JobStepCreateRequest, now: int, version: int = PROTOCOL_VERSION
    ) -> Step:
        """Pick the step's nodes and cores inside the job and lay its tasks out (step_mgr.c
        _pick_step_nodes, step_layout_create, _step_alloc_lps, simplified)."""
        nodes = self.cluster.nodes
        job_nodes = list(job.nodes)
        max_nodes = req.max_nodes or len(job_nodes)
        min_nodes = max(1, req.min_nodes)
        if max_nodes < min_nodes:
            raise SlurmError(SlurmRC.ESLURM_INVALID_NODE_COUNT)
        if min_nodes > len(job_nodes):
            raise SlurmError(SlurmRC.ESLURM_INVALID_NODE_COUNT)
        excluded = set(_names(req.exc_nodes))
        required = _names(req.node_list)
        if any(n not in job_nodes for n in required) or any(n in excluded for n in required):
            raise SlurmError(SlurmRC.ESLURM_REQUESTED_NODE_CONFIG_UNAVAILABLE)
        whole = bool(req.flags & SSF_WHOLE)
        force = bool(req.flags & SSF_OVERLAP_FORCE)
        cpu_count = 0 if req.flags & SSF_OVERCOMMIT else req.cpu_count
        tres, greqs = self._step_gres(job, req, version)
        gres_invalid = 0
        cpt = cpus_per_task_of(req, job)
        per_task = max(1, cpt)
        # CPUs of the job each node offers this step (what other steps do not hold)
        usable: dict[str, int] = {}
        total: dict[str, int] = {}
        for i, name in enumerate(job_nodes):
            node = nodes.get(name)
            if name in excluded or node is None:
                continue
            if node.base_state == NodeState.DOWN or node.flags & NodeStateFlag.NO_RESPOND:
                continue
            cpus = job.cpus_alloc[i] if i < len(job.cpus_alloc) else node.cpus
            if greqs:
                # gres_step_test: a node that holds too little of the job's GRES never runs the step
                # (ESLURM_INVALID_GRES once too few nodes are left), one whose GRES other steps hold
                # runs it later (ESLURM_NODES_BUSY: srun waits)
                offer = table.gres_offer(name, job.gres_alloc[i] if i < len(job.gres_alloc) else ())
                one = max_nodes == 1
                if not gres_bind.node_usable(greqs, offer, node.gres_inv, one, ignore_alloc=True):
                    gres_invalid += 1
                    continue
                free_now = gres_bind.node_usable(greqs, offer, node.gres_inv, one, ignore_alloc=False)
                if not force and not free_now:
                    total[name] = cpus
                    usable[name] = 0
                    continue
            total[name] = cpus
            if force:
                usable[name] = cpus
                continue
            used = len(table.cores_in_use(name)) * node.threads_per_core
            usable[name] = 0 if (whole and used) else max(0, cpus - used)
        if greqs and gres_invalid and gres_invalid >= min_nodes:
            raise SlurmError(SlurmRC.ESLURM_INVALID_GRES)
        order = required + [n for n in job_nodes if n not in required and n in usable]
        picked: list[str] = []
        picked_cpus = 0
        for name in order:
            if len(picked) >= max_nodes:
                break
            if usable.get(name, 0) <= 0:
                if name in required:
                    break
                continue
            picked.append(name)
            picked_cpus += usable[name]
            if len(picked) >= min_nodes and picked_cpus >= cpu_count and len(picked) >= len(required):
                break
        fits = len(picked) >= min_nodes and picked_cpus >= cpu_count and all(r in picked for r in required)
        if not fits:
            # would it fit once the other steps end? then srun waits and retries
            possible = sorted(total.values(), reverse=True)[:max_nodes]
            if len(total) >= min_nodes and sum(possible) >= cpu_count:
                raise SlurmError(SlurmRC.ESLURM_NODES_BUSY)
            if cpu_count > sum(possible):
                raise SlurmError(SlurmRC.ESLURM_TOO_MANY_REQUESTED_CPUS)
            raise SlurmError(SlurmRC.ESLURM_REQUESTED_NODE_CONFIG_UNAVAILABLE)
        if req.num_tasks > len(picked) * self.ctl.config.max_tasks_per_node:
            raise SlurmError(SlurmRC.ESLURM_BAD_TASK_COUNT)
        task_dist = req.task_dist
        if base_dist(task_dist) == SLURM_DIST_UNKNOWN:
            task_dist = (task_dist & ~SLURM_DIST_STATE_BASE) | SLURM_DIST_BLOCK
        slots = [max(1, usable[n] // per_task) for n in picked]
        tids = task_layout(slots, req.num_tasks, task_dist)
        if any(not t for t in tids):
            raise SlurmError(SlurmRC.ESLURM_BAD_TASK_COUNT)
        cores: list[tuple[int, ...]] = []
        mems: list[int] = []
        for name, t in zip(picked, tids, strict=True):
            i = job_nodes.index(name)
            node = nodes[name]
            job_cores = job.cores_alloc[i] if i < len(job.cores_alloc) else ()
            taken = set() if force else table.cores_in_use(name)
            free = [c for c in sorted(job_cores) if c not in taken]
            if whole:
                mine = free
            else:
                per_core = multicore.step_cpus_per_core(req.threads_per_core, job, node)
                want = max(1, -(-(len(t) * per_task) // per_core))
                mine = free[:want]
            cores.append(tuple(mine))
            mems.append(job.mem_alloc[i] if i < len(job.mem_alloc) else 0)
        step_gres: list[NodeUses] = []
        gres_cpus: list[int] = []
        if greqs:
            # gres_ctld_step_alloc, node by node: the lowest devices of the job's no other step holds
            left = len(picked)
            for name, t in zip(picked, tids, strict=True):
                i = job_nodes.index(name)
                offer = table.gres_offer(name, job.gres_alloc[i] if i < len(job.gres_alloc) else ())
                try:
                    uses, cpus = gres_bind.alloc_on_node_cpus(
                        greqs, offer, nodes[name].gres_inv, len(t), left, decr_job_alloc=not force
                    )
                except GresError as exc:
                    raise SlurmError(exc.rc) from None
                step_gres.append(uses)
                gres_cpus.append(cpus)
                left -= 1
        # the step's CPUs on each node and what they count against the job (_step_alloc_lps)
        node_cpus = [
            step_use.node_cpus(
                whole=whole,
                overlap_force=force,
                job_cpus=job.cpus_alloc[job_nodes.index(name)]
                if job_nodes.index(name) < len(job.cpus_alloc)
                else nodes[name].cpus,
                tasks=len(t),
                cpus_per_task=cpt,
                gres_cpus=gres_cpus[k] if k < len(gres_cpus) else 0,
                cpus_per_tres=bool(req.cpus_per_tres),
                step_threads_per_core=req.threads_per_core,
                job_threads_per_core=job.threads_per_core,
                node_threads=nodes[name].threads_per_core,
                version=version,
            )
            for k, (name, t) in enumerate(zip(picked, tids, strict=True))
        ]
        marks_cores = step_use.marks_cores(
            cpu_count=req.cpu_count,
            overcommit=bool(req.flags & SSF_OVERCOMMIT),
            job_cpus=sum(job.cpus_alloc),
            overlap_force=force,
        )
        time_limit = INFINITE if req.time_limit in (0, NO_VAL, INFINITE) else req.time_limit
        return Step(
            step_id=NO_VAL,
            nodes=tuple(picked),
            tids=tids,
            task_dist=task_dist,
            cores=tuple(cores),
            cpu_count=sum(c.alloc for c in node_cpus),
            cpus_per_task=cpt,
            mem=tuple(mems),
            flags=req.flags,
            start_time=now,
            time_limit=time_limit,
            name=req.name or job.name,
            host=req.host,
            port=req.port,
            srun_pid=req.srun_pid,
            submit_line=req.submit_line,
            tres_per_step=tres.per_step,
            tres_per_node=tres.per_node,
            tres_per_socket=tres.per_socket,
            tres_per_task=tres.per_task,
            cpus_per_tres=req.cpus_per_tres,
            mem_per_tres=req.mem_per_tres,
            tres_bind=req.tres_bind,
            tres_freq=req.tres_freq,
            gres_alloc=tuple(step_gres),
            cpus_used=tuple(c.used for c in node_cpus),
            marks_cores=marks_cores,
        )

    def _step_gres(
        self, job: Job, req: JobStepCreateRequest, version: int
    ) -> tuple[gres_bind.StepTres, list[gres_bind.StepGresRequest]]:
        """What GRES a step asks (step_create: _copy_job_tres_to_step, gres_step_state_validate and, in
        22.05, its check against the job's request, whose reason srun prints), or the SlurmError
        slurmctld answers. From 24.11 that check is gone: a step asking more than its job holds on its
        nodes is refused by the node test alone, without a reason."""
        tres = gres_bind.step_tres(
            req.tres_per_step,
            req.tres_per_node,
            req.tres_per_socket,
            req.tres_per_task,
            job_per_job=job.tres_per_job,
            job_per_node=job.tres_per_node,
            job_per_socket=job.tres_per_socket,
            job_per_task=job.tres_per_task,
        )
        texts = (job.tres_per_job, job.tres_per_node, job.tres_per_socket, job.tres_per_task)
        try:
            known = {n for n in (self.ctl.config.gres_types or "").split(",") if n}
            known |= {name for t in texts for name, _, _ in gres.tres_items(t)}
            greqs = gres_bind.step_requests(tres, req.cpus_per_tres, req.mem_per_tres, req.num_tasks, known)
        except GresError as exc:
            raise SlurmError(exc.rc) from None
        if not greqs or version >= SLURM_24_11_PROTOCOL_VERSION:
            return tres, greqs
        try:
            job_reqs = gres.job_requests(
                tres_per_job=job.tres_per_job,
                tres_per_node=job.tres_per_node,
                tres_per_socket=job.tres_per_socket,
                tres_per_task=job.tres_per_task,
                cpus_per_tres=job.cpus_per_tres,
                known_names=known,
                shape=gres.JobShape(num_tasks=job.num_tasks, min_nodes=len(job.nodes)),
            )
        except GresError:
            job_reqs = ()
        try:
            gres_bind.check_against_job(greqs, job_reqs, req.min_nodes)
        except GresError as exc:
            raise SlurmError(SlurmRC.ESLURM_INVALID_GRES, str(exc)) from None
        return tres, greqs

    def credential(self, job: Job, step: Step, now: int, version: int = PROTOCOL_VERSION) -> JobCredential:
        """The step credential (proc_req.c _make_step_cred): the job's, narrowed to the step's
        hosts and cores, created now. Unsigned here; :meth:`create_step` signs it."""
        cred = self.ctl.agent.credential(job, step.step_id, step.nodes, version=version)
        value, offset = 0, 0
        for name in job.nodes:
            node = self.cluster.nodes[name]
            if name in step.nodes:
                for c in step.cores[step.nodes.index(name)]:
                    value |= 1 << (offset + c)
            offset += node.total_cores
        mem_vals, mem_reps = rle(step.mem)
        inventories = gres_alloc.inventories(self.cluster.nodes, job.nodes)
        return dataclasses.replace(
            cred,
            step_gres=gres_bind.step_gres_states(
                job.nodes, step.nodes, step.gres_alloc, inventories, version
            ),
            ctime=now,
            step_core_bitmap=Bitmap(offset, value),
            step_mem_alloc=mem_vals,
            step_mem_alloc_rep_count=mem_reps,
        )

    # -- 5016: slurmstepd reports a step's end on some nodes --------------------------------------
    def step_complete(
        self,
        step_id: StepId,
        range_first: int,
        range_last: int,
        step_rc: int,
        uid: int,
        jobacct: JobAcctInfo | None = None,
    ) -> int:
        """REQUEST_STEP_COMPLETE (step_partial_comp): returns the rc slurmctld would answer."""
        job = self.cluster.jobs.get(step_id.job_id)
        if job is None:
            return SlurmRC.ESLURM_INVALID_JOB_ID
        if job.state == JobState.PENDING:
            return SlurmRC.ESLURM_JOB_PENDING
        if not self.ctl.is_admin(uid) and uid != job.user_id:
            return SlurmRC.ESLURM_USER_ID_MISSING
        if step_id.step_id in (SLURM_BATCH_SCRIPT, SLURM_EXTERN_CONT):
            return 0  # flurm keeps no record of these steps; nothing to account
        table = self.table(job)
        step = table.steps.get(step_id.step_id)
        if step is None:
            return SlurmRC.ESLURM_INVALID_JOB_ID
        n = len(step.nodes)
        if range_last < range_first or range_first >= n or range_last >= n:
            return errno.EINVAL
        self.ctl.accounting.step_report(job, step.step_id, jobacct)  # jobacctinfo_aggregate
        if not step.exited or step_rc == SIG_OOM or step_rc > step.exit_code:
            step.exit_code = step_rc
        step.exited = tuple(sorted(set(step.exited) | set(range(range_first, range_last + 1))))
        if len(step.exited) >= n:
            del table.steps[step.step_id]
            if step.exit_code != NO_VAL and (step.exit_code == SIG_OOM or step.exit_code > job.derived_ec):
                job.derived_ec = step.exit_code
            log.info("step %s.%s done, exit code %s", job.job_id, step.step_id, step.exit_code)
            self.ctl.accounting.step_completed(job, step)  # _internal_step_complete
            self._wake_waiting(job, table)
            self._set_freed(job.job_id)
            if job.is_finished() and not table.steps:
                job.bitflags |= JobFlag.TRES_STR_CALC  # the job's last step ended after the job
        self._save(job, table)
        return 0

    def _set_freed(self, job_id: int) -> None:
        freed = self._freed.pop(job_id, None)
        if freed is not None:
            freed.set()

    def _wake_waiting(self, job: Job, table: JobSteps) -> None:
        """Resources of the job came free: the sruns waiting for a step may ask again
        (slurmctld's _wake_pending_steps sends them SRUN_STEP_SIGNAL with signal 0)."""
        if not job.is_running():
            table.waiting = ()
            return
        for addr, port, version in table.waiting:
            wake = SrunStepSignal(job.job_id, SLURM_PENDING_STEP, NO_VAL, signal=0)
            self.ctl.spawn(self._tell_srun(job, addr, port, MsgType.SRUN_STEP_SIGNAL, wake, version=version))
        table.waiting = ()

    # -- 5005: a signal to a step ---------------------------------------------------------------
    def signal_step(self, job_id: int, step_id: int, signal: int, flags: int, uid: int) -> int:
        """REQUEST_CANCEL_JOB_STEP for one step (job_step_signal): slurmd signals its tasks.

        SIGKILL first tells the step's srun that its step is over (srun_step_complete), so that it
        reports the abort, then slurmd kills the tasks (REQUEST_SIGNAL_TASKS in both cases).
        """
        job = self.cluster.jobs.get(job_id)
        if job is None:
            return SlurmRC.ESLURM_INVALID_JOB_ID
        if job.user_id != uid and not self.ctl.is_admin(uid):
            return SlurmRC.ESLURM_USER_ID_MISSING
        if job.is_finished():
            return SlurmRC.ESLURM_ALREADY_DONE
        if not job.is_running():
            return SlurmRC.ESLURM_TRANSITION_STATE_NO_UPDATE
        step = self.table(job).steps.get(step_id)
        if step is None:
            return SlurmRC.ESLURM_INVALID_JOB_ID
        if signal == signals.SIGKILL and step.addr and step.port:
            done = SrunJobComplete(StepId(job.job_id, step.step_id, NO_VAL))
            self.ctl.spawn(
                self._tell_srun(
                    job, step.addr, step.port, MsgType.SRUN_JOB_COMPLETE, done, version=step.protocol_version
                )
            )
        self.ctl.agent.signal_step(job, step.step_id, step.nodes, signal, flags)
        return 0

    # -- the end of a job -------------------------------------------------------------------------
    def job_ended(self, job: Job, *, by_owner: bool = False) -> None:
        """The job ended (slurmctld's srun_job_complete, srun_allocate_abort): tell its sruns.

        ``by_owner``: the srun or salloc that owns the allocation ended it itself (5017); nobody
        is left to tell.
        """
        self._set_freed(job.job_id)
        if by_owner or not job.steps:
            return
        table = self.table(job)
        done = SrunJobComplete(StepId(job.job_id, NO_VAL, NO_VAL))
        if table.resp_host:
            if job.start_time and job.nodes and table.other_port:
                self.ctl.spawn(
                    self._tell_srun(job, table.resp_host, table.other_port, MsgType.SRUN_JOB_COMPLETE, done)
                )
            elif not job.nodes and table.alloc_resp_port:
                # never started: the srun still waits for its allocation
                self.ctl.spawn(
                    self._tell_srun(
                        job, table.resp_host, table.alloc_resp_port, MsgType.SRUN_JOB_COMPLETE, done
                    )
                )
        for step in table.steps.values():
            if step.addr and step.port:
                msg = SrunJobComplete(StepId(job.job_id, step.step_id, NO_VAL))
                told = self._tell_srun(
                    job, step.addr, step.port, MsgType.SRUN_JOB_COMPLETE, msg, version=step.protocol_version
                )
                self.ctl.spawn(told)

    # -- what time and failures change (slurmctld's job_time_limit, srun_comm.c) -----------------
    def time_limits(self, now: int) -> None:
        """Steps past their own limit (srun -t) are killed (check_job_step_time_limit); the sruns
        of a job whose limit comes within PERIODIC_TIMEOUT*2 hear SRUN_TIMEOUT (srun_timeout),
        every PERIODIC_TIMEOUT as slurmctld's check of time limits runs."""
        for job in list(self.cluster.running_jobs()):
            if not job.steps or not (_may_time_out(job.steps) or _limit_near(job, now)):
                continue  # (most jobs: nothing to parse)
            table = self.table(job)
            expired = [
                s
                for s in table.steps.values()
                if not s.timed_out
                and s.time_limit not in (INFINITE, NO_VAL)
                and (now - s.start_time) // 60 >= s.time_limit
            ]
            for step in expired:
                log.info("step %s.%s has timed out (%s min)", job.job_id, step.step_id, step.time_limit)
                step.timed_out = True
                self.ctl.agent.kill_step_timelimit(job, step.step_id, step.nodes)
            if expired:
                self._save(job, table)
            self._warn_timeout(job, table, now)
        if self.ctl.config.inactive_limit:
            self._inactivity(now)
        for job_id in [
            j
            for j in self._timeout_told
            if j not in self.cluster.jobs or not self.cluster.jobs[j].is_running()
        ]:
            del self._timeout_told[job_id]

    def _inactivity(self, now: int) -> None:
        """InactiveLimit: every InactiveLimit/3 the srun or salloc owning an interactive allocation
        not heard of lately gets SRUN_PING (srun_ping); one silent for InactiveLimit*4/3 +
        MessageTimeout ends its job with TIMEOUT, reason InactiveLimit (job_time_limit), unless the
        partition is RootOnly."""
        cfg = self.ctl.config
        limit, msg_timeout = cfg.inactive_limit, cfg.message_timeout
        ping_round = now - self._last_ping_round >= limit // 3
        if ping_round:
            self._last_ping_round = now
        ping_before = now - limit // 3 + msg_timeout + 1
        kill_before = now - (limit * 4 // 3 + msg_timeout + 1)
        running: set[int] = set()
        for job in list(self.cluster.running_jobs()):
            if job.script is not None or not job.steps:
                continue  # batch jobs have no srun to lose
            table = self.table(job)
            if not table.resp_host or not table.other_port:
                continue
            running.add(job.job_id)
            active = self._last_active.setdefault(job.job_id, job.start_time)
            part = self.cluster.partitions.get(job.partition or "")
            if active <= kill_before and not (part is not None and part.root_only):
                log.info("inactivity time limit reached for job %s", job.job_id)
                self.ctl.jobs.timed_out(job, now, JobStateReason.FAIL_INACTIVE_LIMIT)
            elif ping_round and active <= ping_before:
                self.ctl.spawn(self._ping_srun(job, table.resp_host, table.other_port))
        for job_id in [j for j in self._last_active if j not in running]:
            del self._last_active[job_id]

    def _srun_active(self, job_id: int) -> None:
        """A step asked for counts as activity of the job's srun (step_create sets the job's
        time_last_active before it picks the step's nodes)."""
        if self.ctl.config.inactive_limit:
            self._last_active[job_id] = self.ctl.now()

    async def _ping_srun(self, job: Job, host: str, port: int) -> None:
        """SRUN_PING; an answer counts as activity (srun_response)."""
        try:
            resp = await call(
                host,
                port,
                MsgType.SRUN_PING,
                SrunPing(),
                self.ctl.signer,
                timeout=SRUN_MSG_TIMEOUT,
                expect_reply=True,
                uid_restriction=job.user_id,
                version=self.table(job).protocol_version or PROTOCOL_VERSION,
            )
        except Exception as exc:
            log.info("job %s: SRUN_PING to %s:%s failed: %s", job.job_id, host, port, exc)
            return
        if resp is not None and job.job_id in self._last_active:
            self._last_active[job.job_id] = self.ctl.now()

    def _warn_timeout(self, job: Job, table: JobSteps, now: int) -> None:
        end = job.end_time
        if not _limit_near(job, now):
            return
        if now - self._timeout_told.get(job.job_id, 0) < PERIODIC_TIMEOUT:
            return
        self._timeout_told[job.job_id] = now
        self._tell_sruns(
            job,
            table,
            MsgType.SRUN_TIMEOUT,
            lambda step_id: SrunTimeout(StepId(job.job_id, step_id, NO_VAL), end),
        )

    def timeout_reached(self, job: Job) -> None:
        """The job is about to end at its limit: SRUN_TIMEOUT with its end time to the allocation's
        owner and each step's srun, as slurmctld's _job_timed_out does before the kill."""
        if job.steps and job.is_running():
            end = job.end_time
            self._tell_sruns(
                job,
                self.table(job),
                MsgType.SRUN_TIMEOUT,
                lambda step_id: SrunTimeout(StepId(job.job_id, step_id, NO_VAL), end),
            )

    def node_failed(self, job: Job, node_name: str) -> None:
        """A node of the running job failed: SRUN_NODE_FAIL to the sruns of its steps there and to
        the srun or salloc owning the allocation (srun_node_fail); srun says "Node failure on ..."."""
        if not job.is_running() or not job.steps:
            return
        table = self.table(job)
        on_node = {s.step_id for s in table.steps.values() if node_name in s.nodes}
        self._tell_sruns(
            job,
            table,
            MsgType.SRUN_NODE_FAIL,
            lambda step_id: SrunNodeFail(StepId(job.job_id, step_id, NO_VAL), node_name),
            steps=on_node,
        )

    def _tell_sruns(
        self,
        job: Job,
        table: JobSteps,
        msg_type: int,
        body: Callable[[int], Message],
        steps: set[int] | None = None,
    ) -> None:
        """One message to the allocation's owner (step NO_VAL) and to each step's srun."""
        if table.resp_host and table.other_port:
            self.ctl.spawn(self._tell_srun(job, table.resp_host, table.other_port, msg_type, body(NO_VAL)))
        for step in table.steps.values():
            if step.addr and step.port and (steps is None or step.step_id in steps):
                self.ctl.spawn(
                    self._tell_srun(
                        job, step.addr, step.port, msg_type, body(step.step_id), version=step.protocol_version
                    )
                )

    # -- 2005: squeue -s ----------------------------------------------------------------------------
    def step_info(self, job_id: int, step_id: int, show_flags: int, uid: int) -> Reply:
        """RESPONSE_JOB_STEP_INFO for every running step (of one job, or one step of it)."""
        now = self.ctl.now()
        cluster = self.cluster
        records: list[StepInfoRecord] = []
        found_job = False
        for job in sorted(cluster.jobs.values(), key=lambda j: (j.list_seq, j.job_id)):
            if job_id != NO_VAL and job_id not in (job.job_id, job.array_job_id):
                continue
            found_job = True
            if not job.is_running() and not job.is_completing():
                continue
            steps = self._info_records(job, now)
            if step_id != NO_VAL:
                steps = [s for s in steps if s.step_id.step_id == step_id]
            records.extend(steps)
        if cluster.jobs and not found_job and not records:
            return rc_reply(SlurmRC.ESLURM_INVALID_JOB_ID)
        return Reply(MsgType.RESPONSE_JOB_STEP_INFO, JobStepInfoResponse(now, tuple(records)))

    def _info_records(self, job: Job, now: int) -> list[StepInfoRecord]:
        cluster = self.cluster
        out: list[StepInfoRecord] = []
        size = len(cluster.node_list)

        def record(
            step_id: int,
            nodes: tuple[str, ...],
            cpus: int,
            tasks: int,
            dist: int,
            start: int,
            mem: int,
            **extra: Any,
        ) -> StepInfoRecord:
            extra.setdefault("job_name", job.name)  # packed from 26.05 (every step names its job)
            return StepInfoRecord(
                array_job_id=job.array_job_id,
                array_task_id=job.array_task_id,
                step_id=StepId(job.job_id, step_id, NO_VAL),
                user_id=job.user_id,
                num_cpus=cpus,
                cpu_freq_min=NO_VAL,
                cpu_freq_max=NO_VAL,
                cpu_freq_gov=NO_VAL,
                num_tasks=tasks,
                task_dist=dist,
                time_limit=extra.pop("time_limit", INFINITE),
                state=extra.pop("state", JobState.RUNNING),
                srun_pid=extra.pop("srun_pid", 0),
                start_time=start,
                run_time=max(0, now - start),
                cluster=cluster.config.cluster_name,
                container=None,
                partition=job.partition,
                srun_host=extra.pop("srun_host", None),
                resv_ports=None,
                nodes=compress(nodes),
                name=extra.pop("name", None),
                network=None,
                node_bitmap=Bitmap.from_indexes(
                    size, [cluster.nodes[n].index for n in nodes if n in cluster.nodes]
                ),
                select_plugin_id=109,
                tres_alloc_str=step_tres_string(cpus, mem, len(nodes), extra.pop("gres_tres", ())),
                start_protocol_ver=PROTOCOL_VERSION,
                **extra,
            )

        # the extern and batch steps (build_extern_step, build_batch_step), in the order slurmctld
        # creates them: no CPU count, no formatted TRES and a fake layout without distribution
        if (
            parse_prolog_flags(self.ctl.config.prolog_flags) & PrologFlag.CONTAIN
            and job.nodes
            and job.is_running()
        ):
            extern = record(
                SLURM_EXTERN_CONT, job.nodes, 0, len(job.nodes), 0, job.start_time, 0, name="extern"
            )
            out.append(dataclasses.replace(extern, tres_alloc_str=None))
        if job.script is not None and job.batch_host and job.is_running():
            batch = record(SLURM_BATCH_SCRIPT, (job.batch_host,), 0, 1, 0, job.start_time, 0, name="batch")
            out.append(dataclasses.replace(batch, tres_alloc_str=None))
        for step in sorted(self.table(job).steps.values(), key=lambda s: s.step_id):
            out.append(
                record(
                    step.step_id,
                    step.nodes,
                    step.cpu_count,
                    sum(len(t) for t in step.tids),
                    step.task_dist,
                    step.start_time,
                    sum(step.mem),
                    time_limit=step.time_limit,
                    state=JobState.TIMEOUT if step.timed_out else JobState.RUNNING,
                    srun_pid=step.srun_pid,
                    srun_host=step.host,
                    name=step.name,
                    submit_line=step.submit_line,
                    tres_per_step=step.tres_per_step,
                    tres_per_node=step.tres_per_node,
                    tres_per_socket=step.tres_per_socket,
                    tres_per_task=step.tres_per_task,
                    cpus_per_tres=step.cpus_per_tres,
                    mem_per_tres=step.mem_per_tres,
                    tres_bind=step.tres_bind,
                    tres_freq=step.tres_freq,
                    gres_tres=self._step_gres_tres(step),
                )
            )
        return out

    def _step_gres_tres(self, step: Step) -> list[str]:
        """The GRES TRES (AccountingStorageTRES gres/...) of what the step holds, for its TRES=."""
        names = gres_tres_names(self.cluster)
        uses = step.gres_alloc  # per step node
        if not names or not uses:
            return []
        inventories = gres_alloc.inventories(self.cluster.nodes, step.nodes)
        records = gres_alloc.alloc_records(step.nodes, uses, inventories)
        return gres_tres(names, ((r.name, r.type, r.shown_total) for r in records))


__all__ = ["JobSteps", "Step", "StepOps", "cpus_per_task_of", "interactive_allocation", "task_layout"]
