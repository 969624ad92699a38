"""JWTs as SLURM's auth/jwt has them, and REQUEST_AUTH_TOKEN (``scontrol token``) with slurmctld's rules."""

from __future__ import annotations

import pwd
from pathlib import Path

import jwt
import pytest

from flurm.auth.authenticator import FakeAuthenticator, Identity
from flurm.auth.jwt_tokens import DEFAULT_TOKEN_LIFESPAN, JwtAuthority, TokenError, TokenPolicy
from flurm.config import parse_text
from flurm.controller.engine import Controller
from flurm.controller.handlers.tokens import auth_token
from flurm.modes import Action, Mode, action
from flurm.protocol.constants import MsgType, SlurmRC
from flurm.protocol.frame import Frame, Header
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.common import ReturnCode
from flurm.protocol.messages.tokens import TokenRequest, TokenResponse
from flurm.rpc.transport import Reply, Request

NOW = 1_795_696_400
KEY = b"0123456789abcdef0123456789abcdef\n"
BASE = """
ClusterName=tok
SlurmctldHost=localhost
SlurmUser=slurm
StateSaveLocation={state}
NodeName=n1 NodeAddr=127.0.0.1 CPUs=1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES State=UP
"""
NOBODY = pwd.getpwnam("nobody")
SLURM = pwd.getpwnam("slurm")


def controller(tmp: Path, extra: str = "", key: bytes | None = KEY) -> Controller:
    if key is not None:
        (tmp / "jwt_hs256.key").write_bytes(key)
    conf = parse_text(BASE.format(state=tmp) + extra)
    return Controller(conf, FakeAuthenticator(), state_dir=tmp, clock=lambda: NOW)


def ask(ctl: Controller, uid: int, lifespan: int = 0, username: str | None = None) -> Reply:
    body = TokenRequest(lifespan & 0xFFFFFFFF, username)
    frame = Frame(Header(MsgType.REQUEST_AUTH_TOKEN), 101, None, encode_body(body))
    return auth_token(ctl, Request(MsgType.REQUEST_AUTH_TOKEN, body, Identity(uid, uid), frame, ("x", 1)))


def claims(reply: Reply) -> dict[str, object]:
    assert isinstance(reply.body, TokenResponse) and reply.body.token is not None, reply
    return dict(jwt.decode(reply.body.token, KEY, algorithms=["HS256"], options={"verify_exp": False}))


def rc(reply: Reply) -> int:
    assert isinstance(reply.body, ReturnCode), reply
    return reply.body.rc


def test_the_request_layout() -> None:
    # u32 lifespan, then packstr(username): as scontrol token lifespan=600 username=nobody packs it
    raw = encode_body(TokenRequest(600, "nobody"))
    assert raw == b"\x00\x00\x02\x58" + b"\x00\x00\x00\x07nobody\x00"
    assert decode_body(MsgType.REQUEST_AUTH_TOKEN, raw) == TokenRequest(600, "nobody")
    assert decode_body(MsgType.RESPONSE_AUTH_TOKEN, encode_body(TokenResponse(None))) == TokenResponse(None)


def test_key_from_slurm_conf(tmp_path: Path) -> None:
    assert controller(tmp_path).jwt is None  # no AuthAltTypes, no jwt_key: no tokens
    default = controller(tmp_path, "AuthAltTypes=auth/jwt\n").jwt
    assert default is not None and default.key == KEY  # StateSaveLocation/jwt_hs256.key
    other = tmp_path / "other.key"
    other.write_bytes(b"another key of enough length for HS256")
    named = controller(tmp_path, f"AuthAltParameters=max_token_lifespan=60,jwt_key={other}\n")
    assert named.jwt == JwtAuthority(other.read_bytes())
    assert TokenPolicy.from_config(named.config) == TokenPolicy(60, False)
    with pytest.raises(OSError):
        controller(tmp_path, f"AuthAltParameters=jwt_key={tmp_path}/missing\n")
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(OSError):
        controller(tmp_path, f"AuthAltParameters=jwt_key={tmp_path}/empty\n")


