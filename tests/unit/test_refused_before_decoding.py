"""An association update (ACCOUNTING_UPDATE_MSG, up to 16 MiB) from anyone but SlurmUser or root is refused
before its body is decoded: a user cannot make the controller spend its event loop decoding a large crafted
update it then refuses. The controller's own RPC server on 127.0.0.1, with the fake authenticator."""

from __future__ import annotations

import asyncio
import errno
import pwd
from pathlib import Path

import pytest

from flurm.auth import ROOT, FakeAuthenticator
from flurm.auth.authenticator import Identity
from flurm.config.slurmconf import parse_text
from flurm.daemon import Daemon
from flurm.protocol.constants import MsgType
from flurm.protocol.messages.common import ReturnCode
from flurm.rpc import transport
from flurm.rpc.transport import Signer, call

NOBODY = pwd.getpwnam("nobody").pw_uid
CONF = """
ClusterName=t
SlurmctldHost=localhost
NodeName=n1 NodeAddr=127.0.0.1 CPUs=2
PartitionName=debug Nodes=ALL Default=YES
"""
CRAFTED = b"\xff" * (4 << 20)  # 4 MiB a decoder would have to walk (and reject)


def ask(tmp_path: Path, uid: int) -> int:
    async def go() -> int:
        ctl = Daemon(parse_text(CONF), FakeAuthenticator(ROOT), state_dir=tmp_path).controller
        ctl.cluster.restore(ctl.store.open())
        await ctl.server.listen("127.0.0.1", 0)
        signer = Signer(FakeAuthenticator(Identity(uid, uid)))
        try:
            port = ctl.server.ports[0]
            reply = await call("127.0.0.1", port, MsgType.ACCOUNTING_UPDATE_MSG, CRAFTED, signer)
            assert reply is not None and isinstance(reply.body, ReturnCode)
            return reply.body.rc
        finally:
            signer.close()
            await ctl.server.stop(grace=1.0)
            ctl.store.close()

    return asyncio.run(go())


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The message types the server decoded a body of."""
    seen: list[int] = []
    real = transport.decode_body

    def spy(msg_type: int, raw: bytes, version: int):  # type: ignore[no-untyped-def]
        seen.append(msg_type)
        return real(msg_type, raw, version)

    monkeypatch.setattr(transport, "decode_body", spy)
    return seen


def test_a_users_update_is_refused_before_its_body_is_decoded(tmp_path: Path, decoded: list[int]) -> None:
    assert ask(tmp_path, NOBODY) == errno.EACCES
    assert MsgType.ACCOUNTING_UPDATE_MSG not in decoded


def test_slurmdbd_s_update_is_decoded(tmp_path: Path, decoded: list[int]) -> None:
    """The same bytes from root are decoded, and refused as malformed: the check above is the rights'."""
    assert ask(tmp_path, 0) != errno.EACCES
    assert MsgType.ACCOUNTING_UPDATE_MSG in decoded
