"""auth/slurm: the token codec against tokens real 24.11 and 26.05 daemons and sack sockets made, the
checks slurmctld makes (each attack refused), the key files, AuthType/AuthAltTypes, the sack socket."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from flurm.auth import AuthError, CredentialError, HashError
from flurm.auth.authenticator import AuthSet, FakeAuthenticator, Identity, MungeAuthenticator
from flurm.auth.configure import authenticator_from_config, sack_enabled
from flurm.auth.sack import (
    SACK_CREATE,
    SackServer,
    answer,
    create_request,
    parse_request,
    verify_request,
)
from flurm.auth.slurm_auth import (
    SLURM_AUTH_UID_ANY,
    SackKey,
    SackKeyError,
    SackKeys,
    SlurmAuthenticator,
    TokenClaims,
    encode_token,
    identity_claim,
    load_keys,
    parse_jwks,
    read_token,
)
from flurm.config.slurmconf import parse_text
from flurm.protocol.constants import (
    AUTH_PLUGIN_MUNGE,
    AUTH_PLUGIN_SLURM,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    MsgType,
)
from flurm.protocol.frame import Frame, decode_frame, encode_frame
from flurm.protocol.wire import DecodeError

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
RELEASES = {"24.11": SLURM_24_11_PROTOCOL_VERSION, "26.05": SLURM_26_05_PROTOCOL_VERSION}
# (file, context, uid): who made each captured request's credential
CAPTURES = [
    ("node_registration-slurmd.bin", "auth", 0),  # slurmd signs with the key itself
    ("partition_info-sinfo-root.bin", "sack", 0),  # sinfo as root: minted by slurmctld's sack socket
    ("job_info-squeue-nobody.bin", "sack", 65534),  # squeue as nobody: the same
    ("submit_batch-sbatch-root.bin", "sack", 0),
    ("batch_job_launch-slurmctld.bin", "auth", 0),  # slurmctld to slurmd
    ("terminate_job-slurmctld.bin", "auth", 0),
]


def golden_dir(release: str) -> Path:
    return GOLDEN / release / "authslurm"


def golden_keys(release: str) -> SackKeys:
    return SackKeys(SackKey((golden_dir(release) / "slurm.key").read_bytes()))


def frame_of(release: str, name: str) -> Frame:
    data = (golden_dir(release) / name).read_bytes()
    return decode_frame(data[4 : 4 + int.from_bytes(data[:4], "big")])


def unverified_claims(token: bytes) -> dict[str, Any]:
    part = token.split(b".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4))))


def authenticator(release: str, token: bytes, **kw: Any) -> SlurmAuthenticator:
    """An authenticator holding the capture's key whose clock reads the token's creation time."""
    iat = unverified_claims(token)["iat"]
    kw.setdefault("decoder_uid", 0)
    return SlurmAuthenticator(
        golden_keys(release), cluster_name="authslurm", hostname="vm", clock=lambda: iat, **kw
    )


# -- the real releases' tokens ----------------------------------------------------------------------


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize(("name", "context", "uid"), CAPTURES)
def test_golden_token_verifies_and_reencodes_byte_for_byte(
    release: str, name: str, context: str, uid: int
) -> None:
    frame = frame_of(release, name)
    assert frame.auth_plugin == AUTH_PLUGIN_SLURM
    assert frame.credential is not None
    claims = read_token(
        frame.credential, golden_keys(release), now=unverified_claims(frame.credential)["iat"], decoder_uid=0
    )
    assert (claims.context, claims.uid, claims.gid) == (context, uid, uid)
    assert (claims.host, claims.cluster, claims.ruid) == ("vm", "authslurm", SLURM_AUTH_UID_ANY)
    assert claims.ver == RELEASES[release]
    assert claims.iat is not None and claims.exp == claims.iat + 60  # AuthInfo has no ttl=: 60 s
    assert claims.payload is not None and claims.payload[0] == 2 and len(claims.payload) == 33  # K12
    # flurm's encoder makes the very same bytes from the same claims (libjwt's JSON, base64, signature)
    assert encode_token(claims, golden_keys(release).default) == frame.credential


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize(("name", "context", "uid"), CAPTURES)
def test_golden_request_authenticates(release: str, name: str, context: str, uid: int) -> None:
    frame = frame_of(release, name)
    assert frame.credential is not None
    auth = authenticator(release, frame.credential)
    identity = auth.verify(
        frame.msg_type, frame.body, frame.credential, version=frame.version, plugin=frame.auth_plugin
    )
    assert identity == Identity(uid, uid)


@pytest.mark.parametrize("release", RELEASES)
def test_golden_launch_credential_reencodes(release: str) -> None:
    """cred/slurm's job credential inside the batch launch: context launch, an "id" claim, a padded
    payload; the codec reads it and makes the same bytes (the credential itself is not an auth one)."""
    body = frame_of(release, "batch_job_launch-slurmctld.bin").body
    tokens = re.findall(rb"eyJ[\w-]+\.[\w-]+\.[\w-]+", body)
    assert len(tokens) == 1
    keys = golden_keys(release)
    claims = read_token(tokens[0], keys, now=unverified_claims(tokens[0])["iat"], decoder_uid=0)
    assert claims.context == "launch" and claims.ruid == 0
    assert claims.extra["id"]["name"] == "root"
    assert encode_token(claims, keys.default) == tokens[0]
    auth = authenticator(release, tokens[0])
    with pytest.raises(CredentialError, match="no auth credential"):
        auth.decode(tokens[0])  # a job credential never passes as a message's credential
    # made from its parts (the packed credential, the job's user, SlurmdUser root) it is the same token
    assert claims.payload is not None
    identity = identity_claim("root", "root", "/root", "/bin/bash", [0])
    made = auth.launch_credential(claims.payload, 0, 0, identity, 0, version=RELEASES[release])
    assert made == tokens[0]
    # on the wire: one packstr of the token where cred/munge puts credential and signature
    at = body.index(tokens[0])
    assert body[at - 4 : at] == (len(tokens[0]) + 1).to_bytes(4, "big") and body[at + len(tokens[0])] == 0


# -- the checks slurmctld makes: each attack refused ------------------------------------------------


def _nobody_frame(release: str = "24.11") -> tuple[Frame, bytes]:
    frame = frame_of(release, "job_info-squeue-nobody.bin")
    assert frame.credential is not None
    return frame, frame.credential


def test_expired_token_refused() -> None:
    frame, token = _nobody_frame()
    exp = unverified_claims(token)["exp"]
    auth = SlurmAuthenticator(golden_keys("24.11"), decoder_uid=0, clock=lambda: exp)
    assert auth.verify(frame.msg_type, frame.body, token, version=frame.version).uid == 65534  # at exp: valid
    auth.clock = lambda: exp + 1
    with pytest.raises(CredentialError, match="token expired"):
        auth.verify(frame.msg_type, frame.body, token, version=frame.version)


def test_wrong_key_refused() -> None:
    frame, token = _nobody_frame()
    other = SlurmAuthenticator(
        SackKeys(SackKey(b"k" * 64)), decoder_uid=0, clock=lambda: unverified_claims(token)["iat"]
    )
    with pytest.raises(CredentialError, match="signature"):
        other.verify(frame.msg_type, frame.body, token, version=frame.version)


def test_claims_changed_after_signing_refused() -> None:
    """nobody's token with uid 0 put in (the signature no longer fits)."""
    frame, token = _nobody_frame()
    header, _claims, sig = token.split(b".")
    doc = unverified_claims(token) | {"uid": 0, "gid": 0}
    forged = header + b"." + base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=") + b"." + sig
    with pytest.raises(CredentialError, match="signature"):
        authenticator("24.11", token).verify(frame.msg_type, frame.body, forged, version=frame.version)


