"""The Authenticator contract through FakeAuthenticator, plus AuthInfo parsing and reply restrictions."""

from __future__ import annotations

import pytest

from flurm.auth import (
    ROOT,
    SLURM_AUTH_NOBODY,
    Authenticator,
    AuthError,
    CredentialError,
    FakeAuthenticator,
    HashError,
    HashType,
    Identity,
    MungeAuthenticator,
    compute_hash,
    k12_digest,
    parse_auth_info,
    reply_uid_restriction,
)
from flurm.auth.munge import MungeErr
from flurm.protocol.constants import SLURM_21_08_PROTOCOL_VERSION, SlurmRC

ALICE = Identity(1000, 1000)
BOB = Identity(1001, 100)
BODY = b"\x00\x00\x00\x2a body"


def test_credential_format_is_deterministic() -> None:
    auth = FakeAuthenticator(ALICE)
    cred = auth.sign(2003, BODY)
    assert cred == b"FAKE:1000:1000:*:" + compute_hash(2003, BODY).hex().encode()
    assert cred == auth.sign(2003, BODY)
    assert auth.sign(2003, BODY, uid_restriction=7).startswith(b"FAKE:1000:1000:7:02")
    assert isinstance(auth, Authenticator)


def test_sign_then_verify_gives_the_signer_identity() -> None:
    client = FakeAuthenticator(ALICE)
    server = FakeAuthenticator(ROOT)
    assert server.verify(2003, BODY, client.sign(2003, BODY)) == ALICE
    assert server.verify(2003, BODY, FakeAuthenticator(BOB).sign(2003, BODY)) == BOB


@pytest.mark.parametrize(
    ("msg_type", "body"),
    [(2003, BODY + b"x"), (2003, BODY[:-1]), (2004, BODY), (2003, b"")],
)
def test_hash_must_match_type_and_body(msg_type: int, body: bytes) -> None:
    cred = FakeAuthenticator(ALICE).sign(2003, BODY)
    with pytest.raises(HashError) as exc:
        FakeAuthenticator().verify(msg_type, body, cred)
    assert exc.value.rc == SlurmRC.ESLURM_PROTOCOL_INCOMPLETE_PACKET


def test_other_hash_kinds_follow_slurm_rules() -> None:
    client = FakeAuthenticator(ALICE)
    server = FakeAuthenticator()
    assert server.verify(2003, BODY, client.encode(b"")) == ALICE
    assert server.verify(2003, BODY, client.sign(2003, BODY, hash_type=HashType.NONE)) == ALICE
    assert server.verify(2003, BODY, client.encode(b"\x00" + k12_digest(2003, BODY))) == ALICE
    with pytest.raises(HashError):
        server.verify(2003, BODY, client.encode(b"\x03" + k12_digest(2003, BODY)))
    strict = FakeAuthenticator(block_null_hash=True, block_zero_hash=True)
    with pytest.raises(HashError):
        strict.verify(2003, BODY, client.encode(b""))
    with pytest.raises(HashError):
        strict.verify(2003, BODY, client.sign(2003, BODY, hash_type=HashType.NONE))
    assert strict.verify(2003, BODY, client.sign(2003, BODY)) == ALICE


def test_old_protocol_versions_use_host_order_type_one() -> None:
    client = FakeAuthenticator(ALICE)
    cred = client.sign(2003, BODY, version=SLURM_21_08_PROTOCOL_VERSION)
    assert cred.endswith(b":01d307")  # 2003 = 0x07d3, little-endian
    assert FakeAuthenticator().verify(2003, BODY, cred, version=SLURM_21_08_PROTOCOL_VERSION) == ALICE
    with pytest.raises(HashError):
        FakeAuthenticator().verify(2003, BODY, cred)  # at 22.05 host order is refused


def test_missing_credential() -> None:
    with pytest.raises(CredentialError) as exc:
        FakeAuthenticator().verify(2003, BODY, None)
    assert exc.value.rc == SlurmRC.SLURM_PROTOCOL_AUTHENTICATION_ERROR
    assert exc.value.munge_code == MungeErr.BAD_ARG


