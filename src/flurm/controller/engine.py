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
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from flurm.auth.authenticator import Authenticator
from flurm.config.slurmconf import SlurmConfig
from flurm.controller.jobs import JobOps
from flurm.controller.transport import Reply, Request, RpcServer, Signer, rc_reply
from flurm.nodes.agent import NodeAgent
from flurm.protocol.constants import SlurmRC
from flurm.scheduler import scheduler
from flurm.state.cluster import Cluster
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
    ) -> None:
        self.config = config
        self.clock = clock
        self.state_dir = Path(state_dir or config.state_save_location)
        self.port = port if port is not None else config.slurmctld_port
        self.listen_host = listen_host
        self.signer = Signer(auth)
        self.store = Store(self.state_dir / "flurm.sqlite")
        self.cluster = Cluster(config, self.store, clock)
        self.jobs = JobOps(self)
        self.agent = NodeAgent(self)
        self.server = RpcServer(self.dispatch, self.signer, message_timeout=float(config.message_timeout))
        self.started_at = 0.0
        self.stopping = asyncio.Event()
        self._schedule_pending = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.scheduler_passes = 0
        self.last_schedule_duration = 0.0
        from flurm.controller.handlers import HANDLERS

        self.handlers = HANDLERS

    # -- helpers ----------------------------------------------------------------------------------
    def now(self) -> int:
        return int(self.clock())

    def is_admin(self, uid: int) -> bool:
        return uid == 0 or uid == self.config.slurm_user_uid

    def gate(self, operation: str) -> None:
        """Refuse a write the current mode does not allow (the mode machine comes with shadow mode)."""
        return None

    async def durable(self) -> None:
        """Wait until every change made so far is on disk."""
        await self.store.commit()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str = "") -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    # -- RPC dispatch -----------------------------------------------------------------------------
    async def dispatch(self, req: Request) -> Reply | None:
        handler = self.handlers.get(req.msg_type)
        if handler is None:
            log.info("no handler for message type %s from %s", req.msg_type, req.peer)
            return rc_reply(SlurmRC.SLURM_UNEXPECTED_MSG_ERROR)
        result = handler(self, req)
        if asyncio.iscoroutine(result):
            result = await result
        assert result is None or isinstance(result, Reply)
        return result

    # -- scheduling -------------------------------------------------------------------------------
    def schedule_soon(self) -> None:
        if self._schedule_pending:
            return
        self._schedule_pending = True
        asyncio.get_running_loop().call_soon(self._schedule_pass)

    def _schedule_pass(self) -> None:
        self._schedule_pending = False
        started = time.perf_counter()
        now = self.now()
        for job in scheduler.refresh_dependencies(self.cluster):
            self.cluster.job_changed(job)
        result = scheduler.plan(self.cluster, now)
        for job in result.reasons_changed:
            self.cluster.job_changed(job)
        for decision in result.starts:
            job = decision.job
            if job.is_array_meta():
                job = self.jobs.split_task(job, job.array_task_pending[0])
            job.partition = decision.partition
            self.cluster.start_job(job, decision.alloc, now)
            self.agent.launch_batch(job)
        self.scheduler_passes += 1
        self.last_schedule_duration = time.perf_counter() - started

    async def _ticker(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 1.0)
            if self.stopping.is_set():
                return
            now = self.now()
            self.jobs.time_limits(now)
            self.cluster.purge_finished(now)
            self.agent.tick(now)
            self.schedule_soon()

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        loaded = self.store.open()
        self.cluster.restore(loaded)
        self.started_at = self.clock()
        await self.server.listen(self.listen_host, self.port)
        self.spawn(self._ticker(), "ticker")
        self.agent.start()
        self.schedule_soon()
        log.info(
            "flurm controller for cluster %s listening on %s:%s (state in %s)",
            self.config.cluster_name,
            self.listen_host,
            self.port,
            self.state_dir,
        )

    async def stop(self) -> None:
        self.stopping.set()
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
