"""Who signs job credentials: CredType's plugin, whatever AuthType is (cred/munge by default in every
release); cred/slurm's launch tokens in batch launch and kill messages as real 24.11 and 26.05 slurmctld
make them, byte for byte."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest

from flurm.auth.authenticator import AuthSet, FakeAuthenticator, MungeAuthenticator
from flurm.auth.configure import (
    CRED_MUNGE,
    CRED_SLURM,
    authenticator_from_config,
    cred_plugin,
    job_credential_signer,
)
from flurm.auth.errors import AuthServiceError
from flurm.auth.slurm_auth import LaunchSealer, SackKey, SackKeys, SlurmAuthenticator
from flurm.config.slurmconf import SlurmConfig, parse_text
from flurm.protocol.constants import SLURM_24_11_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION
from flurm.protocol.frame import decode_frame
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.credential import JobCredential, StepId

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
RELEASES = {"24.11": SLURM_24_11_PROTOCOL_VERSION, "26.05": SLURM_26_05_PROTOCOL_VERSION}


def conf(tmp_path: Path, extra: str) -> SlurmConfig:
    key = tmp_path / "slurm.key"
    key.write_bytes(b"k" * 64)
    key.chmod(0o600)
    path = tmp_path / "slurm.conf"
    path.write_text(f"ClusterName=c\nSlurmctldHost=h\n{extra}\n")
    return parse_text(path.read_text(), path=str(path))


@pytest.mark.parametrize(
    ("value", "plugin"),
    [
        (None, CRED_MUNGE),  # the default of 24.11 and 26.05 alike, AuthType aside
        ("cred/munge", CRED_MUNGE),
        ("cred/slurm", CRED_SLURM),
        ("slurm", CRED_SLURM),
        ("auth/slurm", CRED_SLURM),
        ("cred/none", "cred/none"),
    ],
)
def test_cred_plugin(tmp_path: Path, value: str | None, plugin: str) -> None:
    line = "AuthType=auth/slurm" + (f"\nCredType={value}" if value else "")
    assert cred_plugin(conf(tmp_path, line)) == plugin


def test_crypto_type_of_old_files(tmp_path: Path) -> None:
    assert cred_plugin(conf(tmp_path, "CryptoType=crypto/munge")) == CRED_MUNGE


def test_auth_slurm_site_signs_job_credentials_with_munge_by_default(tmp_path: Path) -> None:
    """AuthType=auth/slurm without CredType: step credentials are munge credentials (slurmd's cred/munge
    checks them with munged), never auth/slurm tokens; AuthInfo's socket is cred/munge's too."""
    config = conf(tmp_path, "AuthType=auth/slurm\nAuthInfo=socket=/run/x/munge.socket,ttl=30")
    auth = authenticator_from_config(config, env={})
    assert isinstance(auth, SlurmAuthenticator)
    creds = job_credential_signer(config, auth, env={})
    assert creds.plugin == CRED_MUNGE and creds.sealer is None
    assert isinstance(creds.munge, MungeAuthenticator)
    assert (creds.munge.context.socket_path, creds.munge.context.ttl) == ("/run/x/munge.socket", 30)


def test_munge_site_signs_with_its_own_authenticator(tmp_path: Path) -> None:
    auth = FakeAuthenticator()
    creds = job_credential_signer(conf(tmp_path, ""), auth, env={})
    assert creds.munge is auth and creds.sealer is None


def test_cred_slurm_uses_auth_types_key(tmp_path: Path) -> None:
    config = conf(tmp_path, "AuthType=auth/slurm\nCredType=cred/slurm\nSlurmdUser=root")
    auth = authenticator_from_config(config, env={})
    creds = job_credential_signer(config, auth, env={})
    assert creds.munge is None and creds.sealer is not None and creds.sealer.auth is auth
    # AuthType munge with auth/slurm among the alternatives: that one
    config = conf(tmp_path, "AuthType=auth/munge\nAuthAltTypes=auth/slurm\nCredType=cred/slurm")
    auth = authenticator_from_config(config, env={})
    assert isinstance(auth, AuthSet)
    creds = job_credential_signer(config, auth, env={})
    assert creds.sealer is not None and creds.sealer.auth is auth.members[1]


def test_cred_slurm_without_auth_slurm_loads_the_key(tmp_path: Path) -> None:
    config = conf(tmp_path, "CredType=cred/slurm")
    creds = job_credential_signer(config, FakeAuthenticator(), env={})
    assert creds.sealer is not None and creds.sealer.auth.keys.default.key == b"k" * 64


def test_unknown_cred_type_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(AuthServiceError, match="cannot create cred context for cred/none"):
        job_credential_signer(conf(tmp_path, "CredType=cred/none"), FakeAuthenticator(), env={})


# -- cred/slurm on the wire: the real releases' batch launch and kill messages ----------------------


def golden(release: str, name: str) -> tuple[int, bytes]:
    data = (GOLDEN / release / "authslurm" / name).read_bytes()
    frame = decode_frame(data[4 : 4 + int.from_bytes(data[:4], "big")])
    return frame.msg_type, frame.body


def claims_of(token: bytes) -> dict[str, object]:
    part = token.split(b".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4))))


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("name", ["batch_job_launch-slurmctld.bin", "terminate_job-slurmctld.bin"])
def test_sealed_credential_is_the_real_one(release: str, name: str) -> None:
    """slurmctld's batch launch and kill credentials (cred/slurm, unsigned yet a launch token) decode
    to their fields; sealed again by flurm with the cluster's key they are the same bytes."""
    version = RELEASES[release]
    msg_type, body = golden(release, name)
    msg = decode_body(msg_type, body, version)
    cred = msg.credential  # type: ignore[attr-defined]
    assert isinstance(cred, JobCredential) and cred.token is not None
    assert (cred.uid, cred.pw_name, cred.gids, cred.step_id.job_id) == (0, "root", (0,), 1)
    assert encode_body(msg, version) == body  # as decoded: the token kept
    iat = claims_of(cred.token)["iat"]
    key = SackKeys(SackKey((GOLDEN / release / "authslurm" / "slurm.key").read_bytes()))
    auth = SlurmAuthenticator(key, cluster_name="authslurm", hostname="vm", clock=lambda: float(iat))  # type: ignore[arg-type]
    resealed = dataclasses.replace(msg, credential=cred.sealed_by(LaunchSealer(auth, 0)))  # type: ignore[type-var]
    assert encode_body(resealed, version) == body


