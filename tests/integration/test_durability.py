"""flurm's durability and robustness with real clients and slurmd.

* A job is durable before ``sbatch`` prints its id: SIGKILL flurm during a burst of submissions,
  restart it, and every printed id is there. Ids start at FirstJobId and are never reused, also
  across restarts.
* Finished jobs stay visible for MinJobAge, then vanish (slurmctld: the same, checked every
  max(10 s, MinJobAge), so up to 10 s later).
* SIGTERM stops flurm cleanly (exit code 0, store flushed); a job running meanwhile keeps running
  on slurmd and its completion is recorded by the restarted flurm.
* Malformed frames on flurm's port get an error reply or a closed connection, and flurm goes on
  serving.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nodes_util import job_fields, pids_running, wait_for

from flurm.auth.authenticator import MungeAuthenticator
from flurm.config import load as load_config
from flurm.protocol.constants import MsgType
from flurm.protocol.frame import encode_frame
from flurm.protocol.messages import encode_body
from flurm.protocol.messages.job_info import JobInfoRequest
from harness.loopback import SlurmCluster, cluster

FIRST_JOB_ID = 1000
MIN_JOB_AGE = 5
GOLDEN = Path(__file__).resolve().parents[1] / "golden"


@pytest.fixture(scope="module")
def c() -> Iterator[SlurmCluster]:
    conf = f"FirstJobId={FIRST_JOB_ID}\nMinJobAge={MIN_JOB_AGE}\nKillWait=2"
    with cluster("flurm", nodes=1, cpus=4, extra_conf=conf) as c:
        yield c


def _all_ids(c: SlurmCluster) -> set[int]:
    r = c.run("squeue", "-h", "-t", "all", "-o", "%i").check()
    return {int(x) for x in r.stdout.split()}


def test_first_job_id_and_min_job_age(c: SlurmCluster) -> None:
    job = c.sbatch("--wrap", "true")
    assert job == FIRST_JOB_ID
    c.wait_state(job, ["COMPLETED"])
    done = time.monotonic()
    time.sleep(1)
    assert job_fields(c, job)["JobState"] == "COMPLETED"
    assert job in _all_ids(c)
    gone = wait_for(
        "the finished job to vanish", lambda: not c.run("scontrol", "show", "job", str(job)).ok, 15
    )
    age = time.monotonic() - done
    assert gone and MIN_JOB_AGE - 1 <= age <= MIN_JOB_AGE + 3, age
    r = c.run("scontrol", "show", "job", str(job))
    assert "Invalid job id specified" in r.stderr
    assert job not in _all_ids(c)


def test_sigkill_during_a_burst_loses_no_acknowledged_job(c: SlurmCluster) -> None:
    printed: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + 3.0

    def loop() -> None:
        while time.monotonic() < stop_at:
            r = c.run("sbatch", "--parsable", "--hold", "--wrap", "true", timeout=60)
            with lock:
                if r.ok:
                    printed.append(int(r.stdout.strip()))
                else:
                    failures.append(r.stderr.strip())

    threads = [threading.Thread(target=loop) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.2)
    with lock:
        before = len(printed)
    assert c.stop_flurm(signal.SIGKILL) == -signal.SIGKILL
    c.start_flurm()
    for t in threads:
        t.join()
    assert before >= 8, f"only {before} submissions before the kill"
    assert len(printed) == len(set(printed)), "an id was printed twice"
    assert min(printed) >= FIRST_JOB_ID
    missing = set(printed) - _all_ids(c)
    assert not missing, f"acknowledged jobs lost by SIGKILL: {sorted(missing)}"
    for job in printed[:3] + printed[-3:]:
        f = job_fields(c, job)
        assert (f["JobState"], f["Reason"]) == ("PENDING", "JobHeldUser")
    newer = c.sbatch("--hold", "--wrap", "true")
    assert newer > max(printed)
    c.run("scancel", *map(str, [*printed, newer])).check()


def test_ids_are_never_reused_after_a_restart(c: SlurmCluster) -> None:
    first = c.sbatch("--wrap", "true")
    c.wait_state(first, ["COMPLETED"])
    wait_for("the job to vanish", lambda: not c.run("scontrol", "show", "job", str(first)).ok, 15)
    assert c.stop_flurm(signal.SIGTERM) == 0
    c.start_flurm()
    second = c.sbatch("--wrap", "true")
    assert second == first + 1


def test_sigterm_restart_while_a_job_runs(c: SlurmCluster) -> None:
    # the job lasts until the test ends its sleep, however slow the restart is on a loaded machine
    argv = ["sleep", "604.321"]
    job = c.sbatch("--wrap", f"{' '.join(argv)}; exit 7")
    c.wait_state(job, ["RUNNING"])
    pids = wait_for("the job's process", lambda: pids_running(argv, c.conf), 10)
    assert c.stop_flurm(signal.SIGTERM) == 0
    assert pids_running(argv, c.conf) == pids  # slurmd keeps the job running without a controller
    c.start_flurm()
    assert job_fields(c, job)["JobState"] == "RUNNING"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    c.wait_state(job, ["FAILED"], timeout=30)
    f = job_fields(c, job)
    assert (f["ExitCode"], f["Reason"]) == ("7:0", "NonZeroExitCode")
    assert not pids_running(argv, c.conf)
    # what changed without a client waiting for it (the completion) was flushed at SIGTERM
    assert c.stop_flurm(signal.SIGTERM) == 0
    c.start_flurm()
    f = job_fields(c, job)
    assert (f["JobState"], f["ExitCode"]) == ("FAILED", "7:0")


# -- malformed input on the controller port ---------------------------------------------------------


def _exchange(c: SlurmCluster, data: bytes, *, half_close: bool = True, timeout: float = 15.0) -> bytes:
    """Send raw bytes to flurm's port; what comes back until flurm closes the connection."""
    with socket.create_connection(("127.0.0.1", c.ctld_port), timeout=timeout) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def _reply_type(data: bytes) -> int | None:
    """The message type of the first frame in ``data`` (None when flurm just closed)."""
    if len(data) < 10:
        return None
    (length,) = struct.unpack(">I", data[:4])
    assert len(data) >= 4 + length, "truncated reply"
    return int(struct.unpack(">H", data[8:10])[0])