def test_alg_none_refused() -> None:
    frame, token = _nobody_frame()
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=")
    forged = header + b"." + token.split(b".")[1] + b"."
    with pytest.raises(CredentialError, match="alg=none"):
        authenticator("24.11", token).verify(frame.msg_type, frame.body, forged, version=frame.version)


def test_token_restricted_to_another_uid_refused() -> None:
    auth = SlurmAuthenticator(golden_keys("24.11"), decoder_uid=0, uid=1000, gid=1000)
    body = b"\x00" * 8
    cred = auth.sign(MsgType.REQUEST_PING, body, uid_restriction=1001)
    with pytest.raises(CredentialError, match="r_uid=1001 for uid=0"):
        auth.verify(MsgType.REQUEST_PING, body, cred)
    assert (
        auth.verify(MsgType.REQUEST_PING, body, auth.sign(MsgType.REQUEST_PING, body, uid_restriction=0)).uid
        == 1000
    )


def test_token_moved_to_another_message_refused() -> None:
    """nobody's genuine credential for a job listing, put on a job submission (the hash does not fit)."""
    frame, token = _nobody_frame()
    submit = frame_of("24.11", "submit_batch-sbatch-root.bin")
    auth = authenticator("24.11", token)
    with pytest.raises(HashError):
        auth.verify(submit.msg_type, submit.body, token, version=submit.version)
    with pytest.raises(HashError):
        auth.verify(frame.msg_type, frame.body + b"\0", token, version=frame.version)


