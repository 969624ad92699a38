"""The controller core: owns the cluster, the store, the scheduler loop and the RPC server's dispatch.

It imports nothing from the rooms above it (nodes/, migration/, api/): daemon.py attaches the node
driver (:class:`~flurm.controller.ports.NodeDriver`), handlers of the rooms above (the migration
admin RPC, gated by the mode table like any other), the forwarder of the FORWARD action, and listeners of mode
changes; daemon.py also runs the lifecycle (the RPC server, :meth:`ticker`, the rooms above). The
scheduler is event-driven: any change that may let a job start calls :meth:`schedule_soon`, which
runs one pass on the next loop iteration (coalescing bursts); a 1 s tick handles what time alone
changes (time limits, begin times, MinJobAge, node timeouts).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from flurm.auth.authenticator import Authenticator, Identity
from flurm.auth.configure import job_credential_signer
from flurm.auth.jwt_tokens import JwtAuthority
from flurm.config.slurmconf import SlurmConfig
from flurm.controller import mail, prep, reboot, reservations
from flurm.controller.diag import DiagStats
from flurm.controller.jobs import JobOps
from flurm.controller.log_settings import LogSettings
from flurm.controller.ports import (
    AccountingPolicy,
    AccountingSink,
    NoAccounting,
    NoAccountingPolicy,
    NodeDriver,
    RequestHandler,
)
from flurm.controller.priority import Priorities
from flurm.controller.steps import StepOps
from flurm.errors import SlurmError
from flurm.modes import (
    DECODED_FOR_ADMINS_ONLY,
    TRAITS,
    UNCLASSIFIED_RC,
    Action,
    Guard,
    Mode,
    ModeTraits,
    action,
    check_transition,
    refusal_rc,
)
from flurm.protocol.constants import AUTH_PLUGIN_MUNGE, JobStateFlag, SlurmRC
from flurm.protocol.frame import Frame, Header
from flurm.protocol.limits import BodyLimits
from flurm.protocol.messages.base import Body, encode_body
from flurm.rpc.transport import Reply, Request, RpcServer, Signer, rc_reply
from flurm.scheduler import scheduler
from flurm.state.cluster import Cluster
from flurm.state.records import JobListCache
from flurm.state.store import Store

log = logging.getLogger("flurm.controller")


class Controller:
    def __init__(
        self,
        config: SlurmConfig,
        auth: Authenticator,
        *,
        state_dir: Path | None = None,
        port: int | None = None,
        listen_host: str = "0.0.0.0",
        clock: Callable[[], float] = time.time,
        mode: Mode = Mode.STANDALONE,
    ) -> None:
        self.config = config
        self.jwt = JwtAuthority.from_config(config)  # None: no tokens (scontrol token, HTTP API)
        self.mode = mode
        self.mode_changed = asyncio.Condition()
        self.clock = clock
        self.state_dir = Path(state_dir or config.state_save_location)
        self.port = port if port is not None else config.slurmctld_port
        self.listen_host = listen_host
        self.signer = Signer(auth)
        self.creds = job_credential_signer(config, auth)  # CredType's signer of job credentials
        self.store = Store(self.state_dir / "flurm.sqlite", owner=config.slurm_user_uid)
        self.cluster = Cluster(config, self.store, clock)
        self.priority = Priorities(self)  # the PriorityType plugin
        self.jobs = JobOps(self)
        self.job_list_cache = JobListCache()
        self.steps = StepOps(self)
        self.agent: NodeDriver = _NoNodeDriver()  # daemon.py attaches the real one
        # daemon.py attaches slurmdbd's when AccountingStorageType=accounting_storage/slurmdbd
        self.accounting: AccountingSink = NoAccounting()
        # daemon.py attaches AccountingStorageEnforce's when slurmdbd holds the associations
        self.acct_policy: AccountingPolicy = NoAccountingPolicy()
        self.cluster.node_listeners.append(lambda node: self.accounting.node_state_changed(node, self.now()))
        # attached by daemon.py: handlers of the rooms above, the FORWARD action, mode listeners
        self.attached_handlers: dict[int, RequestHandler] = {}
        self.forward: RequestHandler | None = None
        self.mode_listeners: list[Callable[[ModeTraits], None]] = []
        self.server = RpcServer(
            self.dispatch,
            self.signer,
            message_timeout=float(config.message_timeout),
            limits=BodyLimits(config.max_script_size),
            refuse_undecoded=self._refuse_undecoded,
        )
        self.started_at = 0.0
        self.stopping = asyncio.Event()
        self.stop_requested = asyncio.Event()  # scontrol shutdown: daemon.py stops as on SIGTERM
        self._schedule_pending = False
        self._next_pass_at = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self.scheduler_passes = 0
        self.diag = DiagStats(clock)  # sdiag's counters
        self.log_settings = LogSettings.from_config(config)  # scontrol setdebug, setdebugflags
        self.server.on_request = self.diag.observe_rpc
        self.last_schedule_duration = 0.0
        from flurm.controller.handlers import HANDLERS

        self.handlers = HANDLERS

    # -- helpers ----------------------------------------------------------------------------------
    def now(self) -> int:
        return int(self.clock())

    def _refuse_undecoded(self, msg_type: int, uid: int) -> int | None:
        """The transport's question before it decodes a body (modes.DECODED_FOR_ADMINS_ONLY)."""
        if msg_type in DECODED_FOR_ADMINS_ONLY and not self.is_admin(uid):
            return errno.EACCES
        return None

    def is_admin(self, uid: int) -> bool:
        return uid == 0 or uid == self.config.slurm_user_uid

    @property
    def traits(self) -> ModeTraits:
        return TRAITS[self.mode]

    async def set_mode(self, target: Mode, holding: set[Guard], *, persist: bool = True) -> None:
        """Change mode through the table (raises TransitionError), wake whatever waits on it.

        A mode the table says a restart resumes is written to the store; ``persist=False``: the caller
        writes it itself, once what it depends on is there (the takeover: every job first)."""
        check_transition(self.mode, target, holding)
        previous, self.mode = self.mode, target
        log.info("mode: %s -> %s", previous, target)
        if persist and self.traits.resumed:
            self.store.set_meta("mode", target.value)
        async with self.mode_changed:
            self.mode_changed.notify_all()
        self.apply_traits()

    def apply_traits(self) -> None:
        """Do what the mode says the controller does (at start, and after each change of mode)."""
        traits = self.traits
        self.cluster.persist = traits.saves_state
        if traits.schedules and not self.priority.last_calc:
            # the plugin's start (and a takeover's): every pending job's priority anew
            self.priority.start(self.now())
        for listener in self.mode_listeners:
            listener(traits)
        if traits.drives_nodes:
            self.agent.start()
        if traits.schedules:
            self.schedule_soon()

    async def durable(self) -> None:
        """Wait until every change made so far is on disk."""
        await self.store.commit()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str = "") -> asyncio.Task[None]:
        """Run ``coro`` in the background (a message to a node or an srun, a takeover): its failure
        is logged. The long-lived parts are daemon.py's, in its task group."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(t, name))
        return task

    def _task_done(self, task: asyncio.Task[None], name: str) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        log.error("background task %sfailed", f"{name} " if name else "", exc_info=task.exception())

    async def cancel_background(self, timeout: float = 5.0) -> None:
        """Cancel what :meth:`spawn` started and still runs (at shutdown), waiting ``timeout`` at most."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    # -- RPC dispatch -----------------------------------------------------------------------------
    async def dispatch(self, req: Request) -> Reply | None:
        act = action(self.mode, req.msg_type)
        if act == Action.HOLD:
            act = await self._hold(req)
        if act == Action.FORWARD:
            assert self.forward is not None
            return await self.forward(req)
        if act == Action.REFUSE:
            rc = refusal_rc(req.msg_type)
            if rc == UNCLASSIFIED_RC:
                log.info("invalid RPC msg_type=%s from %s", req.msg_type, req.peer)
            return rc_reply(rc)
        attached = self.attached_handlers.get(req.msg_type)
        if attached is not None:
            return await attached(req)
        handler = self.handlers.get(req.msg_type)
        if handler is None:
            if self.forward is not None:
                # shadow: what flurm cannot serve is slurmctld's to answer (the forwarder checks the caller)
                return await self.forward(req)
            log.info("no handler for message type %s from %s", req.msg_type, req.peer)
            return rc_reply(SlurmRC.ESLURM_NOT_SUPPORTED)
        result = handler(self, req)
        if asyncio.iscoroutine(result):
            result = await result
        assert result is None or isinstance(result, Reply)
        return result

    async def _hold(self, req: Request, timeout: float = 120.0) -> Action:
        """Wait while the mode says HOLD (the takeover); then the new mode decides."""
        async with self.mode_changed:
            try:
                await asyncio.wait_for(
                    self.mode_changed.wait_for(lambda: action(self.mode, req.msg_type) != Action.HOLD),
                    timeout,
                )
            except TimeoutError:
                return Action.REFUSE
        return action(self.mode, req.msg_type)

    # -- scheduling -------------------------------------------------------------------------------
    def schedule_soon(self) -> None:
        """A pass on the next loop iteration; with a big queue, no sooner than twice the last pass's
        duration after it ended, so that a burst of submissions is not all spent scheduling."""
        if self._schedule_pending or not self.traits.schedules:
            return
        self._schedule_pending = True
        loop = asyncio.get_running_loop()
        wait = self._next_pass_at - loop.time()
        if wait > 0:
            loop.call_later(wait, self._schedule_pass)
        else:
            loop.call_soon(self._schedule_pass)

    def schedule_now(self) -> None:
        """One scheduling pass now: an interactive allocation that fits starts at once (job_allocate)."""
        if self.traits.schedules:
            self._schedule_pass()

    def _schedule_pass(self) -> None:
        self._schedule_pending = False
        started = time.perf_counter()
        now = self.now()
        result = scheduler.plan(self.cluster, now, limits=self.acct_policy.pass_limits(self.cluster))
        for job in result.reasons_changed:
            self.cluster.job_changed(job)
            mail.dependency_checked(self, job)  # --mail-type=INVALID_DEPEND
        for decision in result.starts:
            job = decision.job
            if job.is_array_meta():
                job = self.jobs.split_task(job, job.array_task_pending.first())
            job.partition = decision.partition
            self.cluster.start_job(job, decision.alloc, now)
            self.accounting.job_started(job)  # select_nodes: jobacct_storage_job_start_direct
            mail.job_began(self, job)
            gated = prep.prolog_start(self, job)  # PrologSlurmctld: a batch launch waits for it
            if not job.state & JobStateFlag.CONFIGURING:
                self.agent.job_started(job)  # PrologFlags=Alloc; else once PrologSlurmctld is done
            if job.script is None:
                self.steps.allocation_granted(job)  # srun/salloc: no script, tell the client
            elif not gated:
                self.agent.launch_batch(job)
        self.scheduler_passes += 1
        self.last_schedule_duration = time.perf_counter() - started
        if result.cycles is not None:
            self.diag.count("started", len(result.starts))
            self.diag.observe_pass(result.cycles, self.last_schedule_duration)
        self._next_pass_at = asyncio.get_running_loop().time() + 2 * self.last_schedule_duration

    async def ticker(self) -> None:
        """What time alone changes, once a second, until :attr:`stopping`."""
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 1.0)
            if self.stopping.is_set():
                return
            now = self.now()
            self.diag.tick(now, self.cluster.jobs.values())
            if self.traits.schedules:
                self.jobs.time_limits(now)
                self.steps.time_limits(now)
                self.cluster.purge_finished(now)
                self.priority.tick(now)
                reservations.tick(self, now)
            if self.traits.drives_nodes:
                self.agent.tick(now)
                reboot.issue_due(self, now)  # scontrol reboot: the marked nodes that are idle
            self.schedule_soon()

    async def internal_request(self, msg_type: int, body: Body, identity: Identity) -> Reply | None:
        """A request made inside flurm (HTTP API) on someone's behalf, through the same mode table."""
        raw = encode_body(body)
        frame = Frame(Header(msg_type, body_length=len(raw)), AUTH_PLUGIN_MUNGE, None, raw)
        try:
            return await self.dispatch(Request(msg_type, body, identity, frame, ("internal", 0)))
        except SlurmError as exc:
            return rc_reply(exc.rc, exc.message)


class _NoNodeDriver:
    """Until daemon.py attaches the slurmd driver: any use is a wiring error, said as such."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no node driver attached to the controller (asked for {name})")
