"""The HTTP API against a real flurm process: health that tells the truth, credentials, OpenAPI, jobs, mode.

Two clusters: flurm in shadow of a real slurmctld (health follows slurmctld stopping and returning), and
flurm standalone with a JWT key (``scontrol token`` gets a token from flurm, a job submitted over HTTP
with it runs as the token's user on a real slurmd).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import stat
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flurm.config import load as load_config
from harness.loopback import SlurmCluster, cluster, free_port_block

pytestmark = pytest.mark.integration
TOKEN = "test-token-1234"  # the static operator token


def http(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            status = resp.status
            ctype = resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        raw, status, ctype = exc.read(), exc.code, exc.headers.get("Content-Type", "")
    return status, json.loads(raw) if "json" in ctype else raw.decode()


def wait_for(pred, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return bool(pred())


@pytest.fixture(scope="module")
def shadow() -> Iterator[SlurmCluster]:
    os.environ["FLURM_API_TOKEN"] = TOKEN
    try:
        with cluster("slurmctld", extra_conf="AuthAltParameters=max_token_lifespan=600\n") as c:
            c.http_port = free_port_block(1)
            c.start_shadow()
            yield c
    finally:
        os.environ.pop("FLURM_API_TOKEN", None)


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    os.environ.pop("FLURM_API_TOKEN", None)
    key = tmp_path_factory.mktemp("jwt") / "jwt_hs256.key"
    key.write_bytes(secrets.token_bytes(32))
    key.chmod(0o600)
    conf = f"AuthAltTypes=auth/jwt\nAuthAltParameters=jwt_key={key}\n"  # only slurmctld loads auth/jwt
    with cluster("flurm", http_port=free_port_block(1), extra_conf=conf) as c:
        yield c


def scontrol_token(c: SlurmCluster, *args: str, user: str | None = None) -> str:
    """``scontrol token`` (the real one) against the cluster's controller: the JWT it printed."""
    r = c.run("scontrol", "token", *args, user=user).check()
    name, _, value = r.stdout.strip().partition("=")
    assert name == "SLURM_JWT" and value.count(".") == 2, r.stdout
    return value


