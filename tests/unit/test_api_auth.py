"""The HTTP API's guard and credentials, driven as ASGI (no server): who may do what, and what is read when.

Each attack here was a defect: the body read and parsed before the credential was looked at, a static
token that submitted as any user (root included), 500s for out-of-range numbers and a non-ASCII token.
"""

from __future__ import annotations

import asyncio
import json
import pwd
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import jwt
import pytest

from flurm.api.app import ApiSettings, create_app
from flurm.api.metrics import Metrics
from flurm.auth.authenticator import FakeAuthenticator, Identity
from flurm.config import parse_text
from flurm.daemon import Daemon
from flurm.protocol.constants import MsgType
from flurm.protocol.messages.base import Body, encode_body
from flurm.protocol.messages.job_control import SubmitBatchJobResponse
from flurm.protocol.messages.job_desc import JobDesc
from flurm.rpc.transport import Reply
from flurm.state.model import Job

NOW = 1_795_696_400
STATIC = "static-operator-token"
KEY = b"k" * 48
CONF = """
ClusterName=apitest
SlurmctldHost=localhost
NodeName=n1 NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
AuthAltParameters=jwt_key={key}
"""
NOBODY = pwd.getpwnam("nobody").pw_uid
SUBMIT_BODY_LIMIT = 8 * 1024 * 1024  # as docs/http-api.md has them
BODY_LIMIT = 64 * 1024


def token(user: str, *, exp: int = NOW + 600, key: bytes = KEY, **claims: Any) -> str:
    return jwt.encode({"iat": NOW, "exp": exp, "sun": user, **claims}, key, algorithm="HS256")


class Api:
    """A controller that is not started, its HTTP application, and what it was asked to submit."""

    def __init__(
        self, tmp: Path, *, static: str | None = STATIC, read_auth: bool = False, jwt_key: bool = True
    ) -> None:
        key_file = tmp / "jwt_hs256.key"
        key_file.write_bytes(KEY)
        conf = CONF.format(key=key_file) if jwt_key else CONF.split("AuthAlt")[0]
        self.ctl = Daemon(parse_text(conf), FakeAuthenticator(), state_dir=tmp, clock=lambda: NOW).controller
        settings = ApiSettings(token=static, read_auth=read_auth)
        self.app = create_app(self.ctl, None, settings, Metrics(self.ctl, None))
        self.submitted: list[tuple[JobDesc, Identity]] = []
        self.ctl.internal_request = self._internal  # type: ignore[method-assign]

    async def _internal(self, msg_type: int, body: Body, identity: Identity) -> Reply:
        assert msg_type == MsgType.REQUEST_SUBMIT_BATCH_JOB and isinstance(body, JobDesc)
        encode_body(body)  # as the controller does: it must fit the wire
        self.submitted.append((body, identity))
        return Reply(MsgType.RESPONSE_SUBMIT_BATCH_JOB, SubmitBatchJobResponse(len(self.submitted)))

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        chunks: Iterator[bytes] | None = None,
    ) -> tuple[int, Any, int]:
        """(status, JSON reply, how many body chunks the application read)."""
        if chunks is None:
            chunks = iter([json.dumps(body).encode() if body is not None else b""])
        path, _, query = path.partition("?")
        raw_headers = [(b"content-type", b"application/json")]
        raw_headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in (headers or {}).items()]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": raw_headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8080),
        }
        read = 0
        status = 0
        reply = b""
        pending = next(chunks, None)

        async def receive() -> dict[str, Any]:
            nonlocal read, pending
            if pending is None:
                await asyncio.Event().wait()  # nothing more: wait as a server would for a disconnect
            chunk, pending = pending, next(chunks, None)
            read += 1
            return {"type": "http.request", "body": chunk, "more_body": pending is not None}

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status, reply
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                reply += message.get("body", b"")

        asyncio.run(self.app(scope, receive, send))
        return status, json.loads(reply) if reply else None, read


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return Api(tmp_path)


def jwt_headers(user: str, **kw: Any) -> dict[str, str]:
    return {"X-SLURM-USER-TOKEN": token(user, **kw)}


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


JOB = {"script": "#!/bin/sh\ntrue\n"}


# -- 1. the credential before the body, and the body with a cap -------------------------------------


