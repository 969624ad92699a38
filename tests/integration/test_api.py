"""The HTTP API against a real flurm process: health that tells the truth, tokens, OpenAPI, jobs, mode.

Two clusters: flurm in shadow of a real slurmctld (health follows slurmctld stopping and returning), and
flurm standalone (a job submitted over HTTP runs on a real slurmd).
"""

from __future__ import annotations

import json
import os
import stat
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
TOKEN = "test-token-1234"


def http(port: int, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
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
        with cluster("slurmctld") as c:
            c.http_port = free_port_block(1)
            c.start_shadow()
            yield c
    finally:
        os.environ.pop("FLURM_API_TOKEN", None)


@pytest.fixture(scope="module")
def standalone() -> Iterator[SlurmCluster]:
    os.environ.pop("FLURM_API_TOKEN", None)
    with cluster("flurm", http_port=free_port_block(1)) as c:
        yield c


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
    status, doc = http(port, "POST", "/api/import", None, token=TOKEN)
    assert status == 200 and doc["partitions"] == 1 and doc["nodes"] == 1, doc


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
    status, doc = http(port, "POST", "/api/jobs", {"script": "echo from-api"})
    assert status == 403 and "no API token" in doc["error"]  # no token configured: writes are off
    token_file = c.dir / "api-token"
    token_file.write_text(TOKEN + "\n")
    c.stop_flurm()
    c.flurm_args = ("--api-token-file", str(token_file))
    c.start_flurm()
    out = c.jobs_dir / "api-%j.out"
    status, doc = http(
        port,
        "POST",
        "/api/jobs",
        {"script": "echo from-api", "name": "viaapi", "output": str(out), "work_dir": str(c.jobs_dir)},
        token=TOKEN,
    )
    assert status == 201, doc
    job_id = doc["id"]
    c.wait_state(job_id, ["COMPLETED"], timeout=30)
    assert (c.jobs_dir / f"api-{job_id}.out").read_text() == "from-api\n"
    status, doc = http(port, "GET", f"/api/jobs/{job_id}")
    assert doc["state"] == "COMPLETED" and doc["name"] == "viaapi" and doc["exit_code"] == "0:0"
    status, doc = http(port, "POST", "/api/jobs", {"script": "true", "partition": "nosuch"}, token=TOKEN)
    assert status == 422 and "Invalid partition name specified" in doc["error"], doc


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
        status, doc = http(c.http_port, "GET", path, token=TOKEN)
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