def vm_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def post_streamed(port: int, path: str, total: int, chunk: int = 1 << 20) -> tuple[bytes, int]:
    """POST a JSON body of ``total`` bytes in chunked encoding, sent while the reply is read: (the reply's
    first bytes, how many body bytes went out before the server stopped taking them)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n"
    sock.sendall(head.encode())
    sent = 0

    def body() -> None:
        nonlocal sent
        pieces = [b'{"script": "'] + [b"a" * chunk] * (total // chunk) + [b'"}']
        try:
            for piece in pieces:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += len(piece)
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: it does not read the rest

    sender = threading.Thread(target=body)
    sender.start()
    reply = b""
    try:
        while b"\r\n\r\n" not in reply:
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    finally:
        sender.join(60)
        sock.close()
    return reply, sent


def test_health_follows_the_source(shadow: SlurmCluster) -> None:
    port = shadow.http_port
    status, doc = http(port, "GET", "/health")
    assert status == 200 and doc["status"] == "healthy" and doc["mode"] == "shadow", doc
    assert doc["source"]["reachable"] is True
    shadow.stop_slurmctld()
    assert wait_for(lambda: http(port, "GET", "/health")[0] == 503)
    status, doc = http(port, "GET", "/health")
    assert doc["status"] == "unhealthy"
    assert any("not reachable" in r for r in doc["reasons"]), doc
    # slurmctld comes back: healthy again
    shadow.start_daemons()
    assert wait_for(lambda: http(port, "GET", "/health")[0] == 200, 20)


def test_writes_need_the_token(shadow: SlurmCluster) -> None:
    port = shadow.http_port
    body = {"script": "true", "name": "nope"}
    assert http(port, "POST", "/api/jobs", body)[0] == 401
    assert http(port, "POST", "/api/jobs", body, token="wrong")[0] == 401
    assert http(port, "POST", "/api/import", None)[0] == 401
    assert http(port, "PUT", "/api/mode", {"mode": "standalone"})[0] == 401
    assert http(port, "POST", "/api/import", None, token="t\u00e9st")[0] == 401  # was a 500
    status, doc = http(port, "POST", "/api/import", None, token=TOKEN)
    assert status == 200 and doc["partitions"] == 1 and doc["nodes"] == 1, doc
    # the static token is the operator's, and names no user: it submits no job (was: as anyone, root too)
    status, doc = http(port, "POST", "/api/jobs", {**body, "user": "0"}, token=TOKEN)
    assert status == 403 and "JWT" in doc["error"], doc


def test_token_without_a_key_as_slurmctld(shadow: SlurmCluster) -> None:
    # neither slurmctld (no auth/jwt) nor flurm (no jwt_key) can issue one: the same refusal from both
    ctld = shadow.run("scontrol", "token", "lifespan=60")
    flurm = shadow.run("scontrol", "token", "lifespan=60", conf=shadow.client_conf(shadow.shadow_port))
    assert ctld.returncode == flurm.returncode == 1
    assert ctld.stdout == flurm.stdout == "" and "Error fetching token" in ctld.stderr
    assert flurm.stderr == ctld.stderr, (ctld.stderr, flurm.stderr)
    # another user's token is refused before any key is looked at
    ctld = shadow.run("scontrol", "token", "username=root", user="nobody")
    flurm = shadow.run(
        "scontrol", "token", "username=root", user="nobody", conf=shadow.client_conf(shadow.shadow_port)
    )
    assert ctld.returncode == flurm.returncode == 1 and "Invalid user id" in ctld.stderr
    assert flurm.stderr == ctld.stderr, (ctld.stderr, flurm.stderr)
    # a lifespan over max_token_lifespan is refused to a user
    ctld = shadow.run("scontrol", "token", "lifespan=601", user="nobody")
    flurm = shadow.run(
        "scontrol", "token", "lifespan=601", user="nobody", conf=shadow.client_conf(shadow.shadow_port)
    )
    assert ctld.returncode == flurm.returncode == 1 and "time limit is invalid" in ctld.stderr, ctld.stderr
    assert flurm.stderr == ctld.stderr, (ctld.stderr, flurm.stderr)


def test_openapi_and_reads(shadow: SlurmCluster) -> None:
    port = shadow.http_port
    status, doc = http(port, "GET", "/openapi.json")
    assert status == 200 and "/api/jobs" in doc["paths"] and "/health" in doc["paths"]
    assert http(port, "GET", "/docs")[0] == 200
    job = shadow.sbatch("--hold", "-J", "apiread", "--wrap", "true")
    assert wait_for(lambda: http(port, "GET", f"/api/jobs/{job}")[0] == 200, 3)
    status, doc = http(port, "GET", f"/api/jobs/{job}")
    assert doc["name"] == "apiread" and doc["state"] == "PENDING" and doc["user"] == "root"
    status, doc = http(port, "GET", "/api/jobs?state=PENDING&limit=1")
    assert doc["total"] >= 1 and len(doc["jobs"]) == 1
    assert http(port, "GET", "/api/jobs/999999")[0] == 404
    nodes = http(port, "GET", "/api/nodes")[1]["nodes"]
    assert [n["name"] for n in nodes] == ["compute-node-1"] and nodes[0]["cpus"] == 2
    parts = http(port, "GET", "/api/partitions")[1]["partitions"]
    assert parts[0]["name"] == "debug" and parts[0]["available"] == "up" and parts[0]["total_nodes"] == 1
    metrics = http(port, "GET", "/metrics")[1]
    assert 'flurm_mode{mode="shadow"} 1.0' in metrics and "flurm_jobs{" in metrics


def test_mode_changes_go_through_the_table(shadow: SlurmCluster) -> None:
    port = shadow.http_port
    status, doc = http(port, "GET", "/api/mode")
    assert doc["mode"] == "shadow" and {t["to"] for t in doc["transitions"]} == {"switching", "rolled_back"}
    status, doc = http(port, "PUT", "/api/mode", {"mode": "standalone"}, token=TOKEN)
    assert status == 409 and "not allowed" in doc["error"], doc
    status, doc = http(port, "PUT", "/api/mode", {"mode": "nonsense"}, token=TOKEN)
    assert status == 409 and "unknown mode" in doc["error"]


def test_submit_over_http_runs_the_job(standalone: SlurmCluster) -> None:
    c = standalone
    port = c.http_port
    assert http(port, "POST", "/api/jobs", {"script": "echo from-api"})[0] == 401
    root = scontrol_token(c, "lifespan=600")
    out = c.jobs_dir / "api-%j.out"
    status, doc = http(
        port,
        "POST",
        "/api/jobs",
        {"script": "echo from-api", "name": "viaapi", "output": str(out), "work_dir": str(c.jobs_dir)},
        headers={"X-SLURM-USER-TOKEN": root, "X-SLURM-USER-NAME": "root"},
    )
    assert status == 201, doc
    job_id = doc["id"]
    c.wait_state(job_id, ["COMPLETED"], timeout=30)
    assert (c.jobs_dir / f"api-{job_id}.out").read_text() == "from-api\n"
    status, doc = http(port, "GET", f"/api/jobs/{job_id}")
    assert doc["state"] == "COMPLETED" and doc["name"] == "viaapi" and doc["exit_code"] == "0:0"
    status, doc = http(port, "POST", "/api/jobs", {"script": "true", "partition": "nosuch"}, token=root)
    assert status == 422 and "Invalid partition name specified" in doc["error"], doc


def test_a_token_is_one_user(standalone: SlurmCluster) -> None:
    c = standalone
    port = c.http_port
    mine = scontrol_token(c, "lifespan=600", user="nobody")
    # nobody may not run as root, by any name
    for user in ("0", "root"):
        status, doc = http(port, "POST", "/api/jobs", {"script": "id", "user": user}, token=mine)
        assert status == 403, doc
    status, doc = http(
        port,
        "POST",
        "/api/jobs",
        {"script": "id"},
        headers={"X-SLURM-USER-TOKEN": mine, "X-SLURM-USER-NAME": "root"},
    )
    assert status == 403, doc
    # a job submitted with nobody's token is nobody's
    status, doc = http(
        port, "POST", "/api/jobs", {"script": "id", "hold": True, "work_dir": "/tmp"}, token=mine
    )
    assert status == 201, doc
    status, doc = http(port, "GET", f"/api/jobs/{doc['id']}")
    assert doc["user"] == "nobody" and doc["uid"] == 65534 and doc["state"] == "PENDING", doc
    # nobody gets no token for root; a token from another key, or an expired one, proves nothing
    r = c.run("scontrol", "token", "username=root", user="nobody")
    assert r.returncode == 1 and "Invalid user id" in r.stderr and "Error fetching token" in r.stderr
    expired = scontrol_token(c, "lifespan=-10")
    assert http(port, "POST", "/api/jobs", {"script": "id"}, token=expired)[0] == 401
    assert http(port, "POST", "/api/jobs", {"script": "id"}, token=mine[:-2] + "AA")[0] == 401
    # root gets a token for anyone
    root = scontrol_token(c, "username=nobody", "lifespan=60")
    assert (
        http(port, "POST", "/api/jobs", {"script": "id", "hold": True, "work_dir": "/tmp"}, token=root)[0]
        == 201
    )


def test_an_unauthenticated_body_is_not_read(standalone: SlurmCluster) -> None:
    c = standalone
    assert c.flurm is not None
    pid = c.flurm.pid
    before = vm_kib(pid, "VmHWM")
    total = 50 << 20
    reply, sent = post_streamed(c.http_port, "/api/jobs", total)
    grown = vm_kib(pid, "VmHWM") - before
    assert grown < 20 << 10, f"flurm's peak memory grew by {grown} KiB"
    assert sent < total, "the server read the whole body"
    assert reply.startswith(b"HTTP/1.1 401"), reply[:200]
    assert "is UP" in c.run("scontrol", "ping").check().stdout


def test_health_standalone(standalone: SlurmCluster) -> None:
    status, doc = http(standalone.http_port, "GET", "/health")
    assert status == 200 and doc["mode"] == "standalone" and doc["nodes"]["up"] == 1, doc


def test_scripts_and_environments_stay_private(standalone: SlurmCluster) -> None:
    """Neither the HTTP API nor /metrics shows a job's script or environment, and flurm's state
    (which holds them) is readable by SlurmUser only."""
    c = standalone
    script = c.jobs_dir / "secret.sh"
    script.write_text("#!/bin/sh\necho script-secret-4711\n")
    job_id = c.sbatch("--hold", "--export=ALL,FLURM_TEST_TOKEN=env-secret-0815", str(script))
    seen = []
    for path in ("/api/jobs", f"/api/jobs/{job_id}", "/metrics"):
        status, doc = http(c.http_port, "GET", path)
        assert status == 200, (path, doc)
        text = doc if isinstance(doc, str) else json.dumps(doc)
        seen.append(text)
        assert "script-secret-4711" not in text and "env-secret-0815" not in text, path
    assert str(job_id) in seen[1]
    state = Path(load_config(c.conf).state_save_location)
    files = sorted(state.glob("flurm.sqlite*"))
    assert files, f"no state in {state}"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    c.run("scancel", str(job_id)).check()