def test_token_of_another_context_refused() -> None:
    auth = SlurmAuthenticator(golden_keys("24.11"), decoder_uid=0)
    token = auth.make_token("sbcast", b"", None)
    with pytest.raises(CredentialError, match="context 'sbcast'"):
        auth.decode(token)
    assert auth.decode(auth.make_token("sack", b"x", None)).payload == b"x"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"exp": None}, "token expired at -1"),
        ({"exp": "9999999999"}, "token expired"),
        ({"ruid": None}, "r_uid=None"),
        ({"uid": None}, "failure for uid"),
        ({"gid": 1.5}, "failure for gid"),
        ({"host": None}, "failure for host"),
        ({"context": 7}, "failure for context"),
        ({"payload": "***"}, "failed to decode payload"),
    ],
)
def test_incomplete_claims_refused(change: dict[str, Any], reason: str) -> None:
    """Signed with the right key and still refused, as copy_jwt_grants_to_cred/decode_jwt refuse them."""
    key = golden_keys("24.11").default
    good = {
        "context": "auth",
        "uid": 5,
        "gid": 5,
        "host": "h",
        "iat": 100,
        "exp": 200,
        "ruid": SLURM_AUTH_UID_ANY,
    }
    doc = {k: v for k, v in (good | change).items() if v is not None}
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()
    sig = base64.urlsafe_b64encode(hmac.new(key.key, f"{header}.{body}".encode(), hashlib.sha256).digest())
    token = f"{header}.{body}.{sig.rstrip(b'=').decode()}".encode()
    with pytest.raises(CredentialError, match=re.escape(reason)):
        read_token(token, golden_keys("24.11"), now=150, decoder_uid=0)


def test_garbage_refused() -> None:
    auth = SlurmAuthenticator(golden_keys("24.11"), decoder_uid=0)
    for junk in (b"", b"MUNGE:abc:", b"a.b", b"a.b.c", "é.b.c".encode(), b"e30.e30.e30"):
        with pytest.raises(CredentialError):
            auth.decode(junk)