def test_issue_and_verify() -> None:
    auth = JwtAuthority(KEY)
    token = auth.issue("nobody", 600, NOW)
    assert jwt.decode(token, KEY, algorithms=["HS256"], options={"verify_exp": False}) == {
        "iat": NOW,
        "exp": NOW + 600,
        "sun": "nobody",
    }
    assert auth.verify(token, NOW + 600) == "nobody"
    with pytest.raises(TokenError, match="expired"):
        auth.verify(token, NOW + 601)
    with pytest.raises(TokenError):
        JwtAuthority(b"another key entirely, 32 bytes at least").verify(token, NOW)
    legacy = jwt.encode({"exp": NOW + 5, "username": "nobody"}, KEY, algorithm="HS256")
    assert auth.verify(legacy, NOW) == "nobody"  # slurm takes "username" when there is no "sun"


def test_a_user_gets_a_token_for_themselves(tmp_path: Path) -> None:
    ctl = controller(tmp_path, "AuthAltTypes=auth/jwt\n")
    got = claims(ask(ctl, NOBODY.pw_uid, 600))
    assert got == {"iat": NOW, "exp": NOW + 600, "sun": "nobody"}
    assert claims(ask(ctl, NOBODY.pw_uid, 0, "nobody"))["exp"] == NOW + DEFAULT_TOKEN_LIFESPAN


@pytest.mark.parametrize("username", ["root", "slurm"])
def test_a_user_gets_no_token_for_another(tmp_path: Path, username: str) -> None:
    ctl = controller(tmp_path, "AuthAltTypes=auth/jwt\n")
    assert rc(ask(ctl, NOBODY.pw_uid, 600, username)) == SlurmRC.ESLURM_USER_ID_MISSING


@pytest.mark.parametrize("uid", [0, SLURM.pw_uid])
def test_root_and_slurmuser_get_tokens_for_anyone(tmp_path: Path, uid: int) -> None:
    ctl = controller(tmp_path, "AuthAltTypes=auth/jwt\n")
    assert claims(ask(ctl, uid, 60, "nobody"))["sun"] == "nobody"


def test_an_unknown_uid_gets_no_token(tmp_path: Path) -> None:
    ctl = controller(tmp_path, "AuthAltTypes=auth/jwt\n")
    assert rc(ask(ctl, 4_000_000_000)) == SlurmRC.ESLURM_USER_ID_MISSING


def test_max_token_lifespan(tmp_path: Path) -> None:
    ctl = controller(tmp_path, "AuthAltTypes=auth/jwt\nAuthAltParameters=max_token_lifespan=900\n")
    assert rc(ask(ctl, NOBODY.pw_uid, 901)) == SlurmRC.ESLURM_INVALID_TIME_LIMIT
    assert claims(ask(ctl, NOBODY.pw_uid, 900))["exp"] == NOW + 900
    assert claims(ask(ctl, NOBODY.pw_uid))["exp"] == NOW + 900  # default capped by the limit
    assert claims(ask(ctl, 0, 100_000))["exp"] == NOW + 100_000  # the limit is not root's


def test_token_creation_disabled(tmp_path: Path) -> None:
    ctl = controller(tmp_path, "AuthAltTypes=auth/jwt\nAuthAltParameters=disable_token_creation\n")
    assert rc(ask(ctl, NOBODY.pw_uid)) == SlurmRC.ESLURM_ACCESS_DENIED
    assert claims(ask(ctl, SLURM.pw_uid))["sun"] == "slurm"


def test_no_key_no_token(tmp_path: Path) -> None:
    reply = ask(controller(tmp_path, key=None), NOBODY.pw_uid, 600)
    assert reply.msg_type == MsgType.RESPONSE_AUTH_TOKEN and reply.body == TokenResponse(None)
    # the limits are checked first, key or not (slurmctld without auth/jwt refuses the same)
    ctl = controller(tmp_path, "AuthAltParameters=max_token_lifespan=600\n", key=None)
    assert ctl.jwt is None and rc(ask(ctl, NOBODY.pw_uid, 601)) == SlurmRC.ESLURM_INVALID_TIME_LIMIT


def test_mode_table() -> None:
    # the controller with the key signs it itself; rolled back, slurmctld answers
    assert action(Mode.SHADOW, MsgType.REQUEST_AUTH_TOKEN) == Action.LOCAL
    assert action(Mode.ROLLED_BACK, MsgType.REQUEST_AUTH_TOKEN) == Action.FORWARD
