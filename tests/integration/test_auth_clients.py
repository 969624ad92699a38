"""Real SLURM 22.05 clients against flurm's auth: their credentials verify, and they accept (or refuse)
what flurm signs. A one-shot listener stands in for the controller; the clients are the unmodified Debian
binaries."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from munge_fixture import Munged

from flurm.auth import Identity, MungeAuthenticator, reply_uid_restriction
from flurm.auth.munge import MungeContext, MungeCredential
from flurm.protocol.constants import MsgType
from flurm.protocol.frame import Frame, FrameDecoder, encode_frame

ME = Identity(os.getuid(), os.getgid())
NOBODY = 65534
RC_OK = struct.pack(">I", 0)

needs_root = pytest.mark.skipif(os.getuid() != 0, reason="needs root (setpriv to another uid)")


@dataclass
class Seen:
    frame: Frame
    raw: MungeCredential


Reply = Callable[[MungeAuthenticator, Frame, Identity], bytes | None]


@dataclass
class OneShotController:
    """Accepts connections on 127.0.0.1, reads one frame each, records it, answers with ``reply``'s frame."""

    auth: MungeAuthenticator
    reply: Reply
    seen: list[Seen] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                try:
                    conn.settimeout(10)
                    dec = FrameDecoder()
                    frame = None
                    while frame is None:
                        data = conn.recv(65536)
                        if not data:
                            break
                        dec.feed(data)
                        frame = dec.next_frame()
                    if frame is None:
                        continue
                    assert frame.credential is not None
                    raw = self.auth.context.decode(frame.credential)  # first decode: metadata, no replay
                    self.seen.append(Seen(frame, raw))
                    identity = self.auth.verify(frame.msg_type, frame.body, frame.credential)  # a replay now
                    answer = self.reply(self.auth, frame, identity)
                    if answer is not None:
                        conn.sendall(answer)
                except BaseException as exc:  # reported by the test
                    self.errors.append(exc)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()


def ok_reply(auth: MungeAuthenticator, frame: Frame, identity: Identity) -> bytes:
    cred = auth.sign(MsgType.RESPONSE_SLURM_RC, RC_OK, uid_restriction=reply_uid_restriction(identity, 0, 0))
    return encode_frame(MsgType.RESPONSE_SLURM_RC, RC_OK, cred)


@pytest.fixture
def slurm_conf(munged: Munged) -> Callable[[int], Path]:
    """Writes a client slurm.conf into munged's directory (0755, so "nobody" clients can read it too)."""
    if shutil.which("scontrol") is None:
        pytest.fail("slurm-client is not installed")

    def write(port: int) -> Path:
        conf = munged.dir / f"slurm-{port}.conf"
        conf.write_text(
            "ClusterName=flurmauth\n"
            "SlurmctldHost=localhost(127.0.0.1)\n"
            f"SlurmctldPort={port}\n"
            "AuthType=auth/munge\n"
            f"AuthInfo=socket={munged.socket}\n"
            "SlurmUser=root\n"
            "SlurmdUser=root\n"
        )
        conf.chmod(0o644)
        return conf

    return write


@pytest.fixture
def controller(munged: Munged) -> Iterator[Callable[[Reply], OneShotController]]:
    started: list[OneShotController] = []

    def start(reply: Reply) -> OneShotController:
        c = OneShotController(MungeAuthenticator(str(munged.socket)), reply)
        started.append(c)
        return c

    yield start
    for c in started:
        c.close()


def run_client(conf: Path, *argv: str, as_uid: int | None = None) -> subprocess.CompletedProcess[str]:
    cmd = list(argv)
    if as_uid is not None:
        cmd = ["setpriv", f"--reuid={as_uid}", f"--regid={as_uid}", "--clear-groups", *cmd]
    env = dict(os.environ, SLURM_CONF=str(conf))
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, cwd="/")