def test_sealer_mints_per_version_and_packs_one_string() -> None:
    auth = SlurmAuthenticator(
        SackKeys(SackKey(b"s" * 64)), cluster_name="c", hostname="h", clock=lambda: 100.0
    )
    cred = JobCredential(StepId(7, 0), 1000, 1000, "u", "", "/home/u", "/bin/sh", (1000, 10), ("u", "wheel"))
    sealed = cred.sealed_by(LaunchSealer(auth, 0))
    for version in RELEASES.values():
        wire = sealed.encode(version)
        token = wire[4:-1]
        assert int.from_bytes(wire[:4], "big") == len(token) + 1 and wire[-1] == 0
        claims = auth.read(token, decoder_uid=0)
        assert (claims.context, claims.uid, claims.gid, claims.ruid, claims.ver) == (
            "launch",
            1000,
            1000,
            0,
            version,
        )
        assert claims.payload == cred.signed_payload(version)
        assert claims.extra["id"] == {
            "name": "u",
            "gecos": "",
            "dir": "/home/u",
            "shell": "/bin/sh",
            "groups": {"u": 1000, "wheel": 10},
        }
        back = JobCredential.decode(wire, version)
        assert back.token == token and dataclasses.replace(back, token=None) == cred
    # a cred/munge credential of the same releases is not taken for a token
    assert JobCredential.decode(cred.encode(version), version) == cred
