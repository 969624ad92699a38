"""The one composition root: builds every room of flurm, wires them together, runs them.

:class:`Daemon` *has* the controller core (controller/), which knows none of the rooms above it;
here the node agent is attached as its node driver, the migration admin RPC as an attached handler
(local in every mode), the forwarder as the FORWARD action, and the mirror follows the mode. The
rooms above the controller are given what they use at construction: the controller's port
(:class:`~flurm.controller.ports.ControllerPort`) and the migration's pieces
(:class:`~flurm.migration.host.Migration`), never this object.

Lifecycle (as hypercorn does it): signal handlers only set an event; :meth:`Daemon.run` runs every
long-lived part (the scheduler ticker, the mirror, the HTTP API) in one task group. On SIGTERM or
SIGINT it stops accepting on both ports, lets in-flight requests finish (``grace`` seconds at most),
cancels what still runs, and flushes the store. Any part that fails ends the group: :meth:`run`
raises that error (``flurm run`` logs one ``fatal:`` line and exits 1); SIGTERM ends it normally.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import socket
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flurm.accounting import resv_records
from flurm.accounting import sink as dbd_sink
from flurm.accounting.enforcement import Enforcement
from flurm.accounting.fairshare import CachePriorityInputs
from flurm.auth.authenticator import Authenticator, AuthError
from flurm.auth.configure import sack_enabled
from flurm.auth.sack import SLURMCTLD_SACK_SOCKET, SackServer
from flurm.auth.slurm_auth import SlurmAuthenticator
from flurm.config.slurmconf import SlurmConfig
from flurm.controller.engine import Controller
from flurm.controller.priority import USAGE_META
from flurm.errors import FlurmError
from flurm.migration import admin_rpc, saved_state
from flurm.migration.forward import Forwarder
from flurm.migration.host import Migration
from flurm.migration.mirror import Mirror
from flurm.migration.source import SourceClient, SourceUnreachable, UnsupportedSource
from flurm.migration.takeover import Takeover, controller_endpoints
from flurm.modes import Mode, ModeTraits, start_mode
from flurm.nodes.agent import NodeAgent
from flurm.protocol.constants import AUTH_PLUGIN_SLURM, SlurmRC
from flurm.protocol.messages.admin import REQUEST_FLURM_ADMIN
from flurm.protocol.wire import WireError
from flurm.rpc.transport import Reply, Request

if TYPE_CHECKING:  # the API (FastAPI, pydantic: ~18 MB) is imported only when it is served
    from flurm.api.app import ApiSettings, EmbeddedServer
    from flurm.api.metrics import Metrics

log = logging.getLogger("flurm.controller")


GRACE = 5.0  # seconds in-flight requests may take to finish at shutdown


class _ShutdownRequested(FlurmError):
    """Ends the task group once SIGTERM or SIGINT was handled (hypercorn's ShutdownError): a normal end."""

    rc = SlurmRC.SLURM_SUCCESS


class Daemon:
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
        grace: float = GRACE,
        sack_socket: str | None = None,
    ) -> None:
        self.controller = ctl = Controller(
            config, auth, state_dir=state_dir, port=port, listen_host=listen_host, clock=clock, mode=mode
        )
        self.grace = grace
        self.api_settings = api
        self.api_server: EmbeddedServer | None = None
        self._api_task: asyncio.Task[None] | None = None
        self.metrics: Metrics | None = None
        self.migration: Migration | None = None  # built at start when the mode follows a slurmctld
        self.node_agent = NodeAgent(ctl)
        self.node_agent.fetch_script = functools.partial(saved_state.fetch_script, ctl)
        ctl.agent = self.node_agent
        ctl.attached_handlers[REQUEST_FLURM_ADMIN] = self._admin
        ctl.mode_listeners.append(self._mirror_follows_mode)
        self.accounting: dbd_sink.DbdAccounting | None = None
        if dbd_sink.wanted(config.accounting_storage_type):
            # the associations come over the same connection: AccountingStorageEnforce's rules, the jobs'
            # default account and QOS even when nothing is enforced (as slurmctld's), and
            # priority/multifactor's fair share and QOS factors (only that plugin reads them)
            enforcement = Enforcement(config)
            ctl.acct_policy = enforcement
            ctl.priority.inputs = CachePriorityInputs(enforcement.cache)
            self.accounting = dbd_sink.DbdAccounting(
                ctl, assocs=enforcement, job_ids=enforcement.job_ids, tres_cache=enforcement.cache
            )
            # a reservation's associations, which slurmdbd charges its idle time to (sreport)
            self.accounting.resv_assocs_of = functools.partial(resv_records.assocs, cache=enforcement.cache)
            ctl.accounting = self.accounting
            ctl.mode_listeners.append(self.accounting.follow_mode)
        self._bound: list[tuple[str, int]] = []
        self._mirror_stop = asyncio.Event()
        self._mirror_stop.set()
        self._stop_requested = ctl.stop_requested  # SIGTERM, SIGINT, scontrol shutdown
        self.sack: SackServer | None = self._sack_server(auth, sack_socket, mode)

    def _sack_server(self, auth: Authenticator, path: str | None, mode: Mode) -> SackServer | None:
        """slurmctld's sack socket, where auth/slurm clients of this host get their credentials: served
        when auth/slurm is loaded and AuthInfo does not say disable_sack. Beside a slurmctld (a mode that
        follows one) only at a path given: the default path is that slurmctld's own."""
        config = self.controller.config
        if not sack_enabled(config) or (path is None and mode != Mode.STANDALONE):
            return None
        try:
            slurm_auth = auth.select(AUTH_PLUGIN_SLURM)
        except AuthError:
            return None
        if not isinstance(slurm_auth, SlurmAuthenticator):
            return None
        return SackServer(slurm_auth, path or SLURMCTLD_SACK_SOCKET, slurm_user_uid=config.slurm_user_uid)

    def _sack_after_takeover(self) -> SackServer | None:
        """slurmctld's sack socket at its own path, for the takeover to start once slurmctld is gone; the
        daemon closes it at the end. None: the site has no auth/slurm, or a sack socket is served already."""
        if self.sack is not None:
            return None
        self.sack = self._sack_server(self.controller.signer.auth, None, Mode.STANDALONE)
        return self.sack

    async def _admin(self, req: Request) -> Reply:
        return await admin_rpc.handle(self.controller, self.migration, req)

    def _mirror_follows_mode(self, traits: ModeTraits) -> None:
        if not traits.mirrors:
            self._mirror_stop.set()

    # -- lifecycle --------------------------------------------------------------------------------
    async def run(self) -> None:
        """Run until SIGTERM or SIGINT (then return), or until a part fails (then raise its error)."""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)
        for sig in signals:
            loop.add_signal_handler(sig, self._stop_requested.set)
        fatal: BaseException | None = None
        try:
            async with asyncio.TaskGroup() as group:
                await self._start(group)
                group.create_task(self._shutdown_when_requested())
        except BaseExceptionGroup as failed:
            fatal = _first_failure(failed)
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            await self._close()
        if fatal is not None:
            raise fatal

    def request_stop(self) -> None:
        """What SIGTERM does: a normal shutdown."""
        self._stop_requested.set()

    async def _start(self, group: asyncio.TaskGroup) -> None:
        ctl = self.controller
        loaded = ctl.store.open()
        resumed = start_mode(ctl.mode, loaded.meta.get("mode"))
        if resumed != ctl.mode:
            # after a takeover flurm owns the cluster: never fall back to shadowing a stopped slurmctld
            log.warning("state in %s says flurm was %s; starting %s", ctl.state_dir, resumed, resumed)
            ctl.mode = resumed
        ctl.cluster.restore(loaded)
        ctl.priority.restore(loaded.meta.get(USAGE_META))  # fair share's usage (slurmctld's assoc_usage)
        ctl.started_at = ctl.clock()
        if self.accounting is not None:
            self.accounting.restore(loaded.dbd_spool)
            group.create_task(self._essential("accounting", self.accounting.run(ctl.stopping)))
        if ctl.traits.uses_source:
            self.migration = self._build_migration()
            group.create_task(self._essential("mirror", self._mirror_while_mode_says(self.migration.mirror)))
        if ctl.traits.mirrors:
            await self._first_import()
        if self.sack is not None:
            await self.sack.start()
        await self._first_accounting_contact()
        await ctl.server.listen(ctl.listen_host, ctl.port)
        self._bound.append((ctl.listen_host, ctl.port))
        if ctl.mode == Mode.STANDALONE and loaded.meta.get("owns_controller_endpoint"):
            await self.listen_controller_endpoints()
        if self.api_settings is not None:
            await self._start_api(self.api_settings, group)
        group.create_task(self._essential("ticker", ctl.ticker()))
        ctl.apply_traits()
        log.info(
            "flurm controller for cluster %s listening on %s:%s (state in %s)",
            ctl.config.cluster_name,
            ctl.listen_host,
            ctl.port,
            ctl.state_dir,
        )

    async def _first_accounting_contact(self) -> None:
        """When flurm records into slurmdbd, its first connection before the first client: slurmctld loads
        the associations (a job's default account and QOS, the limits) before it listens. A slurmdbd that
        cannot be reached does not hold flurm up: the records wait in the spool."""
        ctl = self.controller
        if self.accounting is None or not ctl.traits.feeds_accounting:
            return
        self.accounting.follow_mode(ctl.traits)
        client = self.accounting.client
        try:
            await asyncio.wait_for(client.settled.wait(), client.settings.timeout)
        except TimeoutError:
            log.warning(
                "slurmdbd did not answer in %.0f s: serving without its associations", client.settings.timeout
            )

    async def _essential(self, name: str, part: Coroutine[Any, Any, None]) -> None:
        """A long-lived part: its failure, or its end before shutdown, ends the daemon."""
        try:
            await part
        except Exception as exc:
            log.error("%s failed", name, exc_info=exc)
            if self.controller.stopping.is_set():
                return  # the shutdown goes on: SIGTERM still ends the daemon normally
            raise RuntimeError(f"{name} failed: {type(exc).__name__}: {exc}") from exc
        if not self.controller.stopping.is_set():
            raise RuntimeError(f"{name} ended by itself")

    async def _shutdown_when_requested(self) -> None:
        await self._stop_requested.wait()
        log.info("stopping")
        self.controller.stopping.set()  # the ticker and the node agent stop
        self._mirror_stop.set()
        await asyncio.gather(self.controller.server.stop(grace=self.grace), self._stop_api())
        raise _ShutdownRequested  # the task group cancels what still runs

    async def _stop_api(self) -> None:
        """Stop accepting HTTP requests and let the ones being served finish, ``grace`` seconds at most."""
        if self.api_server is None or self._api_task is None:
            return
        self.api_server.should_exit = True  # uvicorn polls it every 0.1 s
        await asyncio.wait({self._api_task}, timeout=self.grace)

    async def _close(self) -> None:
        """After the task group: nothing is served any more; flush the store."""
        ctl = self.controller
        ctl.stopping.set()
        self._mirror_stop.set()
        await ctl.server.stop(grace=self.grace)  # a failed part: in-flight requests still finish
        if self.sack is not None:
            await self.sack.close()
        if self.api_server is not None:
            for server in self.api_server.servers:  # cancelled before its own shutdown closed them
                server.close()
        await self.node_agent.stop()
        await ctl.cancel_background()
        await asyncio.get_running_loop().run_in_executor(None, ctl.store.close)
        ctl.signer.close()

    async def _mirror_while_mode_says(self, mirror: Mirror) -> None:
        """Mirror slurmctld whenever the mode says so (shadow; again after a takeover that failed)."""
        ctl = self.controller
        while not ctl.stopping.is_set():
            async with ctl.mode_changed:
                await ctl.mode_changed.wait_for(lambda: ctl.traits.mirrors or ctl.stopping.is_set())
            if ctl.stopping.is_set():
                return
            self._mirror_stop = stop = asyncio.Event()
            await mirror.run(stop)

    async def listen_controller_endpoints(self) -> None:
        """Listen where slurmctld listened (the SlurmctldHost entries on this host), as owner of the cluster.

        Running slurmstepd and slurmd send to SlurmctldHost:SlurmctldPort and never re-read slurm.conf,
        so after a takeover this is where they find flurm, also after a restart.
        """
        ctl = self.controller
        local, _, _ = controller_endpoints(ctl.config)
        bound = {(h, p) for h, p in self._bound}
        for host, port in local:
            addr = ctl.listen_host if ctl.listen_host == "0.0.0.0" else socket.gethostbyname(host)
            if (addr, port) in bound or (port == ctl.port and ctl.listen_host == "0.0.0.0"):
                continue
            for attempt in range(500):
                try:
                    await ctl.server.listen(addr, port)
                    break
                except OSError:
                    if attempt == 499:
                        raise
                    await asyncio.sleep(0.01)  # slurmctld may still be closing its socket
            self._bound.append((addr, port))
        if self.accounting is not None and local:
            # slurmdbd is told slurmctld's port, as slurmctld registers it when it starts again
            self.accounting.register_port = local[0][1]
        ctl.store.set_meta("owns_controller_endpoint", True)

    async def _start_api(self, settings: ApiSettings, group: asyncio.TaskGroup) -> None:
        ctl = self.controller
        from flurm.api.app import create_app, make_server
        from flurm.api.metrics import Metrics

        self.metrics = Metrics(ctl, self.migration)
        ctl.server.on_request = _both(ctl.diag.observe_rpc, self.metrics.observe_rpc)
        server = make_server(create_app(ctl, self.migration, settings, self.metrics), settings)
        self.api_server = server
        self._api_task = task = group.create_task(
            self._essential("HTTP API", self._serve_api(server, settings))
        )
        while not server.started:
            if task.done():
                task.result()  # raises the bind error
            await asyncio.sleep(0.01)
        log.info(
            "HTTP API on http://%s:%s (operator token %s, JWTs %s)",
            settings.host,
            settings.port,
            "set" if settings.token else "not set",
            "accepted" if ctl.jwt is not None else "not accepted: no key",
        )

    @staticmethod
    async def _serve_api(server: EmbeddedServer, settings: ApiSettings) -> None:
        try:
            await server.serve()
        except SystemExit:  # uvicorn's answer to a port it cannot bind (it logged why)
            raise OSError(f"HTTP API could not start on {settings.host}:{settings.port}") from None

    def _build_migration(self) -> Migration:
        ctl = self.controller
        source = SourceClient(ctl.config, ctl.signer)
        mirror = Mirror(ctl, source)
        forwarder = Forwarder(ctl, source, mirror)
        ctl.forward = forwarder.forward
        takeover = Takeover(
            ctl,
            source,
            mirror,
            self.listen_controller_endpoints,
            self._sack_after_takeover,
            accounting=self.accounting,
        )
        return Migration(source, mirror, forwarder, takeover)

    async def _first_import(self, timeout: float = 60.0) -> None:
        """Import everything slurmctld knows before serving clients (retrying until it answers)."""
        assert self.migration is not None
        mirror = self.migration.mirror
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                counts = await mirror.sync(full=True)
            except (WireError, AuthError) as exc:  # it answers, in a way flurm cannot read or trust
                raise RuntimeError(f"cannot import from slurmctld: its answer is unusable: {exc}") from exc
            except UnsupportedSource as exc:  # it answers, in a release flurm does not serve
                raise RuntimeError(f"cannot import from slurmctld: {exc}") from exc
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


def _both(
    first: Callable[[int, int, float, bool], None], second: Callable[[int, int, float, bool], None]
) -> Callable[[int, int, float, bool], None]:
    """One ``on_request`` hook that reports to two observers (sdiag's counters and the metrics)."""

    def observe(msg_type: int, uid: int, seconds: float, ok: bool) -> None:
        first(msg_type, uid, seconds, ok)
        second(msg_type, uid, seconds, ok)

    return observe


def _first_failure(group: BaseExceptionGroup) -> BaseException | None:
    """The error that ended the task group; None when it was a requested shutdown."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            inner = _first_failure(exc)
            if inner is not None:
                return inner
        elif not isinstance(exc, _ShutdownRequested):
            return exc
    return None