def _still_serving(c: SlurmCluster) -> None:
    t0 = time.monotonic()
    r = c.run("scontrol", "ping").check()
    assert "UP" in r.stdout
    c.run("squeue").check()
    assert time.monotonic() - t0 < 3


def _signed(c: SlurmCluster, msg_type: int, body: bytes) -> bytes:
    cfg = load_config(c.conf)
    auth = MungeAuthenticator.from_slurm_conf(cfg.auth_info, cfg.raw.get("communicationparameters"))
    return encode_frame(msg_type, body, auth.sign(msg_type, body))


@pytest.mark.parametrize(
    "case",
    [
        "garbage",
        "huge length",
        "tiny length",
        "truncated",
        "foreign credential",
        "tampered body",
        "bad body",
        "unknown type",
    ],
)
def test_malformed_frames_are_refused_and_flurm_goes_on(c: SlurmCluster, case: str) -> None:
    ping = (GOLDEN / "auth" / "ping-c2s.bin").read_bytes()  # a real 1008 signed with another munge key
    if case == "garbage":
        data = struct.pack(">I", 64) + os.urandom(64)
    elif case == "huge length":
        data = struct.pack(">I", 0xFFFFFFF0) + os.urandom(64)
    elif case == "tiny length":
        data = struct.pack(">I", 2) + b"\x26\x00"
    elif case == "truncated":
        data = ping[: len(ping) // 2]
    elif case == "foreign credential":
        data = ping
    elif case == "tampered body":  # signed, then changed: the hash in the credential no longer matches
        signed = _signed(c, MsgType.REQUEST_JOB_INFO, encode_body(JobInfoRequest()))
        assert _reply_type(_exchange(c, signed)) == MsgType.RESPONSE_JOB_INFO  # untouched, it is answered
        data = signed[:-6] + b"\x01" + signed[-5:]  # show_flags changed
    elif case == "bad body":
        data = _signed(c, MsgType.REQUEST_JOB_INFO, b"\x01")
    else:
        data = _signed(c, 0x7777, b"")
    reply = _exchange(c, data)
    assert _reply_type(reply) in (None, MsgType.RESPONSE_SLURM_RC), reply[:32]
    _still_serving(c)


def test_idle_connections_delay_nobody(c: SlurmCluster) -> None:
    socks = [socket.create_connection(("127.0.0.1", c.ctld_port), timeout=5) for _ in range(50)]
    try:
        for s in socks[:25]:
            s.sendall(struct.pack(">I", 500) + b"\x26\x00")  # a frame that never completes
        for _ in range(3):
            _still_serving(c)
    finally:
        for s in socks:
            s.close()
