"""The HTTP API: an operator's view of flurm and the handles to drive it (docs/http-api.md).

Served by the controller process in its own event loop, so every handler reads the live state and
every write goes through the same code (and the same mode table) as a SLURM client's request.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pwd
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from flurm import __version__
from flurm.api.guard import Credentials, Principal, RequestGuard, lookup_uid, request_principal
from flurm.api.metrics import Metrics
from flurm.api.views import job_view, node_view, partition_view
from flurm.auth.authenticator import Identity
from flurm.config.timefmt import TimeFormatError, parse_time_minutes
from flurm.errors import FlurmError, SlurmError
from flurm.migration import admin_rpc
from flurm.modes import POLICY, TRAITS, TRANSITIONS, HealthCheck, Mode, TransitionError
from flurm.protocol.constants import INFINITE, NO_VAL, JobFlag, MsgType, NodeState, slurm_strerror
from flurm.protocol.messages.common import ReturnCode, ReturnCodeMsg
from flurm.protocol.messages.job_control import SubmitBatchJobResponse
from flurm.protocol.messages.job_desc import JobDesc
from flurm.state.jobids import parse_job_id

if TYPE_CHECKING:
    from flurm.controller.ports import ControllerPort
    from flurm.migration.host import Migration

log = logging.getLogger("flurm.api")
SOURCE_MAX_AGE = 5.0  # seconds: an older mirror is unhealthy
U16_MAX_VALUE = 0xFFFD  # below SLURM's NO_VAL16 / INFINITE16 sentinels
U32_MAX_VALUE = 0xFFFFFFFD  # below NO_VAL / INFINITE
MEMORY_MAX_MB = (1 << 63) - 1  # the top bit of pn_min_memory means "per CPU"


@dataclass(frozen=True, slots=True)
class ApiSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None  # the static operator token (migration endpoints); jobs need a JWT
    read_auth: bool = False

    @classmethod
    def load(cls, host: str, port: int, token_file: str | None, read_auth: bool) -> ApiSettings:
        token = os.environ.get("FLURM_API_TOKEN") or None
        if token_file:
            lines = Path(token_file).read_text().splitlines()
            token = lines[0].strip() if lines and lines[0].strip() else None
        return cls(host, port, token, read_auth)


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: names read off the wire may hold undecodable bytes (surrogates)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()


class ApiError(FlurmError):
    """A request refused with an HTTP ``status``."""

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
    nodes: int | None = Field(None, ge=1, le=U32_MAX_VALUE)
    ntasks: int | None = Field(None, ge=1, le=U32_MAX_VALUE)
    cpus_per_task: int | None = Field(None, ge=1, le=U16_MAX_VALUE)
    memory_mb: int | None = Field(None, ge=1, le=MEMORY_MAX_MB)
    work_dir: str | None = None
    output: str | None = None
    error: str | None = None
    environment: dict[str, str] | None = None
    user: str | None = Field(
        None,
        description="run as this user (name or uid); default, and the only choice unless root or SlurmUser: "
        "the token's user",
    )
    hold: bool = False

    @model_validator(mode="after")
    def _encodable(self) -> JobSubmission:
        """Every text must reach the wire (as UTF-8): a lone surrogate from a JSON escape cannot."""
        texts = [v for v in (self.script, self.name, self.partition, self.work_dir, self.output) if v]
        texts += [v for v in (self.error, self.user, str(self.time_limit)) if v]
        texts += [t for item in (self.environment or {}).items() for t in item]
        for text in texts:
            try:
                text.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                raise ValueError("a string holds an unpaired surrogate") from None
        return self


class ModeChange(BaseModel):
    mode: str


class TakeoverRequest(BaseModel):
    dry_run: bool = False
    allow_unsupported: bool = False  # take over although the pre-flight lists unsupported things


# Dependencies (module level: FastAPI resolves the annotations in the module's namespace).
def principal(request: Request) -> Principal | None:
    return request_principal(request.scope)


def operator(who: Annotated[Principal | None, Depends(principal)]) -> None:
    if who is None:
        raise ApiError(401, "a credential is required")
    if not who.operator:
        raise ApiError(403, f"user {who.name} is not an operator (root or SlurmUser)")


def submitter(who: Annotated[Principal | None, Depends(principal)]) -> Principal:
    if who is None:
        raise ApiError(401, "a credential is required")
    if who.uid is None:
        raise ApiError(403, "job submission needs a JWT naming the user (scontrol token; X-SLURM-USER-TOKEN)")
    return who


def create_app(
    ctl: ControllerPort, migration: Migration | None, settings: ApiSettings, metrics: Metrics
) -> FastAPI:
    """``migration``: the migration's pieces, None when flurm does not follow a slurmctld."""
    app = FastAPI(
        title="flurm",
        version=__version__,
        description="The operator's view of flurm: health, metrics, jobs, nodes, partitions, import, mode.",
        default_response_class=AsciiJSONResponse,
    )

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return AsciiJSONResponse({"error": exc.reason}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return AsciiJSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # not the offending input: it may be megabytes, or not encodable
        details = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return AsciiJSONResponse({"error": "invalid request", "details": details}, status_code=422)

    @app.middleware("http")
    async def _count(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "other")
        metrics.http_total.labels(path, str(response.status_code)).inc()
        return response

    # Credentials are checked by the guard, from the headers, before any body is read; the endpoints
    # only decide what the principal it found may do.
    credentials = Credentials(settings.token, ctl.jwt, ctl.is_admin, ctl.now)
    app.add_middleware(
        RequestGuard,
        credentials=credentials,
        on_refusal=lambda status: metrics.http_total.labels("other", str(status)).inc(),
    )

    def reader(who: Annotated[Principal | None, Depends(principal)]) -> None:
        if settings.read_auth and who is None:
            raise ApiError(401, "a credential is required (--api-read-auth)")

    Read = Depends(reader)
    Write = Depends(operator)

    @app.get("/health", dependencies=[Read])
    async def health() -> JSONResponse:
        doc = await health_report(ctl, migration)
        return AsciiJSONResponse(doc, status_code=200 if doc["status"] == "healthy" else 503)

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
        offset: Annotated[int, Query(ge=0, le=U32_MAX_VALUE)] = 0,
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

    @app.post("/api/jobs", status_code=201)
    async def submit(sub: JobSubmission, who: Annotated[Principal, Depends(submitter)]) -> dict[str, Any]:
        return await submit_job(ctl, who, sub)

    @app.get("/api/nodes", dependencies=[Read])
    async def list_nodes() -> dict[str, Any]:
        return {"nodes": [node_view(n) for n in ctl.cluster.node_list]}

    @app.get("/api/partitions", dependencies=[Read])
    async def list_partitions() -> dict[str, Any]:
        return {"partitions": [partition_view(p, ctl.cluster) for p in ctl.cluster.partitions.values()]}

    @app.post("/api/import", dependencies=[Write])
    async def trigger_import() -> dict[str, Any]:
        if migration is None:
            raise ApiError(409, f"flurm is {ctl.mode}: there is no SLURM source to import from")
        try:
            counts = await migration.mirror.sync(full=True)
        except Exception as exc:
            raise ApiError(503, f"import failed: {exc}") from None
        return asdict(counts)

    @app.get("/api/mode", dependencies=[Read])
    async def get_mode() -> dict[str, Any]:
        return mode_report(ctl)

    @app.put("/api/mode", dependencies=[Write])
    async def put_mode(change: ModeChange) -> dict[str, Any]:
        try:
            doc = await admin_rpc.set_mode(ctl, migration, change.mode)
        except TransitionError as exc:
            raise ApiError(409, str(exc)) from None
        if not doc.get("ok"):
            raise ApiError(409, str(doc.get("error")))
        return mode_report(ctl)

    @app.post("/api/takeover", dependencies=[Write])
    async def takeover(req: TakeoverRequest | None = None) -> JSONResponse:
        if migration is None:
            raise ApiError(409, f"flurm is {ctl.mode}: there is nothing to take over")
        if migration.takeover.running:
            raise ApiError(409, "a takeover is already running")
        result = await migration.takeover.run(
            dry_run=bool(req and req.dry_run), allow_unsupported=bool(req and req.allow_unsupported)
        )
        doc = {
            "result": result.to_dict(),
            "events": [asdict(e) for e in migration.takeover.events],
            "mode": ctl.mode.value,
        }
        return AsciiJSONResponse(doc, status_code=200 if result.ok else 409)

    @app.post("/api/rollback", dependencies=[Write])
    async def rollback() -> dict[str, Any]:
        try:
            return await admin_rpc.rollback(ctl, migration)
        except TransitionError as exc:
            raise ApiError(409, str(exc)) from None

    return app


def mode_report(ctl: ControllerPort) -> dict[str, Any]:
    return {
        "mode": ctl.mode.value,
        "transitions": [
            {"to": b.value, "guards": [g.value for g in tr.guards], "by": tr.by.value}
            for (a, b), tr in TRANSITIONS.items()
            if a == ctl.mode
        ],
        "policy": {m.value: {op.value: act.value for op, act in POLICY[m].items()} for m in Mode},
    }


async def health_report(ctl: ControllerPort, migration: Migration | None) -> dict[str, Any]:
    """Checked now, every time: no cached or static answer. What is required is the mode's (TRAITS)."""
    reasons: list[str] = []
    doc: dict[str, Any] = {"mode": ctl.mode.value, "version": __version__}
    needs = TRAITS[ctl.mode].health
    if migration is not None and TRAITS[ctl.mode].uses_source:
        reachable = await migration.source.ping()
        age = migration.mirror.age()
        doc["source"] = {"reachable": reachable, "last_sync_age_seconds": age}
        if HealthCheck.SOURCE_REACHABLE in needs and not reachable:
            reasons.append("slurmctld (the SLURM source) is not reachable")
        if HealthCheck.MIRROR_FRESH in needs and (age is None or age > SOURCE_MAX_AGE):
            reasons.append(f"mirror is stale: last sync {'never' if age is None else f'{age:.1f} s ago'}")
    elif HealthCheck.SOURCE_REACHABLE in needs or HealthCheck.MIRROR_FRESH in needs:
        reasons.append("flurm has no SLURM source to follow")
    nodes = ctl.cluster.node_list
    down = [n for n in nodes if n.base_state in (NodeState.DOWN, NodeState.UNKNOWN) or not n.is_responding()]
    doc["nodes"] = {"total": len(nodes), "up": len(nodes) - len(down), "down": len(down)}
    if HealthCheck.NODE_UP in needs and nodes and len(down) == len(nodes):
        reasons.append("no node is up")
    writable = ctl.store.writable()
    doc["store"] = {"writable": writable}
    if HealthCheck.STORE_WRITABLE in needs and not writable:
        reasons.append(f"store is not writable: {ctl.store.last_error or 'closed'}")
    doc["status"] = "unhealthy" if reasons else "healthy"
    doc["reasons"] = reasons
    return doc


def submitter_identity(who: Principal, requested: str | None) -> Identity:
    """The user a job runs as: the principal's own, or (for an operator only) the one the request names."""
    assert who.uid is not None
    uid = who.uid
    if requested is not None:
        named = lookup_uid(requested)
        if named is None:
            raise ApiError(422, f"unknown user {requested!r}")
        if named != who.uid and not who.operator:
            raise ApiError(403, f"user {who.name} may not submit jobs as user {requested}")
        uid = named
    try:
        return Identity(uid, pwd.getpwuid(uid).pw_gid)
    except KeyError:
        raise ApiError(422, f"unknown user {uid}") from None


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
    min_cpus = (tasks or 1) * (cpt or 1)
    if min_cpus > U32_MAX_VALUE:
        raise ApiError(422, "ntasks times cpus_per_task is out of range")
    bitflags = 0x1E000000 if not sub.partition else 0x1A000000  # USE_DEFAULT_ACCT/PART/QOS/WCKEY, like sbatch
    if tasks:
        bitflags |= JobFlag.JOB_NTASKS_SET
    if cpt:
        bitflags |= JobFlag.JOB_CPUS_SET

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


async def submit_job(ctl: ControllerPort, who: Principal, sub: JobSubmission) -> dict[str, Any]:
    ident = submitter_identity(who, sub.user)
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
