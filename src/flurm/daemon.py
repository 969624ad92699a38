"""The one composition root: builds every room of flurm, wires them together, runs them.

The controller core (controller/) knows none of the rooms above it; here the node agent is attached
as its node driver, the migration admin RPC as an attached handler (local in every mode), the forwarder
as the FORWARD action, the mirror as a listener of mode changes, and the HTTP API and metrics beside
the RPC server. The rooms above the controller see this object through small interfaces
(:class:`~flurm.controller.ports.ControllerPort`, :class:`~flurm.migration.host.MigrationHost`).

Lifecycle (as hypercorn does it): signal handlers only set an event; :meth:`Daemon.run` starts
everything, waits for the event, then stops accepting, drains in-flight requests, and flushes the
store. A background task marked essential (the scheduler ticker) that fails stops the daemon, and
:meth:`run` raises its error (``flurm run`` exits 1); SIGTERM ends it normally (exit 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flurm.api.app import ApiSettings, create_app, make_server
from flurm.api.metrics import Metrics
from flurm.auth.authenticator import Authenticator, AuthError
from flurm.config.slurmconf import SlurmConfig
from flurm.controller.engine import Controller
from flurm.migration import admin_rpc, saved_state
from flurm.migration.forward import Forwarder
from flurm.migration.mirror import Mirror
from flurm.migration.source import SourceClient, SourceUnreachable
from flurm.migration.takeover import Takeover, controller_endpoints
from flurm.modes import Mode, ModeTraits, start_mode
from flurm.nodes.agent import NodeAgent
from flurm.protocol.messages.admin import REQUEST_FLURM_ADMIN
from flurm.protocol.wire import WireError
from flurm.rpc.transport import Reply, Request

log = logging.getLogger("flurm.controller")


class Daemon(Controller):
    """The controller core with every room wired around it: what ``flurm run`` runs."""

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
        super().__init__(
            config, auth, state_dir=state_dir, port=port, listen_host=listen_host, clock=clock, mode=mode
        )
        self.api_settings = api
        self.api_server: Any = None
        self.metrics: Metrics | None = None
        self.source: SourceClient | None = None
        self.mirror: Mirror | None = None
        self.forwarder: Forwarder | None = None
        self.takeover: Takeover | None = None
        self.node_agent = NodeAgent(self)
        self.node_agent.fetch_script = functools.partial(saved_state.fetch_script, self)
        self.agent = self.node_agent
        self.attached_handlers[REQUEST_FLURM_ADMIN] = self._admin
        self.mode_listeners.append(self._mirror_follows_mode)
        self._bound: list[tuple[str, int]] = []
        self._mirror_stop = asyncio.Event()
        self._mirror_stop.set()

    async def _admin(self, req: Request) -> Reply:
        return await admin_rpc.handle(self, req)

    def _mirror_follows_mode(self, traits: ModeTraits) -> None:
        if traits.mirrors and self.mirror is not None and self._mirror_stop.is_set():
            self._mirror_stop.clear()
            self.spawn(self.mirror.run(self._mirror_stop), "mirror")
        if not traits.mirrors:
            self._mirror_stop.set()

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        loaded = self.store.open()
        resumed = start_mode(self.mode, loaded.meta.get("mode"))
        if resumed != self.mode:
            # after a takeover flurm owns the cluster: never fall back to shadowing a stopped slurmctld
            log.warning("state in %s says flurm was %s; starting %s", self.state_dir, resumed, resumed)
            self.mode = resumed
        self.cluster.restore(loaded)
        self.started_at = self.clock()
        if self.traits.uses_source:
            self._setup_migration()
        if self.traits.mirrors:
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

    def _setup_migration(self) -> None:
        self.source = SourceClient(self.config, self.signer)
        self.mirror = Mirror(self, self.source)
        self.forwarder = Forwarder(self, self.source)
        self.forward = self.forwarder.forward
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