def test_scontrol_ping_credential_verifies_and_our_reply_is_accepted(
    slurm_conf: Callable[[int], Path], controller: Callable[[Reply], OneShotController]
) -> None:
    ctl = controller(ok_reply)
    result = run_client(slurm_conf(ctl.port), "scontrol", "ping")
    assert not ctl.errors, ctl.errors
    assert "is UP" in result.stdout, result.stdout + result.stderr
    [seen] = ctl.seen
    assert seen.frame.msg_type == MsgType.REQUEST_PING
    assert (seen.raw.uid, seen.raw.gid) == (ME.uid, ME.gid)
    assert seen.raw.payload[:1] == b"\x02" and len(seen.raw.payload) == 33  # K12
    # scontrol ping restricts its credential to SlurmUser: only that uid can read it
    assert seen.raw.uid_restriction == 0


def test_squeue_credential_is_unrestricted_k12(
    slurm_conf: Callable[[int], Path], controller: Callable[[Reply], OneShotController]
) -> None:
    ctl = controller(lambda auth, frame, identity: None)  # read, verify, close without a reply
    result = run_client(slurm_conf(ctl.port), "squeue")
    assert not ctl.errors, ctl.errors
    assert result.returncode != 0
    [seen] = ctl.seen
    assert seen.frame.msg_type == MsgType.REQUEST_JOB_INFO
    assert seen.raw.uid_restriction is None and seen.raw.payload[:1] == b"\x02"


@pytest.mark.parametrize(
    "bad",
    ["zero_hash", "other_msg_type", "restricted_elsewhere"],
)
def test_client_refuses_a_badly_signed_reply(
    bad: str, slurm_conf: Callable[[int], Path], controller: Callable[[Reply], OneShotController]
) -> None:
    def reply(auth: MungeAuthenticator, frame: Frame, identity: Identity) -> bytes:
        if bad == "zero_hash":
            cred = auth.encode(b"\x02" + bytes(32))
        elif bad == "other_msg_type":
            cred = auth.sign(MsgType.RESPONSE_SLURM_RC + 1, RC_OK)
        else:
            cred = auth.sign(MsgType.RESPONSE_SLURM_RC, RC_OK, uid_restriction=12345)
        return encode_frame(MsgType.RESPONSE_SLURM_RC, RC_OK, cred)

    ctl = controller(reply)
    result = run_client(slurm_conf(ctl.port), "scontrol", "ping")
    assert not ctl.errors, ctl.errors
    assert len(ctl.seen) == 1
    assert "is DOWN" in result.stdout, result.stdout + result.stderr
    expected = "Unauthorized credential" if bad == "restricted_elsewhere" else "Header lengths are longer"
    assert expected in result.stderr


@needs_root
def test_unprivileged_client_needs_a_reply_restricted_to_itself(
    slurm_conf: Callable[[int], Path], controller: Callable[[Reply], OneShotController]
) -> None:
    ctl = controller(ok_reply)
    conf = slurm_conf(ctl.port)
    result = run_client(conf, "scontrol", "ping", as_uid=NOBODY)
    assert not ctl.errors, ctl.errors
    assert "is UP" in result.stdout, result.stdout + result.stderr
    assert (ctl.seen[0].raw.uid, ctl.seen[0].raw.uid_restriction) == (NOBODY, 0)

    def to_root(auth: MungeAuthenticator, frame: Frame, identity: Identity) -> bytes:
        cred = auth.sign(MsgType.RESPONSE_SLURM_RC, RC_OK, uid_restriction=0)
        return encode_frame(MsgType.RESPONSE_SLURM_RC, RC_OK, cred)

    ctl2 = controller(to_root)
    result = run_client(slurm_conf(ctl2.port), "scontrol", "ping", as_uid=NOBODY)
    assert "is DOWN" in result.stdout, result.stdout + result.stderr


def test_munge_context_is_the_authenticators(munged: Munged) -> None:
    auth = MungeAuthenticator(str(munged.socket), ttl=60)
    assert isinstance(auth.context, MungeContext) and auth.context.ttl == 60
    assert auth.context.decode(auth.sign(1008, b"")).ttl == 60
