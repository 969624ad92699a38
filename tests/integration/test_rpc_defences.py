"""The RPC server's defences against real SLURM clients.

A captured request sent again: flurm must not act on a replayed MUNGE credential. A proxy
between sbatch and flurm records what sbatch sends; the test then sends the recorded
REQUEST_SUBMIT_BATCH_JOB frame to flurm twice more. munged reports the second decode of a credential
as EMUNGE_CRED_REPLAYED; flurm refuses it as auth/munge does in a SLURM build without
MULTIPLE_SLURMD ("Munge decode failed: Replayed credential"): the connection is closed without a
reply, and the one job sbatch made stays the only one.

A submission larger than its message type may be is refused after the header, before its body is
read: sbatch reports "Insane message length", and flurm serves the next client.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from tcp_peers import LoopbackServer

from flurm.protocol.constants import MsgType
from flurm.protocol.frame import FrameDecoder
from flurm.protocol.limits import BodyLimits
from harness.loopback import SlurmCluster, cluster


def _read_frame_bytes(sock: socket.socket) -> bytes:
    """One whole frame (length prefix included) as it came, or b"" if the peer closed first."""
    data = b""
    while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
        chunk = sock.recv(65536)
        if not chunk:
            return b""
        data += chunk
    return data


class RecordingProxy(LoopbackServer):
    """Relays each connection's one request and one reply between a client and ``target`` port,
    keeping the request bytes."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.requests: list[bytes] = []
        super().__init__()

    def handle(self, client: socket.socket) -> None:
        with socket.create_connection(("127.0.0.1", self.target), timeout=30) as upstream:
            client.settimeout(30)
            request = _read_frame_bytes(client)
            if not request:
                return
            self.requests.append(request)
            upstream.sendall(request)
            reply = _read_frame_bytes(upstream)
            if reply:
                client.sendall(reply)

    def captured(self, msg_type: int) -> bytes:
        for raw in self.requests:
            dec = FrameDecoder()
            dec.feed(raw)
            frame = dec.next_frame()
            if frame is not None and frame.msg_type == msg_type:
                return raw
        raise AssertionError(f"no message of type {msg_type} went through the proxy")


@pytest.fixture(scope="module")
def flurm() -> Iterator[SlurmCluster]:
    with cluster("flurm", nodes=1) as c:
        yield c


def _send_and_read_all(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def _job_ids(c: SlurmCluster) -> list[str]:
    return c.run("squeue", "-h", "-o", "%i").check().stdout.split()


def test_a_replayed_sbatch_frame_creates_no_second_job(flurm: SlurmCluster) -> None:
    proxy = RecordingProxy(flurm.ctld_port)
    try:
        job_id = flurm.sbatch("--hold", "--wrap", "true", conf=flurm.client_conf(proxy.port))
        frame = proxy.captured(MsgType.REQUEST_SUBMIT_BATCH_JOB)
    finally:
        proxy.close()
    assert _job_ids(flurm) == [str(job_id)]
    for _ in range(2):
        assert _send_and_read_all(flurm.ctld_port, frame) == b""  # closed without a reply
    assert _job_ids(flurm) == [str(job_id)]
    assert "Replayed credential" in flurm.log_tail(200)


def test_a_submission_over_its_size_limit_is_refused_unread_and_flurm_goes_on(flurm: SlurmCluster) -> None:
    """A body larger than a batch submit may be (max_script_size + environment + other fields) is
    refused after the header: sbatch fails, no job is made, and the next client is served."""
    before = _job_ids(flurm)
    script = flurm.jobs_dir / "huge.sh"
    limit = BodyLimits().for_type(MsgType.REQUEST_SUBMIT_BATCH_JOB)
    script.write_text("#!/bin/sh\n" + "#" * limit + "\ntrue\n")
    try:
        r = flurm.run("sbatch", "--hold", str(script), timeout=120)
    finally:
        script.unlink()
    assert not r.ok, r.stdout  # sbatch: error: Batch job submission failed: Insane message length
    assert _job_ids(flurm) == before
    assert "refusing REQUEST_SUBMIT_BATCH_JOB" in flurm.log_tail(200)
    job_id = flurm.sbatch("--hold", "--wrap", "true")  # served as before
    assert str(job_id) in _job_ids(flurm)