def endless(size: int = 1 << 20, total: int = 16 << 20) -> Iterator[bytes]:
    """A body larger than any cap (bounded, so that a guard that reads it all fails and does not hang)."""
    yield b'{"script": "'
    for _ in range(total // size):
        yield b"a" * size
    yield b'"}'


@pytest.mark.parametrize("path", ["/api/jobs", "/api/import", "/api/mode"])
def test_no_body_is_read_without_a_credential(api: Api, path: str) -> None:
    method = "PUT" if path == "/api/mode" else "POST"
    status, doc, read = api.call(method, path, chunks=endless())
    assert status == 401 and read == 0, (status, doc, read)
    status, doc, read = api.call(method, path, headers=bearer("wrong"), chunks=endless())
    assert status == 401 and read == 0


def test_no_body_is_read_when_no_credential_is_configured(tmp_path: Path) -> None:
    api = Api(tmp_path, static=None, jwt_key=False)
    assert api.ctl.jwt is None
    status, doc, read = api.call("POST", "/api/jobs", chunks=endless())
    assert status == 403 and "writes are disabled" in doc["error"] and read == 0


def test_a_body_over_the_cap_is_refused_unread(api: Api) -> None:
    status, _, read = api.call("POST", "/api/jobs", headers=jwt_headers("nobody"), chunks=endless())
    assert status == 413 and read <= SUBMIT_BODY_LIMIT // (1 << 20) + 2, (status, read)
    status, _, read = api.call("POST", "/api/import", headers=bearer(STATIC), chunks=endless(4096))
    assert status == 413 and read <= BODY_LIMIT // 4096 + 2, (status, read)
    big = {"Content-Length": str(SUBMIT_BODY_LIMIT + 1)}
    status, _, read = api.call("POST", "/api/jobs", headers={**jwt_headers("nobody"), **big}, body=JOB)
    assert status == 413 and read == 0


def test_a_script_near_the_size_limit_is_accepted(api: Api) -> None:
    script = "#!/bin/sh\n" + "# " + "x" * (4 * 1024 * 1024) + "\n"
    status, doc, _ = api.call("POST", "/api/jobs", {"script": script}, headers=jwt_headers("nobody"))
    assert status == 201, doc


# -- 2. numbers out of range and odd tokens are 4xx, never 500 --------------------------------------


@pytest.mark.parametrize(
    "field",
    [
        {"nodes": 2**32},
        {"nodes": 10**30},
        {"ntasks": 2**32},
        {"ntasks": -1},
        {"cpus_per_task": 2**16},
        {"memory_mb": 2**64},
        {"time_limit": 10**30},
        {"time_limit": -5},
        {"time_limit": "99999999999"},
        {"ntasks": 2**20, "cpus_per_task": 2**15},
        {"user": "9" * 30},
        {"user": "no such user"},
        {"script": "\ud800"},
        {"environment": {"A": "\udfff"}},
        {"nodes": "\ud800"},
    ],
)
def test_out_of_range_submissions_are_422(api: Api, field: dict[str, Any]) -> None:
    status, doc, _ = api.call("POST", "/api/jobs", {**JOB, **field}, headers=jwt_headers("root"))
    assert status == 422, (field, status, doc)
    assert api.submitted == []


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=100000", "limit=" + "9" * 30, "offset=-1", "offset=" + "9" * 30, "limit=x"]
)
def test_out_of_range_queries_are_422(api: Api, query: str) -> None:
    status, doc, _ = api.call("GET", f"/api/jobs?{query}")
    assert status == 422, (query, status, doc)


def test_undecodable_names_are_listed(api: Api) -> None:
    # sbatch -J $'\xff': the name arrives as bytes that are not UTF-8
    name = b"bad\xff".decode("utf-8", "surrogateescape")
    api.ctl.store.open()
    api.ctl.cluster.add_job(Job(job_id=7, name=name, user_id=NOBODY, group_id=NOBODY, partition="debug"))
    status, doc, _ = api.call("GET", "/api/jobs")
    assert status == 200 and doc["jobs"][0]["name"] == name, doc


@pytest.mark.parametrize("job_id", ["99999999999999999999", "-1", "1_99999999999", "abc", "1_-1"])
def test_odd_job_ids_are_404(api: Api, job_id: str) -> None:
    assert api.call("GET", f"/api/jobs/{job_id}")[0] == 404


