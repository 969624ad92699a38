"""The controller: owns the cluster, the store, the scheduler loop, the node agent and the RPC server.

Lifecycle (as hypercorn does it): signal handlers only set an event; :meth:`Controller.run` starts
everything, waits for the event, then stops accepting, drains in-flight requests, and flushes the
store. The scheduler is event-driven: any change that may let a job start calls
:meth:`schedule_soon`, which runs one pass on the next loop iteration (coalescing bursts); a 1 s tick
handles what time alone changes (time limits, begin times, MinJobAge, node timeouts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flurm.auth.authenticator import Authenticator, AuthError, Identity
from flurm.auth.jwt_tokens import JwtAuthority
from flurm.config.slurmconf import SlurmConfig
from flurm.controller.jobs import JobOps
from flurm.controller.steps import StepOps
from flurm.errors import SlurmError
from flurm.migration import admin_rpc
from flurm.migration.forward import Forwarder
from flurm.migration.mirror import Mirror
from flurm.migration.source import SourceClient, SourceUnreachable
from flurm.migration.takeover import Takeover
from flurm.modes import TRAITS, Action, Guard, Mode, ModeTraits, action, check_transition
from flurm.nodes.agent import NodeAgent
from flurm.protocol.constants import AUTH_PLUGIN_MUNGE, SlurmRC
from flurm.protocol.frame import Frame, Header
from flurm.protocol.limits import BodyLimits
from flurm.protocol.messages.admin import REQUEST_FLURM_ADMIN
from flurm.protocol.messages.base import Body, encode_body
from flurm.protocol.wire import WireError
from flurm.rpc.transport import Reply, Request, RpcServer, Signer, rc_reply
from flurm.scheduler import scheduler
from flurm.state.cluster import Cluster
from flurm.state.records import JobListCache
from flurm.state.store import Store

if TYPE_CHECKING:
    from flurm.api.app import ApiSettings
    from flurm.api.metrics import Metrics

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
        api: ApiSettings | None = None,
    ) -> None:
        self.config = config
        self.jwt = JwtAuthority.from_config(config)  # None: no tokens (scontrol token, HTTP API)
        self.api_settings = api
        self.api_server: Any = None
        self.metrics: Metrics | None = None
        self.mode = mode
        self.mode_changed = asyncio.Condition()
        self.source: SourceClient | None = None
        self.mirror: Mirror | None = None
        self.forwarder: Forwarder | None = None
        self.takeover: Takeover | None = None
        self.clock = clock
        self.state_dir = Path(state_dir or config.state_save_location)
        self.port = port if port is not None else config.slurmctld_port
        self.listen_host = listen_host
        self.signer = Signer(auth)
        self.store = Store(self.state_dir / "flurm.sqlite", owner=config.slurm_user_uid)
        self.cluster = Cluster(config, self.store, clock)
        self.jobs = JobOps(self)
        self.job_list_cache = JobListCache()
        self.steps = StepOps(self)
        self.agent = NodeAgent(self)
        self.server = RpcServer(
            self.dispatch,
            self.signer,
            message_timeout=float(config.message_timeout),
            limits=BodyLimits(config.max_script_size),
        )
        self.started_at = 0.0
        self.stopping = asyncio.Event()
        self._schedule_pending = False
        self._next_pass_at = 0.0
        self._bound: list[tuple[str, int]] = []
        self._mirror_stop = asyncio.Event()
        self._mirror_stop.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.fatal: Exception | None = None  # why the controller stopped by itself
        self.scheduler_passes = 0
        self.last_schedule_duration = 0.0
        from flurm.controller.handlers import HANDLERS

        self.handlers = HANDLERS

    # -- helpers ----------------------------------------------------------------------------------
    def now(self) -> int:
        return int(self.clock())

    def is_admin(self, uid: int) -> bool:
        return uid == 0 or uid == self.config.slurm_user_uid

    @property
    def traits(self) -> ModeTraits:
        return TRAITS[self.mode]

    async def set_mode(self, target: Mode, holding: set[Guard], *, persist: bool = True) -> None:
        """Change mode through the table (raises TransitionError), wake whatever waits on it.

        ``persist=False``: the caller writes the mode to the store itself, once what it depends on is
        there (the takeover: every job first)."""
        check_transition(self.mode, target, holding)
        previous, self.mode = self.mode, target
        log.info("mode: %s -> %s", previous, target)
        if persist:
            self.store.set_meta("mode", target.value)
        async with self.mode_changed:
            self.mode_changed.notify_all()
        self._apply_traits()

    def _apply_traits(self) -> None:
        traits = self.traits
        self.cluster.persist = self.mode != Mode.SHADOW
        if traits.mirrors and self.mirror is not None and self._mirror_stop.is_set():
            self._mirror_stop.clear()
            self.spawn(self.mirror.run(self._mirror_stop), "mirror")
        if not traits.mirrors:
            self._mirror_stop.set()
        if traits.drives_nodes:
            self.agent.start()
        if traits.schedules:
            self.schedule_soon()

    async def durable(self) -> None:
        """Wait until every change made so far is on disk."""
        await self.store.commit()

    def spawn(
        self, coro: Coroutine[Any, Any, None], name: str = "", *, essential: bool = False
    ) -> asyncio.Task[None]:
        """Run ``coro`` in the background; the controller stops on the error of an ``essential`` one."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(t, name, essential))
        return task

    def _task_done(self, task: asyncio.Task[None], name: str, essential: bool) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        log.error("background task %sfailed", f"{name} " if name else "", exc_info=exc)
        if essential and self.fatal is None and not self.stopping.is_set():
            self.fatal = RuntimeError(f"{name} failed: {type(exc).__name__}: {exc}")
            self.stopping.set()

    # -- RPC dispatch -----------------------------------------------------------------------------
    async def dispatch(self, req: Request) -> Reply | None:
        if req.msg_type == REQUEST_FLURM_ADMIN:
            return await admin_rpc.handle(self, req)
        act = action(self.mode, req.msg_type)
        if act == Action.HOLD:
            act = await self._hold(req)
        if act == Action.FORWARD:
            assert self.forwarder is not None
            return await self.forwarder.forward(req)
        if act == Action.REFUSE:
            return rc_reply(SlurmRC.ESLURM_NOT_SUPPORTED)
        handler = self.handlers.get(req.msg_type)
        if handler is None:
            log.info("no handler for message type %s from %s", req.msg_type, req.peer)
            return rc_reply(SlurmRC.SLURM_UNEXPECTED_MSG_ERROR)
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
        result = scheduler.plan(self.cluster, now)
        for job in result.reasons_changed:
            self.cluster.job_changed(job)
        for decision in result.starts:
            job = decision.job
            if job.is_array_meta():
                job = self.jobs.split_task(job, job.array_task_pending.first())
            job.partition = decision.partition
            self.cluster.start_job(job, decision.alloc, now)
            if job.script is None:
                self.steps.allocation_granted(job)  # srun/salloc: no script, tell the client
            else:
                self.agent.launch_batch(job)
        self.scheduler_passes += 1
        self.last_schedule_duration = time.perf_counter() - started
        self._next_pass_at = asyncio.get_running_loop().time() + 2 * self.last_schedule_duration

    async def _ticker(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 1.0)
            if self.stopping.is_set():
                return
            now = self.now()
            if self.traits.schedules:
                self.jobs.time_limits(now)
                self.cluster.purge_finished(now)
            if self.traits.drives_nodes:
                self.agent.tick(now)
            self.schedule_soon()

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        loaded = self.store.open()
        saved_mode = loaded.meta.get("mode")
        if saved_mode == Mode.STANDALONE.value and self.mode != Mode.STANDALONE:
            # after a takeover flurm owns the cluster: never fall back to shadowing a stopped slurmctld
            log.warning("state in %s says flurm took over this cluster; starting standalone", self.state_dir)
            self.mode = Mode.STANDALONE
        self.cluster.restore(loaded)
        self.started_at = self.clock()
        if self.mode in (Mode.SHADOW, Mode.ROLLED_BACK):
            self._setup_migration()
        if self.mode == Mode.SHADOW:
            assert self.mirror is not None
            await self._first_import()
        await self.server.listen(self.listen_host, self.port)
        self._bound.append((self.listen_host, self.port))
        if self.mode == Mode.STANDALONE and loaded.meta.get("owns_controller_endpoint"):
            await self.listen_controller_endpoints()
        if self.api_settings is not None:
            await self._start_api(self.api_settings)
        self.spawn(self._ticker(), "ticker", essential=True)
        self._apply_traits()
        log.info(
            "flurm controller for cluster %s listening on %s:%s (state in %s)",
            self.config.cluster_name,
            self.listen_host,
            self.port,
            self.state_dir,
        )

    async def listen_controller_endpoints(self) -> None:
        """Listen where slurmctld listened (the SlurmctldHost entries on this host), as owner of the cluster.

        Running slurmstepd and slurmd send to SlurmctldHost:SlurmctldPort and never re-read slurm.conf,
        so after a takeover this is where they find flurm, also after a restart.
        """
        from flurm.migration.takeover import controller_endpoints

        local, _, _ = controller_endpoints(self)
        bound = {(h, p) for h, p in self._bound}
        for host, port in local:
            addr = self.listen_host if self.listen_host == "0.0.0.0" else socket.gethostbyname(host)
            if (addr, port) in bound or (port == self.port and self.listen_host == "0.0.0.0"):
                continue
            for attempt in range(500):
                try:
                    await self.server.listen(addr, port)
                    break
                except OSError:
                    if attempt == 499:
                        raise
                    await asyncio.sleep(0.01)  # slurmctld may still be closing its socket
            self._bound.append((addr, port))
        self.store.set_meta("owns_controller_endpoint", True)

    async def _start_api(self, settings: ApiSettings) -> None:
        from flurm.api.app import create_app, make_server
        from flurm.api.metrics import Metrics

        self.metrics = Metrics(self)
        self.server.on_request = self.metrics.observe_rpc
        server = make_server(create_app(self, settings, self.metrics), settings)
        self.api_server = server
        self._api_task = asyncio.ensure_future(server.serve())
        while not server.started:
            if self._api_task.done():
                self._api_task.result()  # raises the bind error
                raise OSError(f"HTTP API could not start on {settings.host}:{settings.port}")
            await asyncio.sleep(0.01)
        log.info(
            "HTTP API on http://%s:%s (operator token %s, JWTs %s)",
            settings.host,
            settings.port,
            "set" if settings.token else "not set",
            "accepted" if self.jwt is not None else "not accepted: no key",
        )

    async def internal_request(self, msg_type: int, body: Body, identity: Identity) -> Reply | None:
        """A request made inside flurm (HTTP API) on someone's behalf, through the same mode table."""
        raw = encode_body(body)
        frame = Frame(Header(msg_type, body_length=len(raw)), AUTH_PLUGIN_MUNGE, None, raw)
        try:
            return await self.dispatch(Request(msg_type, body, identity, frame, ("internal", 0)))
        except SlurmError as exc:
            return rc_reply(exc.rc, exc.message)

    def _setup_migration(self) -> None:
        self.source = SourceClient(self.config, self.signer)
        self.mirror = Mirror(self, self.source)
        self.forwarder = Forwarder(self, self.source)
        self.takeover = Takeover(self)

    async def _first_import(self, timeout: float = 60.0) -> None:
        """Import everything slurmctld knows before serving clients (retrying until it answers)."""
        assert self.mirror is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                counts = await self.mirror.sync(full=True)
            except (WireError, AuthError) as exc:  # it answers, in a way flurm cannot read or trust
                raise RuntimeError(f"cannot import from slurmctld: its answer is unusable: {exc}") from exc
            except (SourceUnreachable, OSError, TimeoutError) as exc:
                if loop.time() > deadline:
                    raise RuntimeError(f"slurmctld did not answer the import: {exc}") from None
                log.warning("waiting for slurmctld: %s", exc)
                await asyncio.sleep(1.0)
                continue
            log.info(
                "imported %d jobs, %d nodes, %d partitions from slurmctld in %.3f s",
                counts.jobs,
                counts.nodes,
                counts.partitions,
                counts.seconds,
            )
            return

    async def stop(self) -> None:
        self.stopping.set()
        self._mirror_stop.set()
        if self.api_server is not None:
            self.api_server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._api_task, 5.0)
        await self.server.stop(grace=5.0)
        await self.agent.stop()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5.0)
        await asyncio.get_running_loop().run_in_executor(None, self.store.close)
        self.signer.close()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        await self.start()
        try:
            await self.stopping.wait()
        finally:
            log.info("stopping")
            await self.stop()
        if self.fatal is not None:
            raise self.fatal