def test_key_set_picks_by_kid_and_refuses_unknown_and_expired_keys() -> None:
    k1, k2 = b"1" * 32, b"2" * 32
    jwks = {
        "keys": [
            {
                "kid": "old",
                "kty": "oct",
                "alg": "HS256",
                "k": base64.urlsafe_b64encode(k1).decode(),
                "exp": 50,
            },
            {
                "kid": "new",
                "kty": "oct",
                "alg": "HS256",
                "k": base64.urlsafe_b64encode(k2).decode().rstrip("="),
                "use": "default",
            },
        ]
    }
    keys = parse_jwks(json.dumps(jwks).encode(), "slurm.jwks")
    assert keys.default.kid == "new" and keys.default.key == k2
    signer = SlurmAuthenticator(keys, decoder_uid=0, clock=lambda: 100)
    token = signer.make_token("auth", b"p", None)
    assert json.loads(base64.urlsafe_b64decode(token.split(b".")[0] + b"==")) == {
        "alg": "HS256",
        "kid": "new",
        "typ": "JWT",
    }
    assert signer.decode(token).payload == b"p"
    old = encode_token(TokenClaims("auth", 1, 1, "h", exp=200, iat=100), keys.for_kid("old"))
    with pytest.raises(CredentialError, match="expired key kid=old"):
        signer.decode(old)
    stranger = encode_token(TokenClaims("auth", 1, 1, "h", exp=200, iat=100), SackKey(k2, "gone"))
    with pytest.raises(CredentialError, match="could not find kid=gone"):
        signer.decode(stranger)
    # a single slurm.key ignores the kid
    single = SlurmAuthenticator(SackKeys(SackKey(k2)), decoder_uid=0, clock=lambda: 100)
    assert single.decode(stranger).identity.uid == 1


@pytest.mark.parametrize(
    ("entry", "text"),
    [
        ({"kty": "oct", "alg": "HS256", "k": "MTExMTExMTExMTExMTExMQ"}, "failed to load kid field"),
        ({"kid": "a", "kty": "RSA", "alg": "HS256", "k": "MTExMTExMTExMTExMTExMQ"}, "kty field must be oct"),
        (
            {"kid": "a", "kty": "oct", "alg": "HS512", "k": "MTExMTExMTExMTExMTExMQ"},
            "alg field must be HS256",
        ),
        ({"kid": "a", "kty": "oct", "alg": "HS256", "k": "MTEx"}, "key lacks sufficient entropy"),
        ({"kid": "a", "kty": "oct", "alg": "HS256"}, "failed to load key field"),
    ],
)
def test_bad_key_set_is_fatal(entry: dict[str, str], text: str) -> None:
    with pytest.raises(SackKeyError, match=text):
        parse_jwks(json.dumps({"keys": [entry]}).encode(), "slurm.jwks")


# -- key files --------------------------------------------------------------------------------------


def _conf(tmp_path: Path, extra: str = "") -> Any:
    text = f"ClusterName=c\nSlurmctldHost=localhost\n{extra}\nNodeName=n1\nPartitionName=p Nodes=n1\n"
    (tmp_path / "slurm.conf").write_text(text)
    return parse_text(text, str(tmp_path / "slurm.conf"))


def test_key_file_beside_slurm_conf(tmp_path: Path) -> None:
    key = tmp_path / "slurm.key"
    key.write_bytes(b"secret-key-bytes")
    key.chmod(0o640)  # group-readable is allowed, others not
    assert load_keys(str(tmp_path / "slurm.conf"), {}).default.key == b"secret-key-bytes"
    key.chmod(0o644)
    with pytest.raises(SackKeyError) as err:
        load_keys(str(tmp_path / "slurm.conf"), {})
    assert str(err.value) == f"auth/slurm: key file is insecure: '{key}' mode=0644"
    key.unlink()
    with pytest.raises(SackKeyError) as err:
        load_keys(str(tmp_path / "slurm.conf"), {})
    assert str(err.value) == f"auth/slurm: cannot stat '{key}': No such file or directory"