@pytest.mark.parametrize(
    "headers",
    [
        bearer("t\u00e9st"),
        {"X-SLURM-USER-TOKEN": "\u00e9\u00e9.\u00e9.\u00e9"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer"},
        bearer("a.b.c"),
    ],
)
def test_bad_tokens_are_401(api: Api, headers: dict[str, str]) -> None:
    assert api.call("POST", "/api/import", headers=headers)[0] == 401
    assert api.call("GET", "/api/jobs", headers=headers)[0] == 401


# -- 3. a credential is one user, and only root or SlurmUser act for others -------------------------


def test_a_job_runs_as_the_tokens_user(api: Api) -> None:
    status, doc, _ = api.call("POST", "/api/jobs", JOB, headers=jwt_headers("nobody"))
    assert status == 201, doc
    assert api.submitted[0][1].uid == NOBODY and api.submitted[0][0].user_id == NOBODY
    status, doc, _ = api.call("POST", "/api/jobs", JOB, headers=bearer(token("nobody")))
    assert status == 201 and api.submitted[1][1].uid == NOBODY


@pytest.mark.parametrize("user", ["0", "root"])
def test_a_user_may_not_submit_as_another(api: Api, user: str) -> None:
    status, doc, _ = api.call("POST", "/api/jobs", {**JOB, "user": user}, headers=jwt_headers("nobody"))
    assert status == 403 and "may not submit" in doc["error"], doc
    assert api.submitted == []


def test_the_static_token_submits_no_job(api: Api) -> None:
    for body in (JOB, {**JOB, "user": "0"}, {**JOB, "user": "nobody"}):
        status, doc, _ = api.call("POST", "/api/jobs", body, headers=bearer(STATIC))
        assert status == 403 and "JWT" in doc["error"], doc
    assert api.submitted == []


def test_an_operator_submits_for_anyone(api: Api) -> None:
    status, doc, _ = api.call("POST", "/api/jobs", {**JOB, "user": "nobody"}, headers=jwt_headers("root"))
    assert status == 201 and api.submitted[0][1].uid == NOBODY
    headers = {**jwt_headers("root"), "X-SLURM-USER-NAME": "nobody"}
    status, doc, _ = api.call("POST", "/api/jobs", JOB, headers=headers)
    assert status == 201 and api.submitted[1][1].uid == NOBODY, doc
    # acting as nobody, the request is nobody's: no longer an operator
    assert api.call("POST", "/api/jobs", {**JOB, "user": "root"}, headers=headers)[0] == 403


def test_a_user_may_not_name_another_in_the_header(api: Api) -> None:
    headers = {**jwt_headers("nobody"), "X-SLURM-USER-NAME": "root"}
    status, _, read = api.call("POST", "/api/jobs", chunks=endless(), headers=headers)
    assert status == 403 and read == 0


@pytest.mark.parametrize(
    "bad",
    [
        token("nobody", exp=NOW - 1),
        token("nobody", key=b"another key, another cluster, another day"),
        jwt.encode({"iat": NOW, "exp": NOW + 60}, KEY, algorithm="HS256"),  # no user
        jwt.encode({"exp": NOW + 60, "sun": "nobody"}, KEY, algorithm="HS384"),
        jwt.encode({"sun": "nobody"}, KEY, algorithm="HS256"),  # no expiry
        jwt.encode({"exp": NOW + 60, "sun": "nobody"}, None, algorithm="none"),
        token("no-such-user-here"),
    ],
)
def test_tokens_that_prove_nothing_are_401(api: Api, bad: str) -> None:
    status, doc, read = api.call("POST", "/api/jobs", chunks=endless(), headers={"X-SLURM-USER-TOKEN": bad})
    assert status == 401 and read == 0, doc


def test_operator_endpoints(api: Api) -> None:
    status, doc, _ = api.call("PUT", "/api/mode", {"mode": "nonsense"}, headers=jwt_headers("nobody"))
    assert status == 403 and "not an operator" in doc["error"]
    for headers in (jwt_headers("root"), bearer(STATIC)):
        status, doc, _ = api.call("PUT", "/api/mode", {"mode": "nonsense"}, headers=headers)
        assert status == 409 and "unknown mode" in doc["error"], doc


def test_read_auth(tmp_path: Path) -> None:
    api = Api(tmp_path, read_auth=True)
    assert api.call("GET", "/api/nodes")[0] == 401
    assert api.call("GET", "/api/nodes", headers=jwt_headers("nobody"))[0] == 200
    assert api.call("GET", "/api/nodes", headers=bearer(STATIC))[0] == 200
    assert Api(tmp_path).call("GET", "/api/nodes")[0] == 200


def test_the_default_address_is_this_host_only() -> None:
    from flurm.cli import build_parser

    args = build_parser().parse_args(["run", "-f", "slurm.conf"])
    assert args.http_host == "127.0.0.1" and ApiSettings().host == "127.0.0.1"
