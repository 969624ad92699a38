"""SLURM's message hash: K12 vectors, the accept/reject rules, and hashes real SLURM 22.05 computed."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from flurm.auth.errors import AuthError
from flurm.auth.hash import (
    K12_DIGEST_SIZE,
    HashError,
    HashType,
    check_hash,
    compute_hash,
    k12_digest,
    kangaroo_twelve,
)
from flurm.protocol.constants import SLURM_21_08_PROTOCOL_VERSION, SLURM_22_05_PROTOCOL_VERSION, SlurmRC
from flurm.protocol.frame import Frame, FrameDecoder

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "auth"
CAPTURES = REPO / "tests" / "golden" / "captures"

PING = 1008


def ptn(n: int) -> bytes:
    """The KangarooTwelve test-vector pattern: 00 01 ... FA repeated."""
    return bytes(i % 251 for i in range(n))


def frames_of(path: Path) -> list[Frame]:
    dec = FrameDecoder()
    dec.feed(path.read_bytes())
    out = []
    while (f := dec.next_frame()) is not None:
        out.append(f)
    assert dec.needed() > 0 and out, f"{path} holds no complete frames or trailing bytes"
    return out


# KangarooTwelve test vectors of the specification (XKCP TestVectors/KangarooTwelve.txt, RFC 9861 KT128)
@pytest.mark.parametrize(
    ("data", "custom", "expected"),
    [
        (b"", b"", "1ac2d450fc3b4205d19da7bfca1b37513c0803577ac7167f06fe2ce1f0ef39e5"),
        (ptn(1), b"", "2bda92450e8b147f8a7cb629e784a058efca7cf7d8218e02d345dfaa65244a1f"),
        (ptn(17), b"", "6bf75fa2239198db4772e36478f8e19b0f371205f6a9a93a273f51df37122888"),
        (b"", ptn(1), "fab658db63e94a246188bf7af69a133045f46ee984c56e3c3328caaf1aa1a583"),
        (b"\xff", ptn(41), "d848c5068ced736f4462159b9867fd4c20b808acc3d5bc48e0b06ba0a3762ec4"),
        (b"\xff" * 3, ptn(41**2), "c389e5009ae57120854c2e8c64670ac01358cf4c1baf89447a724234dc7ced74"),
    ],
)
def test_kangaroo_twelve_spec_vectors(data: bytes, custom: bytes, expected: str) -> None:
    assert kangaroo_twelve(data, custom).hex() == expected


def test_k12_digest_uses_big_endian_msg_type_as_customisation() -> None:
    body = b"some body"
    digest = k12_digest(PING, body)
    assert len(digest) == K12_DIGEST_SIZE == 32
    assert digest == kangaroo_twelve(body, b"\x03\xf0")
    assert digest != kangaroo_twelve(body, b"\xf0\x03")
    assert digest != kangaroo_twelve(body, b"")
    assert digest != k12_digest(PING + 1, body)
    assert digest != k12_digest(PING, body + b"\0")


def test_compute_hash_layouts() -> None:
    body = b"\x00\x00\x00\x07"
    k12 = compute_hash(8001, body)
    assert k12[0] == 2 and len(k12) == 33
    assert k12[1:] == k12_digest(8001, body)
    assert compute_hash(8001, body, hash_type=HashType.DEFAULT) == k12
    assert compute_hash(PING, b"", hash_type=HashType.NONE) == b"\x01\x03\xf0"
    # up to 21.08 SLURM sends type 1 with msg_type in host order, whatever is asked
    assert compute_hash(PING, body, version=SLURM_21_08_PROTOCOL_VERSION) == b"\x01\xf0\x03"
    with pytest.raises(ValueError):
        compute_hash(PING, b"", hash_type=HashType.SHA256)


@pytest.mark.parametrize("msg_type", [PING, 2003, 4003, 8001, 0xFFFF, 1])
@pytest.mark.parametrize("body", [b"", b"\x00", bytes(range(256)) * 40])
def test_computed_hashes_pass_the_check(msg_type: int, body: bytes) -> None:
    assert check_hash(compute_hash(msg_type, body), msg_type, body) == HashType.K12
    one = compute_hash(msg_type, body, hash_type=HashType.NONE)
    assert check_hash(one, msg_type, body) == HashType.NONE


def test_accepted_payloads() -> None:
    body = b"abc"
    digest = k12_digest(PING, body)
    assert check_hash(b"", PING, body) == HashType.DEFAULT  # an empty payload: reply with K12
    assert check_hash(b"\x01" + struct.pack(">H", PING), PING, body) == HashType.NONE
    assert check_hash(b"\x02" + digest, PING, body) == HashType.K12
    # type 0 (HASH_PLUGIN_DEFAULT) selects the K12 plugin in _check_hash; checked live against slurmctld
    assert check_hash(b"\x00" + digest, PING, body) == HashType.K12
    # before 22.05 the type-1 msg_type may come in either byte order
    assert check_hash(b"\x01\xf0\x03", PING, body, version=SLURM_21_08_PROTOCOL_VERSION) == HashType.NONE
    assert check_hash(b"\x01\x03\xf0", PING, body, version=SLURM_21_08_PROTOCOL_VERSION) == HashType.NONE


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"\x02" + bytes(32), "zeroed K12"),
        (b"\x02" + k12_digest(PING, b"abd"), "K12 of another body"),
        (b"\x02" + k12_digest(PING + 1, b"abc"), "K12 under another msg_type"),
        (b"\x02" + kangaroo_twelve(b"abc", b"\xf0\x03"), "little-endian customisation"),
        (b"\x02" + k12_digest(PING, b"abc")[:31], "truncated digest"),
        (b"\x02" + k12_digest(PING, b"abc") + b"\x00", "digest with a trailing byte"),
        (b"\x02", "type byte alone"),
        (b"\x03" + k12_digest(PING, b"abc"), "SHA256: no plugin in 22.05"),
        (b"\xff" + k12_digest(PING, b"abc"), "unknown type"),
        (b"\x01\xf0\x03", "type 1 in host order at 22.05"),
        (b"\x01\x03\xf1", "type 1 naming another msg_type"),
        (b"\x01\x03", "type 1 too short"),
        (b"\x01\x03\xf0\x00", "type 1 too long"),
        (b"\x01", "type 1 without msg_type"),
    ],
)
def test_rejected_payloads(payload: bytes, why: str) -> None:
    with pytest.raises(HashError) as exc:
        check_hash(payload, PING, b"abc", version=SLURM_22_05_PROTOCOL_VERSION)
    assert exc.value.rc == SlurmRC.ESLURM_PROTOCOL_INCOMPLETE_PACKET, why
    assert isinstance(exc.value, AuthError)


def test_communication_parameters_block_null_and_zero_hash() -> None:
    body = b"x"
    with pytest.raises(HashError):
        check_hash(b"", PING, body, block_null_hash=True)
    with pytest.raises(HashError):
        check_hash(b"\x01\x03\xf0", PING, body, block_zero_hash=True)
    # K12 passes either way; each flag blocks only its own case
    k12 = compute_hash(PING, body)
    assert check_hash(k12, PING, body, block_null_hash=True, block_zero_hash=True) == HashType.K12
    assert check_hash(b"", PING, body, block_zero_hash=True) == HashType.DEFAULT
    assert check_hash(b"\x01\x03\xf0", PING, body, block_null_hash=True) == HashType.NONE


def test_hashes_made_by_real_slurm_match() -> None:
    """Frames real 22.05 clients and slurmctld exchanged, with the munge payloads decoded while the key
    existed: each is b"\\x02" + the K12 flurm computes over that frame's body."""
    payloads = json.loads((GOLDEN / "munge_payloads.json").read_text())
    assert len(payloads) == 6
    checked = 0
    for name, expected in payloads.items():
        frames = frames_of(GOLDEN / name)
        assert [f.msg_type for f in frames] == [e["msg_type"] for e in expected]
        for frame, entry in zip(frames, expected, strict=True):
            payload = bytes.fromhex(entry["munge_payload"])
            assert len(frame.body) == entry["body_length"]
            assert payload == compute_hash(frame.msg_type, frame.body), name
            assert check_hash(payload, frame.msg_type, frame.body) == HashType.K12
            tampered = bytes([frame.body[0] ^ 1]) + frame.body[1:] if frame.body else b"\0"
            with pytest.raises(HashError):
                check_hash(payload, frame.msg_type, tampered)
            checked += 1
    assert checked == 6
    # bodies of several sizes were covered, the empty ping included
    sizes = sorted(e["body_length"] for v in payloads.values() for e in v)
    assert sizes[0] == 0 and sizes[-1] > 300


def test_captured_bodies_hash_consistently() -> None:
    """The captures' credentials cannot be decoded (their key is gone); their bodies still give
    stable, distinct hashes that pass the check, and a flipped bit fails it."""
    files = sorted(CAPTURES.glob("*/*.bin"))
    assert len(files) >= 20, f"captures missing under {CAPTURES}"
    seen: dict[bytes, tuple[int, bytes]] = {}
    count = 0
    for path in files:
        for frame in frames_of(path):
            assert frame.credential is not None and frame.credential.startswith(b"MUNGE:")
            payload = compute_hash(frame.msg_type, frame.body)
            assert payload == compute_hash(frame.msg_type, bytes(frame.body))
            assert check_hash(payload, frame.msg_type, frame.body) == HashType.K12
            if frame.body:
                flipped = frame.body[:-1] + bytes([frame.body[-1] ^ 0x80])
                with pytest.raises(HashError):
                    check_hash(payload, frame.msg_type, flipped)
            key = (frame.msg_type, frame.body)
            if payload in seen:
                assert seen[payload] == key  # equal hashes only for equal messages
            seen[payload] = key
            count += 1
    assert count >= 100
