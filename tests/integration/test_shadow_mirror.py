"""flurm in shadow of a real slurmctld while jobs start and end: its nodes agree with slurmctld's once the
mirror has caught up, ``flurm status`` answers every one of many calls, and SIGTERM ends it cleanly.

"Caught up" is decided, not waited for: slurmctld's view is read once nothing more changes on it, and
flurm is read after it reports a mirror pass that began after that read.

slurmctld dates every allocation change of a node (allocate_nodes and deallocate_nodes set
last_node_update after select_g_job_begin / select_g_job_fini; make_node_comp and make_node_idle too),
and its node_info answers "no change" only for a last_update past that date, so the mirror's
incremental node reads may be trusted.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.loopback import SlurmCluster, cluster, free_port_block

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shadow() -> Iterator[SlurmCluster]:
    with cluster("slurmctld", nodes=1, cpus=4, extra_conf="KillWait=2\nMinJobAge=600") as c:
        c.http_port = free_port_block(1)
        c.start_shadow()
        yield c


def node_alloc(c: SlurmCluster, conf: Path | None = None) -> tuple[str, str]:
    """CPUAlloc and State of the (only) node, as `scontrol show node -o` shows them."""
    out = c.run("scontrol", "show", "node", "-o", conf=conf).check().stdout
    alloc = re.search(r"CPUAlloc=(\d+)", out)
    state = re.search(r"State=(\S+)", out)
    assert alloc and state, out
    return alloc.group(1), state.group(1)


def poll(pred, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


def mirror_status(c: SlurmCluster) -> dict[str, object]:
    r = c.flurm_cli("status").check()
    doc = json.loads(r.stdout)
    assert doc["ok"], doc
    mirror = doc["mirror"]
    assert isinstance(mirror, dict)
    return mirror


def settled(c: SlurmCluster, running: set[int]) -> bool:
    """slurmctld runs exactly ``running``, nothing is pending or completing, the node is not completing."""
    out = c.run("squeue", "-h", "-t", "PD,CF,R,S,CG", "-o", "%i").check().stdout
    live = {int(i) for i in out.split()}
    return live == running and "COMPLETING" not in node_alloc(c)[1]


def assert_mirrored(c: SlurmCluster) -> tuple[str, str]:
    theirs = node_alloc(c)
    read_at = time.time()
    poll(lambda: float(mirror_status(c)["last_pass_began"]) > read_at)  # type: ignore[arg-type]
    ours = node_alloc(c, c.client_conf(c.shadow_port))
    assert node_alloc(c) == theirs, "slurmctld's node changed although no job was left to start or end"
    assert ours == theirs, f"flurm shows CPUAlloc/State {ours}, slurmctld {theirs}"
    return theirs


def test_node_alloc_agrees_after_jobs_start_and_end(shadow: SlurmCluster) -> None:
    c = shadow
    long_job = c.sbatch("-n", "1", "-J", "long", "--wrap", "sleep 300")
    short = [c.sbatch("-n", str(1 + i % 3), "-J", f"short{i}", "--wrap", f"sleep {i % 2}") for i in range(6)]
    poll(lambda: settled(c, {long_job}), 120)
    assert all(c.job_state(j) == "COMPLETED" for j in short)
    assert assert_mirrored(c) == ("1", "MIXED")

    more = [c.sbatch("-n", "3", "-J", f"fill{i}", "--wrap", "true") for i in range(3)]
    c.run("scancel", str(long_job)).check()
    poll(lambda: settled(c, set()), 120)
    assert all(c.job_state(j) == "COMPLETED" for j in more)
    assert assert_mirrored(c) == ("0", "IDLE")


# 200 calls of the flurm command's status, back to back in one interpreter (each a new connection and a
# new signed request, as the command makes them; 200 interpreters took minutes on a loaded machine)
TIGHT_LOOP = """
import contextlib, io, json, sys
from flurm.cli import main
failures = []
for i in range(200):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["status", *sys.argv[1:]])
    if rc != 0 or not json.loads(out.getvalue()).get("ok"):
        failures.append(f"call {i}: {rc} {out.getvalue()}")
print(json.dumps({"calls": i + 1, "failures": failures}))
"""


def test_status_answers_every_call_of_a_tight_loop(shadow: SlurmCluster) -> None:
    c = shadow
    c.sbatch("-n", "2", "-J", "busy", "--wrap", "sleep 2")  # the mirror has work meanwhile
    r = subprocess.run(
        [sys.executable, "-c", TIGHT_LOOP, "-f", str(c.conf), "--port", str(c.shadow_port)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **c.env},
    )
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["calls"] == 200 and not got["failures"], got["failures"][:3]


def test_sigterm_with_idle_clients_exits_zero_cleanly(shadow: SlurmCluster) -> None:
    c = shadow
    proc = c.flurm
    assert proc is not None
    with (
        socket.create_connection(("127.0.0.1", c.shadow_port)),  # connected, never sends
        socket.create_connection(("127.0.0.1", c.http_port)) as http,
    ):
        http.sendall(b"GET /health HTTP/1.1\r\nHost: flurm\r\n\r\n")
        assert http.recv(65536).startswith(b"HTTP/1.1")  # and keeps the connection open
        mirror_status(c)  # both connections are accepted before the signal
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            pytest.fail("flurm did not exit on SIGTERM")
    c.flurm = None
    log = (c.dir / "log" / "flurm.log").read_text()
    assert rc == 0, log
    assert "Traceback" not in log, log
