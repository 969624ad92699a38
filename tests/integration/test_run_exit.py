"""``flurm run`` ends with a status a supervisor can act on: non-zero, after one line saying why, when
it cannot go on; zero when asked to stop (SIGTERM).

The fatal case: flurm in shadow of a "slurmctld" whose answers flurm cannot read: bytes that are
not SLURM, or a frame of an auth plugin other than munge (a newer or differently built SLURM).
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from munge_fixture import Munged
from tcp_peers import LoopbackServer

from flurm.auth.authenticator import MungeAuthenticator
from flurm.protocol.constants import AUTH_PLUGIN_MUNGE, MsgType
from flurm.protocol.frame import encode_frame

RC_OK = b"\0\0\0\0"


class FakeSlurmctld(LoopbackServer):
    """Answers every connection with ``answer`` once its request arrived."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        conn.recv(65536)
        conn.sendall(self.answer)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _conf(munged: Munged, ctld_port: int, tmp: Path) -> Path:
    conf = tmp / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=exit",
                "SlurmctldHost=localhost(127.0.0.1)",
                f"SlurmctldPort={ctld_port}",
                f"SlurmdPort={_free_port()}",
                "AuthType=auth/munge",
                f"AuthInfo=socket={munged.socket}",
                f"StateSaveLocation={tmp / 'state'}",
                "SlurmUser=root",
                "NodeName=n1 CPUs=1 NodeAddr=127.0.0.1",
                "PartitionName=p Nodes=n1 Default=YES",
                "",
            ]
        )
    )
    return conf


def _flurm(
    conf: Path, tmp: Path, *extra: str, preexec: Callable[[], None] | None = None
) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "flurm.cli", "run", "-f", str(conf), "--http-port", "0"]
    cmd += ["--state-dir", str(tmp / "flurm-state"), "--listen", "127.0.0.1", *extra]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=preexec
    )


def _wrong_plugin_frame(munged: Munged) -> bytes:
    auth = MungeAuthenticator(str(munged.socket))
    frame = bytearray(
        encode_frame(MsgType.RESPONSE_SLURM_RC, RC_OK, auth.sign(MsgType.RESPONSE_SLURM_RC, RC_OK))
    )
    at = frame.index(AUTH_PLUGIN_MUNGE.to_bytes(4, "big"), 4)
    frame[at : at + 4] = (102).to_bytes(4, "big")  # auth/jwt's id in the header
    return bytes(frame)


@pytest.fixture
def tmp(tmp_path: Path) -> Iterator[Path]:
    tmp_path.chmod(0o755)
    yield tmp_path


@pytest.mark.parametrize("answer", ["garbage", "other auth plugin"])
def test_shadow_of_a_slurmctld_flurm_cannot_read_exits_non_zero_with_one_line(
    munged: Munged, tmp: Path, answer: str
) -> None:
    data = b"\0\0\0\x20" + b"x" * 32 if answer == "garbage" else _wrong_plugin_frame(munged)
    fake = FakeSlurmctld(data)
    try:
        proc = _flurm(_conf(munged, fake.port, tmp), tmp, "--shadow", "--port", str(_free_port()))
        out, _ = proc.communicate(timeout=120)
    finally:
        fake.close()
    assert proc.returncode != 0, out
    assert "Traceback" not in out, out
    fatal = [line for line in out.splitlines() if "fatal" in line]
    assert len(fatal) == 1, out
    assert "cannot import from slurmctld" in fatal[0]


def _low_soft_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def _open_files_limits(pid: int) -> tuple[str, str]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return soft, hard
    raise AssertionError("no open files limit")


def test_sigterm_exits_zero(munged: Munged, tmp: Path) -> None:
    """... and a running flurm may hold as many connections as the hard limit allows (from a soft
    limit of 256), as slurmctld raises its own at start."""
    port = _free_port()
    proc = _flurm(_conf(munged, port, tmp), tmp, "--port", str(port), preexec=_low_soft_file_limit)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # until it says it listens
            if "listening on" in line:
                break
        else:
            pytest.fail(f"flurm exited with {proc.wait()} before listening")
        soft, hard = _open_files_limits(proc.pid)
        assert soft == hard, (soft, hard)
        os.kill(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, out
    assert "fatal" not in out


def test_sigterm_with_the_api_on_and_idle_clients_exits_zero_cleanly(munged: Munged, tmp: Path) -> None:
    """An idle client of either port does not hold SIGTERM up (nor make flurm log a traceback)."""
    port, http_port = _free_port(), _free_port()
    proc = _flurm(_conf(munged, port, tmp), tmp, "--port", str(port), "--http-port", str(http_port))
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # until it says it listens (after the HTTP API started)
            if "listening on" in line:
                break
        else:
            pytest.fail(f"flurm exited with {proc.wait()} before listening")
        with (
            socket.create_connection(("127.0.0.1", port)),  # connected, never sends
            socket.create_connection(("127.0.0.1", http_port)) as http,
        ):
            http.sendall(b"GET /health HTTP/1.1\r\nHost: flurm\r\n\r\n")
            assert http.recv(65536).startswith(b"HTTP/1.1")  # and keeps the connection open
            os.kill(proc.pid, signal.SIGTERM)
            out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
