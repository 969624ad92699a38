"""libmunge through ctypes against a real munged of our own (munge_fixture.py)."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from munge_fixture import Munged, start_munged

from flurm.auth import (
    AuthServiceError,
    CredentialError,
    HashError,
    Identity,
    MungeAuthenticator,
    compute_hash,
)
from flurm.auth.munge import MungeContext, MungeCredential, MungeErr, MungeError
from flurm.protocol.constants import SlurmRC
from flurm.protocol.frame import FrameDecoder

REPO = Path(__file__).resolve().parents[2]
CAPTURES = REPO / "tests" / "golden" / "captures"
ME = Identity(os.getuid(), os.getgid())

needs_root = pytest.mark.skipif(os.getuid() != 0, reason="needs root (setpriv to another uid)")


@pytest.fixture
def ctx(munged: Munged) -> MungeContext:
    return MungeContext(str(munged.socket))


def test_round_trip_keeps_payload_uid_gid(ctx: MungeContext) -> None:
    before = int(time.time())
    cred = ctx.encode(b"\x00payload with NUL\x00")
    assert cred.startswith(b"MUNGE:") and cred.endswith(b":") and b"\0" not in cred
    decoded = ctx.decode(cred)
    assert isinstance(decoded, MungeCredential)
    assert decoded.payload == b"\x00payload with NUL\x00"
    assert (decoded.uid, decoded.gid) == (ME.uid, ME.gid)
    assert decoded.ttl == 300  # munged's default
    assert before <= decoded.encode_time <= decoded.decode_time <= int(time.time())
    assert decoded.origin_addr.count(".") == 3
    assert decoded.uid_restriction is None and decoded.gid_restriction is None


def test_empty_and_large_payloads(ctx: MungeContext) -> None:
    assert ctx.decode(ctx.encode()).payload == b""
    big = os.urandom(256 * 1024)
    assert ctx.decode(ctx.encode(big)).payload == big


def test_ttl_is_carried(munged: Munged) -> None:
    short = MungeContext(str(munged.socket), ttl=42)
    decoded = short.decode(short.encode())
    assert decoded.ttl == 42


def test_uid_restriction_refuses_other_uids_root_included(ctx: MungeContext, munged: Munged) -> None:
    cred = ctx.encode(b"secret", uid_restriction=12345)
    with pytest.raises(MungeError) as exc:
        ctx.decode(cred)
    assert exc.value.code == MungeErr.CRED_UNAUTHORIZED
    assert exc.value.credential is None  # nothing leaks
    assert "Unauthorized" in exc.value.message
    # the real unmunge agrees (its exit status is the munge error code)
    refused = munged.unmunge(ctx.encode(b"secret", uid_restriction=12345))
    assert refused.returncode == MungeErr.CRED_UNAUTHORIZED
    # restricted to ourselves: fine, and the restriction is reported
    mine = ctx.decode(ctx.encode(b"ok", uid_restriction=ME.uid))
    assert mine.payload == b"ok" and mine.uid_restriction == ME.uid


@needs_root
def test_uid_restriction_admits_the_named_uid(ctx: MungeContext, munged: Munged) -> None:
    result = munged.unmunge(ctx.encode(b"secret", uid_restriction=12345), as_uid=12345)
    assert result.returncode == 0, result.stderr
    assert b"UID_RESTRICTION:" in result.stdout and b"12345" in result.stdout


def test_replay_is_detected_but_content_returned(ctx: MungeContext) -> None:
    cred = ctx.encode(b"once")
    assert ctx.decode(cred).payload == b"once"
    with pytest.raises(MungeError) as exc:
        ctx.decode(cred)
    assert exc.value.code == MungeErr.CRED_REPLAYED
    assert exc.value.credential is not None and exc.value.credential.payload == b"once"
    assert exc.value.credential.uid == ME.uid


def test_authenticator_tolerates_replays_like_multiple_slurmd(munged: Munged) -> None:
    body = b"\x00\x00\x00\x00"
    tolerant = MungeAuthenticator(str(munged.socket))
    cred = tolerant.sign(1008, body)
    assert tolerant.verify(1008, body, cred) == ME
    assert tolerant.verify(1008, body, cred) == ME  # replay accepted (Debian: MULTIPLE_SLURMD)
    assert tolerant.decode(cred).replayed
    strict = MungeAuthenticator(str(munged.socket), allow_replay=False)
    with pytest.raises(CredentialError) as exc:
        strict.verify(1008, body, cred)
    assert exc.value.munge_code == MungeErr.CRED_REPLAYED
    assert exc.value.rc == SlurmRC.SLURM_PROTOCOL_AUTHENTICATION_ERROR


def test_expired_credential(munged: Munged) -> None:
    cred = MungeContext(str(munged.socket), ttl=1).encode(b"short-lived")
    time.sleep(2.1)
    with pytest.raises(MungeError) as exc:
        MungeContext(str(munged.socket)).decode(cred)
    assert exc.value.code == MungeErr.CRED_EXPIRED
    assert exc.value.credential is not None
    assert exc.value.credential.ttl == 1 and exc.value.credential.payload == b"short-lived"
    with pytest.raises(CredentialError) as cexc:
        MungeAuthenticator(str(munged.socket)).decode(cred)
    assert cexc.value.munge_code == MungeErr.CRED_EXPIRED


@pytest.mark.parametrize(
    ("cred", "codes"),
    [
        (b"garbage", {MungeErr.BAD_CRED}),
        (b"MUNGE:garbage:", {MungeErr.BAD_CRED}),
        (b"MUNGE:AAAA:", {MungeErr.BAD_VERSION, MungeErr.BAD_CRED}),
        (b"", {MungeErr.BAD_CRED}),
        (b"MUNGE:x\0:", {MungeErr.BAD_CRED}),
    ],
)
def test_garbage_credentials(ctx: MungeContext, cred: bytes, codes: set[MungeErr]) -> None:
    with pytest.raises(MungeError) as exc:
        ctx.decode(cred)
    assert exc.value.code in codes, exc.value


def test_tampered_credential_is_invalid(ctx: MungeContext) -> None:
    cred = bytearray(ctx.encode(b"x" * 40))
    middle = len(cred) // 2
    cred[middle] = ord("A") if cred[middle] != ord("A") else ord("B")
    with pytest.raises(MungeError) as exc:
        ctx.decode(bytes(cred))
    assert exc.value.code in {MungeErr.CRED_INVALID, MungeErr.BAD_CRED}


def test_credential_of_another_key_is_invalid(munged: Munged) -> None:
    other = start_munged()
    try:
        foreign = MungeContext(str(other.socket)).encode(b"from elsewhere")
    finally:
        other.stop()
    with pytest.raises(MungeError) as exc:
        MungeContext(str(munged.socket)).decode(foreign)
    assert exc.value.code == MungeErr.CRED_INVALID


def test_real_captured_credentials_are_k12_sized_and_undecodable(munged: Munged) -> None:
    """The captures' client credentials carry a 33-byte payload (b"\\x02" + K12): same length as ours with
    such a payload, different from an empty or 3-byte one. Their key is gone: decoding fails as invalid."""
    ctx = MungeContext(str(munged.socket))
    k12_len = len(ctx.encode(compute_hash(1008, b"")))
    assert len(ctx.encode(b"")) != k12_len and len(ctx.encode(b"\x01\x03\xf0")) != k12_len
    files = sorted((CAPTURES / "proxy").glob("*-c2s.bin"))
    assert files, f"no captures under {CAPTURES}"
    creds = []
    for path in files:
        dec = FrameDecoder()
        dec.feed(path.read_bytes())
        while (frame := dec.next_frame()) is not None:
            assert frame.credential is not None
            creds.append(frame.credential)
    assert {len(c) for c in creds} == {k12_len}
    with pytest.raises(MungeError) as exc:
        ctx.decode(creds[0])
    assert exc.value.code == MungeErr.CRED_INVALID


def test_cli_credentials_decode_and_ours_unmunge(ctx: MungeContext, munged: Munged) -> None:
    cli = munged.munge(b"from the munge command")
    decoded = ctx.decode(cli)
    assert decoded.payload == b"from the munge command" and decoded.uid == ME.uid
    restricted = munged.munge(b"r", uid_restriction=ME.uid, ttl=77)
    r = ctx.decode(restricted)
    assert r.uid_restriction == ME.uid and r.ttl == 77
    result = munged.unmunge(ctx.encode(b"to the unmunge command"))
    assert result.returncode == 0 and b"STATUS:" in result.stdout and b"Success" in result.stdout


def test_cli_made_message_credentials_verify(munged: Munged) -> None:
    """A header credential built by the munge CLI (as the slurmd-protocol live harness did) verifies."""
    auth = MungeAuthenticator(str(munged.socket))
    body = b"\x00\x00\x00\x01"
    assert auth.verify(1008, body, munged.munge(compute_hash(1008, body))) == ME
    with pytest.raises(HashError):
        auth.verify(1008, body + b"\0", munged.munge(compute_hash(1008, body)))


@needs_root
def test_identity_of_another_uid(munged: Munged) -> None:
    """Root may have munge stamp another uid/gid on a credential (munge --uid/--gid): verify reports that
    identity, which is how a request from an ordinary user looks to the controller."""
    auth = MungeAuthenticator(str(munged.socket))
    other = subprocess.run(
        ["munge", "--socket", str(munged.socket), "--uid", "1234", "--gid", "4321"],
        input=compute_hash(2003, b""),
        capture_output=True,
        check=True,
        timeout=10,
    ).stdout.strip()
    assert auth.verify(2003, b"", other) == Identity(1234, 4321)


def test_socket_errors(tmp_path: Path) -> None:
    missing = str(tmp_path / "no.sock")
    t0 = time.monotonic()
    with pytest.raises(MungeError) as exc:
        MungeContext(missing, socket_retries=0).encode()
    assert exc.value.code == MungeErr.SOCKET
    assert time.monotonic() - t0 < 1.0
    t0 = time.monotonic()
    with pytest.raises(MungeError):
        MungeContext(missing, socket_retries=3, retry_delay=0.05).decode(b"MUNGE:x:")
    assert time.monotonic() - t0 >= 0.15  # retried 3 times, 50 ms apart
    auth = MungeAuthenticator(missing, socket_retries=0)
    with pytest.raises(AuthServiceError) as aexc:
        auth.sign(1008, b"")
    assert aexc.value.munge_code == MungeErr.SOCKET and aexc.value.rc == SlurmRC.ESLURM_AUTH_CRED_INVALID
    with pytest.raises(AuthServiceError):
        auth.verify(1008, b"", b"MUNGE:x:")


def test_self_test(munged: Munged) -> None:
    MungeAuthenticator(str(munged.socket)).self_test()


def test_thread_pool_round_trips(munged: Munged) -> None:
    auth = MungeAuthenticator(str(munged.socket))

    def one(i: int) -> Identity:
        body = i.to_bytes(4, "big") * (i % 50)
        cred = auth.sign(2003 + i % 7, body)
        return auth.verify(2003 + i % 7, body, cred)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(800)))
    assert results == [ME] * 800


def test_latency(munged: Munged, capsys: pytest.CaptureFixture[str]) -> None:
    """Measured, not optimised for: median encode/decode against a local munged (printed with -s)."""
    ctx = MungeContext(str(munged.socket))
    payload = compute_hash(2003, b"")
    for _ in range(50):
        ctx.decode(ctx.encode(payload))
    enc, dec = [], []
    for _ in range(300):
        t0 = time.perf_counter()
        cred = ctx.encode(payload)
        t1 = time.perf_counter()
        ctx.decode(cred)
        t2 = time.perf_counter()
        enc.append(t1 - t0)
        dec.append(t2 - t1)
    enc_ms, dec_ms = statistics.median(enc) * 1e3, statistics.median(dec) * 1e3
    with capsys.disabled():
        print(f"\nmunge latency: encode median {enc_ms:.3f} ms, decode median {dec_ms:.3f} ms")
    assert enc_ms < 20 and dec_ms < 20
