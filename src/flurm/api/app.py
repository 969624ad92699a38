"""The HTTP API: an operator's view of flurm and the handles to drive it (docs/http-api.md).

Served by the controller process in its own event loop, so every handler reads the live state and
every write goes through the same code (and the same mode table) as a SLURM client's request.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import pwd
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from flurm import __version__
from flurm.api.metrics import Metrics
from flurm.api.views import job_view, node_view, partition_view
from flurm.auth.authenticator import Identity
from flurm.config.timefmt import TimeFormatError, parse_time_minutes
from flurm.controller.jobs import parse_job_id
from flurm.errors import SlurmError
from flurm.migration import admin_rpc
from flurm.migration.modes import POLICY, TRANSITIONS, Mode, TransitionError
from flurm.protocol.constants import INFINITE, NO_VAL, JobFlag, MsgType, NodeState, slurm_strerror
from flurm.protocol.messages.common import ReturnCode, ReturnCodeMsg
from flurm.protocol.messages.job_control import SubmitBatchJobResponse
from flurm.protocol.messages.job_desc import JobDesc

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

log = logging.getLogger("flurm.api")
SOURCE_MAX_AGE = 5.0  # seconds: an older mirror is unhealthy


@dataclass(frozen=True, slots=True)
class ApiSettings:
    host: str = "0.0.0.0"
    port: int = 8080
    token: str | None = None
    read_auth: bool = False
    user: str | None = None  # who POST /api/jobs submits as by default (None: SlurmUser)

    @classmethod
    def load(
        cls, host: str, port: int, token_file: str | None, read_auth: bool, user: str | None
    ) -> ApiSettings:
        token = os.environ.get("FLURM_API_TOKEN") or None
        if token_file:
            lines = Path(token_file).read_text().splitlines()
            token = lines[0].strip() if lines and lines[0].strip() else None
        return cls(host, port, token, read_auth, user)


class ApiError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class JobSubmission(BaseModel):
    script: str = Field(description="the batch script; a '#!/bin/sh' line is added when it has none")
    name: str | None = None
    partition: str | None = None
    time_limit: str | int | None = Field(
        None, description="minutes, or a SLURM time like 1:00:00 or 1-00:00:00"
    )
    nodes: int | None = Field(None, ge=1)
    ntasks: int | None = Field(None, ge=1)
    cpus_per_task: int | None = Field(None, ge=1)
    memory_mb: int | None = Field(None, ge=1)
    work_dir: str | None = None
    output: str | None = None
    error: str | None = None
    environment: dict[str, str] | None = None
    user: str | None = Field(None, description="run as this user (name or uid); default: the API's user")
    hold: bool = False


class ModeChange(BaseModel):
    mode: str


class TakeoverRequest(BaseModel):
    dry_run: bool = False


def create_app(ctl: Controller, settings: ApiSettings, metrics: Metrics) -> FastAPI:
    app = FastAPI(
        title="flurm",
        version=__version__,
        description="The operator's view of flurm: health, metrics, jobs, nodes, partitions, import, mode.",
    )

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.reason}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "invalid request", "details": exc.errors()}, status_code=422)

    @app.middleware("http")
    async def _count(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "other")
        metrics.http_total.labels(path, str(response.status_code)).inc()
        return response

    def _check_token(authorization: str | None) -> None:
        if settings.token is None:
            raise ApiError(403, "writes are disabled: no API token is configured (FLURM_API_TOKEN)")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), settings.token):
            raise ApiError(401, "a valid bearer token is required")

    def write_auth(authorization: Annotated[str | None, Header()] = None) -> None:
        _check_token(authorization)

    def read_auth(authorization: Annotated[str | None, Header()] = None) -> None:
        if settings.read_auth:
            _check_token(authorization)

    Read = Depends(read_auth)
    Write = Depends(write_auth)

    @app.get("/health", dependencies=[Read])
    async def health() -> JSONResponse:
        doc = await health_report(ctl)
        return JSONResponse(doc, status_code=200 if doc["status"] == "healthy" else 503)

    @app.get("/metrics", dependencies=[Read])
    async def prometheus() -> Response:
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/jobs", dependencies=[Read])
    async def list_jobs(
        state: str | None = None,
        user: str | None = None,
        partition: str | None = None,
        name: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        states = {s.strip().upper() for s in state.split(",")} if state else None
        views = []
        for job in ctl.cluster.jobs.values():
            view = job_view(job, ctl.cluster)
            if states and view["state"] not in states:
                continue
            if user and user not in (view["user"], str(view["uid"])):
                continue
            if partition and partition not in job.partition.split(","):
                continue
            if name and view["name"] != name:
                continue
            views.append(view)
        return {"jobs": views[offset : offset + limit], "total": len(views), "limit": limit, "offset": offset}

    @app.get("/api/jobs/{job_id}", dependencies=[Read])
    async def get_job(job_id: str) -> dict[str, Any]:
        try:
            target = parse_job_id(job_id, ctl.config.max_array_size)
        except SlurmError:
            raise ApiError(404, f"no job {job_id}") from None
        jobs = ctl.jobs.records_for(target)
        if not jobs:
            raise ApiError(404, f"no job {job_id}")
        if len(jobs) == 1:
            return job_view(jobs[0], ctl.cluster)
        return {"jobs": [job_view(j, ctl.cluster) for j in jobs]}

    @app.post("/api/jobs", status_code=201, dependencies=[Write])
    async def submit(sub: JobSubmission) -> dict[str, Any]:
        return await submit_job(ctl, settings, sub)

    @app.get("/api/nodes", dependencies=[Read])
    async def list_nodes() -> dict[str, Any]:
        return {"nodes": [node_view(n) for n in ctl.cluster.node_list]}

    @app.get("/api/partitions", dependencies=[Read])
    async def list_partitions() -> dict[str, Any]:
        return {"partitions": [partition_view(p, ctl.cluster) for p in ctl.cluster.partitions.values()]}

    @app.post("/api/import", dependencies=[Write])
    async def trigger_import() -> dict[str, Any]:
        if ctl.mirror is None:
            raise ApiError(409, f"flurm is {ctl.mode}: there is no SLURM source to import from")
        try:
            counts = await ctl.mirror.sync(full=True)
        except Exception as exc:
            raise ApiError(503, f"import failed: {exc}") from None
        return asdict(counts)

    @app.get("/api/mode", dependencies=[Read])
    async def get_mode() -> dict[str, Any]:
        return mode_report(ctl)

    @app.put("/api/mode", dependencies=[Write])
    async def put_mode(change: ModeChange) -> dict[str, Any]:
        try:
            doc = await admin_rpc.set_mode(ctl, change.mode)
        except TransitionError as exc:
            raise ApiError(409, str(exc)) from None
        if not doc.get("ok"):
            raise ApiError(409, str(doc.get("error")))
        return mode_report(ctl)

    @app.post("/api/takeover", dependencies=[Write])
    async def takeover(req: TakeoverRequest | None = None) -> JSONResponse:
        if ctl.takeover is None:
            raise ApiError(409, f"flurm is {ctl.mode}: there is nothing to take over")
        if ctl.takeover.running:
            raise ApiError(409, "a takeover is already running")
        result = await ctl.takeover.run(dry_run=bool(req and req.dry_run))
        doc = {
            "result": result.to_dict(),
            "events": [asdict(e) for e in ctl.takeover.events],
            "mode": ctl.mode.value,
        }
        return JSONResponse(doc, status_code=200 if result.ok else 409)

    @app.post("/api/rollback", dependencies=[Write])
    async def rollback() -> dict[str, Any]:
        try:
            return await admin_rpc.rollback(ctl)
        except TransitionError as exc:
            raise ApiError(409, str(exc)) from None

    return app


def mode_report(ctl: Controller) -> dict[str, Any]:
    return {
        "mode": ctl.mode.value,
        "transitions": [
            {"to": b.value, "guards": [g.value for g in guards]}
            for (a, b), guards in TRANSITIONS.items()
            if a == ctl.mode
        ],
        "policy": {m.value: {op.value: act.value for op, act in POLICY[m].items()} for m in Mode},
    }


async def health_report(ctl: Controller) -> dict[str, Any]:
    """Checked now, every time: no cached or static answer."""
    reasons: list[str] = []
    doc: dict[str, Any] = {"mode": ctl.mode.value, "version": __version__}
    if ctl.source is not None and ctl.mode in (Mode.SHADOW, Mode.ROLLED_BACK, Mode.SWITCHING):
        reachable = await ctl.source.ping()
        age = ctl.mirror.age() if ctl.mirror is not None else None
        doc["source"] = {"reachable": reachable, "last_sync_age_seconds": age}
        if not reachable:
            reasons.append("slurmctld (the SLURM source) is not reachable")
        if ctl.mode == Mode.SHADOW and (age is None or age > SOURCE_MAX_AGE):
            reasons.append(f"mirror is stale: last sync {'never' if age is None else f'{age:.1f} s ago'}")
    nodes = ctl.cluster.node_list
    down = [n for n in nodes if n.base_state in (NodeState.DOWN, NodeState.UNKNOWN) or not n.is_responding()]
    doc["nodes"] = {"total": len(nodes), "up": len(nodes) - len(down), "down": len(down)}
    if ctl.mode == Mode.STANDALONE and nodes and len(down) == len(nodes):
        reasons.append("no node is up")
    writable = ctl.store.writable()
    doc["store"] = {"writable": writable}
    if not writable:
        reasons.append(f"store is not writable: {ctl.store.last_error or 'closed'}")
    doc["status"] = "unhealthy" if reasons else "healthy"
    doc["reasons"] = reasons
    return doc


def _user_identity(name: str | None, ctl: Controller) -> Identity:
    if name is None:
        return Identity(ctl.config.slurm_user_uid, _gid_of_uid(ctl.config.slurm_user_uid))
    try:
        pw = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except (KeyError, ValueError):
        raise ApiError(422, f"unknown user {name!r}") from None
    return Identity(pw.pw_uid, pw.pw_gid)


def _gid_of_uid(uid: int) -> int:
    try:
        return pwd.getpwuid(uid).pw_gid
    except KeyError:
        return uid


def job_desc_from(sub: JobSubmission, ident: Identity) -> JobDesc:
    """The job description sbatch would send for these options."""
    script = sub.script if sub.script.startswith("#!") else "#!/bin/sh\n" + sub.script
    try:
        home = pwd.getpwuid(ident.uid).pw_dir
    except KeyError:
        home = "/tmp"
    work_dir = sub.work_dir or home or "/tmp"
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home or "/", **(sub.environment or {})}
    env.setdefault("SLURM_SUBMIT_DIR", work_dir)
    time_limit = NO_VAL
    if sub.time_limit is not None:
        try:
            minutes = parse_time_minutes(str(sub.time_limit))
        except TimeFormatError as exc:
            raise ApiError(422, f"invalid time_limit: {exc}") from None
        time_limit = INFINITE if minutes is None else minutes
    tasks = sub.ntasks
    cpt = sub.cpus_per_task
    bitflags = 0x1E000000 if not sub.partition else 0x1A000000  # USE_DEFAULT_ACCT/PART/QOS/WCKEY, like sbatch
    if tasks:
        bitflags |= JobFlag.JOB_NTASKS_SET
    if cpt:
        bitflags |= JobFlag.JOB_CPUS_SET
    min_cpus = (tasks or 1) * (cpt or 1)

    def absolute(path: str | None) -> str | None:
        if path is None:
            return None
        return path if path.startswith("/") else os.path.join(work_dir, path)

    return JobDesc(
        name=sub.name or "api",
        partition=sub.partition,
        time_limit=time_limit,
        min_nodes=sub.nodes if sub.nodes else NO_VAL,
        max_nodes=sub.nodes if sub.nodes else NO_VAL,
        num_tasks=tasks if tasks else NO_VAL,
        cpus_per_task=cpt if cpt else 0xFFFE,
        pn_min_cpus=cpt if cpt else 0xFFFE,
        min_cpus=min_cpus,
        pn_min_memory=sub.memory_mb if sub.memory_mb else 0xFFFFFFFFFFFFFFFE,
        script=script,
        environment=tuple(f"{k}={v}" for k, v in env.items()),
        work_dir=work_dir,
        std_in="/dev/null",
        std_out=absolute(sub.output),
        std_err=absolute(sub.error),
        user_id=ident.uid,
        group_id=ident.gid,
        task_dist=0x2000,
        contiguous=0,
        mem_bind_type=0,
        mail_type=0,
        open_mode=0,
        priority=0 if sub.hold else NO_VAL,
        bitflags=bitflags,
        submit_line="flurm HTTP API",
    )


async def submit_job(ctl: Controller, settings: ApiSettings, sub: JobSubmission) -> dict[str, Any]:
    ident = _user_identity(sub.user or settings.user, ctl)
    desc = job_desc_from(sub, ident)
    reply = await ctl.internal_request(MsgType.REQUEST_SUBMIT_BATCH_JOB, desc, ident)
    body = reply.decoded() if reply is not None else None
    if isinstance(body, SubmitBatchJobResponse):
        return {"id": body.job_id}
    if isinstance(body, ReturnCodeMsg):
        text = slurm_strerror(body.rc)
        raise ApiError(422, f"{body.message}: {text}" if body.message else text)
    if isinstance(body, ReturnCode):
        raise ApiError(422, slurm_strerror(body.rc))
    raise ApiError(500, "unexpected reply to the submission")


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside the controller's loop: the controller owns the signals, not uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_server(app: FastAPI, settings: ApiSettings) -> EmbeddedServer:
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        loop="none",
    )
    return EmbeddedServer(config)