@pytest.mark.parametrize(
    "cred",
    [
        b"",
        b"MUNGE:AwQFAAAR:",
        b"FAKE:",
        b"FAKE:1000:1000:*",
        b"FAKE:1000:1000:*:02:00",
        b"FAKE:x:1000:*:02",
        b"FAKE:-1:1000:*:02",
        b"FAKE:1000:1000:any:02",
        b"FAKE:1000:1000:*:0",
        b"FAKE:1000:1000:*:zz",
        b"FAKE:1000:\xff:*:02",
    ],
)
def test_malformed_credentials_are_refused(cred: bytes) -> None:
    with pytest.raises(CredentialError) as exc:
        FakeAuthenticator().verify(2003, BODY, cred)
    assert exc.value.munge_code == MungeErr.BAD_CRED
    assert exc.value.rc == SlurmRC.SLURM_PROTOCOL_AUTHENTICATION_ERROR


def test_uid_restriction_binds_the_decoder_even_root() -> None:
    cred = FakeAuthenticator(ROOT).sign(8001, BODY, uid_restriction=ALICE.uid)
    assert FakeAuthenticator(ALICE).verify(8001, BODY, cred) == ROOT
    for decoder in (ROOT, BOB):
        with pytest.raises(CredentialError) as exc:
            FakeAuthenticator(decoder).verify(8001, BODY, cred)
        assert exc.value.munge_code == MungeErr.CRED_UNAUTHORIZED


def test_sign_payload_for_job_credentials() -> None:
    packed = bytes(range(200))
    ctld = FakeAuthenticator(ROOT)
    sig = ctld.sign_payload(packed, uid_restriction=0)
    decoded = FakeAuthenticator(ROOT).decode(sig)
    assert decoded.payload == packed and decoded.identity == ROOT and not decoded.replayed
    with pytest.raises(CredentialError):
        FakeAuthenticator(ALICE).decode(sig)


def test_error_tree() -> None:
    assert issubclass(CredentialError, AuthError) and issubclass(HashError, AuthError)
    err = AuthError("x", rc=SlurmRC.ESLURM_AUTH_CRED_INVALID)
    assert err.rc == SlurmRC.ESLURM_AUTH_CRED_INVALID and str(err) == "x"


def test_reply_uid_restriction_follows_slurm() -> None:
    slurm_user, slurmd_user = 64030, 0
    assert reply_uid_restriction(ALICE, slurm_user, slurmd_user) == ALICE.uid
    assert reply_uid_restriction(Identity(slurm_user, 1), slurm_user, slurmd_user) is None
    assert reply_uid_restriction(ROOT, slurm_user, slurmd_user) is None
    assert reply_uid_restriction(None, slurm_user, slurmd_user) == SLURM_AUTH_NOBODY == 99


@pytest.mark.parametrize(
    ("text", "socket", "ttl", "cred_expire"),
    [
        (None, None, None, None),
        ("", None, None, None),
        ("socket=/run/m.sock", "/run/m.sock", None, None),
        ("socket=/run/m.sock,ttl=60", "/run/m.sock", 60, None),
        ("ttl=60,socket=/a/b,cred_expire=300", "/a/b", 60, 300),
        ("cred_expire=300", None, None, 300),
        ("/var/run/munge/old.socket", "/var/run/munge/old.socket", None, None),
        ("ttl=0", None, None, None),
        ("ttl=15s", None, 15, None),
    ],
)
def test_parse_auth_info(
    text: str | None, socket: str | None, ttl: int | None, cred_expire: int | None
) -> None:
    info = parse_auth_info(text)
    assert (info.socket, info.ttl, info.cred_expire) == (socket, ttl, cred_expire)


def test_munge_authenticator_reads_slurm_conf_values() -> None:
    auth = MungeAuthenticator.from_slurm_conf(
        "socket=/nonexistent/munge.sock,ttl=90", "NoAddrCache,Block_Null_Hash", socket_retries=0
    )
    assert auth.context.socket_path == "/nonexistent/munge.sock"
    assert auth.context.ttl == 90
    assert auth.block_null_hash and not auth.block_zero_hash and auth.allow_replay