def test_key_file_from_environment_and_key_set_first(tmp_path: Path) -> None:
    elsewhere = tmp_path / "k"
    elsewhere.write_bytes(b"from-env")
    elsewhere.chmod(0o600)
    assert (
        load_keys(str(tmp_path / "slurm.conf"), {"SLURM_SACK_KEY": str(elsewhere)}).default.key == b"from-env"
    )
    jwks = tmp_path / "slurm.jwks"
    jwks.write_text(
        json.dumps({"keys": [{"kid": "a", "kty": "oct", "alg": "HS256", "k": "MTExMTExMTExMTExMTExMQ"}]})
    )
    jwks.chmod(0o600)
    assert load_keys(str(tmp_path / "slurm.conf"), {"SLURM_SACK_KEY": str(elsewhere)}).default.kid == "a"
    empty = tmp_path / "empty"
    empty.touch(0o600)
    jwks.unlink()
    with pytest.raises(SackKeyError, match="Could not load key file"):
        load_keys(str(tmp_path / "slurm.conf"), {"SLURM_SACK_KEY": str(empty)})


# -- AuthType and AuthAltTypes ----------------------------------------------------------------------


def _key(tmp_path: Path) -> None:
    (tmp_path / "slurm.key").write_bytes(os.urandom(32))
    (tmp_path / "slurm.key").chmod(0o600)


def test_auth_type_slurm(tmp_path: Path) -> None:
    _key(tmp_path)
    auth = authenticator_from_config(_conf(tmp_path, "AuthType=auth/slurm\nAuthInfo=ttl=90"), env={})
    assert isinstance(auth, SlurmAuthenticator)
    assert auth.plugin_id == AUTH_PLUGIN_SLURM and auth.ttl == 90 and auth.cluster_name == "c"
    with pytest.raises(CredentialError, match=r"auth/munge\(101\) not found"):
        auth.select(AUTH_PLUGIN_MUNGE)
    assert sack_enabled(_conf(tmp_path, "AuthType=auth/slurm"), {})
    assert not sack_enabled(_conf(tmp_path, "AuthType=auth/slurm\nAuthInfo=disable_sack"), {})


def test_munge_site_unchanged_and_environment_key_wins(tmp_path: Path) -> None:
    assert isinstance(authenticator_from_config(_conf(tmp_path), env={}), MungeAuthenticator)
    assert not sack_enabled(_conf(tmp_path), {})
    _key(tmp_path)
    env = {"SLURM_SACK_KEY": str(tmp_path / "slurm.key")}
    assert isinstance(authenticator_from_config(_conf(tmp_path), env=env), SlurmAuthenticator)


def test_alt_types_verify_by_plugin_and_reply_in_the_request_plugin(tmp_path: Path) -> None:
    _key(tmp_path)
    auth = authenticator_from_config(
        _conf(tmp_path, "AuthType=auth/munge\nAuthAltTypes=auth/slurm,auth/jwt"), env={}
    )
    assert isinstance(auth, AuthSet)
    assert auth.plugin_id == AUTH_PLUGIN_MUNGE
    slurm = auth.select(AUTH_PLUGIN_SLURM)
    assert isinstance(slurm, SlurmAuthenticator)
    cred = slurm.sign(MsgType.REQUEST_PING, b"")
    assert auth.verify(MsgType.REQUEST_PING, b"", cred, plugin=AUTH_PLUGIN_SLURM).uid == os.getuid()
    with pytest.raises(AuthError):
        auth.verify(MsgType.REQUEST_PING, b"", cred, plugin=AUTH_PLUGIN_MUNGE)  # not a munge credential
    with pytest.raises(CredentialError, match=r"auth/jwt\(102\) not found"):
        auth.verify(MsgType.REQUEST_PING, b"", cred, plugin=102)
    assert auth.sign(MsgType.REQUEST_PING, b"", plugin=AUTH_PLUGIN_SLURM).count(b".") == 2


def test_unknown_auth_type_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="auth/none"):
        authenticator_from_config(_conf(tmp_path, "AuthType=auth/none"), env={})


# -- frames -----------------------------------------------------------------------------------------


def test_frame_carries_the_plugin_id() -> None:
    data = encode_frame(MsgType.REQUEST_PING, b"", b"a.b.c", auth_plugin=AUTH_PLUGIN_SLURM)
    frame = decode_frame(data[4:])
    assert (frame.auth_plugin, frame.credential) == (AUTH_PLUGIN_SLURM, b"a.b.c")
    jwt_frame = bytearray(data)
    at = data.index(AUTH_PLUGIN_SLURM.to_bytes(4, "big"), 4)
    jwt_frame[at : at + 4] = (102).to_bytes(4, "big")
    with pytest.raises(DecodeError, match="auth plugin 102"):
        decode_frame(bytes(jwt_frame[4:]))


def test_fake_keeps_munge_plugin() -> None:
    assert FakeAuthenticator().plugin_id == AUTH_PLUGIN_MUNGE


# -- the sack socket --------------------------------------------------------------------------------


def test_sack_create_and_verify_codec() -> None:
    auth = SlurmAuthenticator(golden_keys("24.11"), decoder_uid=0, clock=lambda: 1000)
    request = parse_request(create_request(SLURM_AUTH_UID_ANY, b"\x02hash", SLURM_24_11_PROTOCOL_VERSION))
    assert (request.rpc, request.r_uid, request.data) == (SACK_CREATE, SLURM_AUTH_UID_ANY, b"\x02hash")
    reply = answer(auth, request, 1234, 99)
    length = int.from_bytes(reply[:4], "big")
    token = reply[4 : 4 + length]
    assert token.endswith(b"\0") and len(reply) == 4 + length
    claims = auth.read(token[:-1])
    assert (claims.context, claims.uid, claims.gid, claims.payload) == ("sack", 1234, 99, b"\x02hash")
    assert claims.ver == SLURM_24_11_PROTOCOL_VERSION
    ok = answer(auth, parse_request(verify_request(token[:-1], SLURM_26_05_PROTOCOL_VERSION)), 0, 0)
    assert ok == b"\0\0\0\0"
    restricted = auth.make_token("auth", b"", 1234)
    assert answer(auth, parse_request(verify_request(restricted, 0x2A00)), 0, 0) == b"\xff\xff\xff\xff"
    assert answer(auth, parse_request(verify_request(restricted, 0x2A00)), 1234, 0) == b"\0\0\0\0"
    with pytest.raises(DecodeError):
        parse_request(create_request(0, b"", 0x2A00)[:-1])


def test_sack_server_names_the_caller_by_the_kernel(tmp_path: Path) -> None:
    auth = SlurmAuthenticator(golden_keys("24.11"), decoder_uid=0)
    run_dir = tmp_path / "slurmctld"
    path = str(run_dir / "sack.socket")

    async def go() -> bytes:
        server = SackServer(auth, path, slurm_user_uid=os.getuid())
        await server.start()
        try:
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o777
            reader, writer = await asyncio.open_unix_connection(path)
            writer.write(create_request(SLURM_AUTH_UID_ANY, b"\x02h", SLURM_26_05_PROTOCOL_VERSION))
            await writer.drain()
            length = int.from_bytes(await reader.readexactly(4), "big")
            token = await reader.readexactly(length)
            writer.close()
            return token
        finally:
            await server.close()

    token = asyncio.run(go())
    claims = auth.read(token.rstrip(b"\0"))
    assert (claims.uid, claims.gid, claims.context) == (os.getuid(), os.getgid(), "sack")
    # a second start finds the old socket and replaces it, as slurmctld does
    asyncio.run(_start_stop(SackServer(auth, path, slurm_user_uid=os.getuid())))
    assert run_dir.is_dir()


async def _start_stop(server: SackServer) -> None:
    await server.start()
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(server.path)
    await server.close()
