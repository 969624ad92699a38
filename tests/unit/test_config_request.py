"""Configless: REQUEST_CONFIG / RESPONSE_CONFIG codecs and which files go to slurmd and to clients."""

from __future__ import annotations

import asyncio
from pathlib import Path

from flurm.auth.authenticator import FakeAuthenticator, Identity
from flurm.config import load
from flurm.controller.handlers.configless import (
    CLIENT_FILES,
    SLURMD_FILES,
    config_request,
    configless_enabled,
    responses,
)
from flurm.daemon import Daemon
from flurm.protocol.constants import NO_VAL, MsgType, SlurmRC
from flurm.protocol.frame import Frame, Header
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.common import ReturnCode
from flurm.protocol.messages.config_files import ConfigFile, ConfigRequest, ConfigResponse
from flurm.protocol.wire import Writer
from flurm.rpc.transport import Request

CONF = """ClusterName=c
SlurmctldHost=h
SlurmctldParameters=enable_configless
SlurmdSpoolDir=/var/spool/slurmd-%n
NodeName=n1 CPUs=1
PartitionName=p Nodes=ALL
"""


def test_codecs_round_trip_and_layout() -> None:
    req = ConfigRequest(1)
    assert encode_body(req) == b"\x00\x00\x00\x01"
    assert decode_body(MsgType.REQUEST_CONFIG, encode_body(req)) == req
    resp = ConfigResponse((ConfigFile("slurm.conf", True, "A=1\n"), ConfigFile("gres.conf", False)), "/spool")
    assert decode_body(MsgType.RESPONSE_CONFIG, encode_body(resp)) == resp
    w = Writer()
    w.u32(2)
    w.u8(1), w.string("slurm.conf"), w.string("A=1\n")
    w.u8(0), w.string("gres.conf"), w.string(None)
    w.string("/spool")
    assert encode_body(resp) == w.getvalue()
    assert decode_body(MsgType.RESPONSE_CONFIG, encode_body(ConfigResponse(None))).files is None  # NO_VAL
    assert encode_body(ConfigResponse(None))[:4] == NO_VAL.to_bytes(4, "big")


def test_files_for_slurmd_and_for_clients(tmp_path: Path) -> None:
    (tmp_path / "slurm.conf").write_text(CONF)
    (tmp_path / "cgroup.conf").write_text("")  # empty, but there
    (tmp_path / "topology.conf").write_text("SwitchName=s Nodes=n1\n")
    config = load(tmp_path / "slurm.conf")
    assert configless_enabled(config)
    slurmd, clients = responses(config)
    assert slurmd.files is not None and clients.files is not None
    assert [f.name for f in slurmd.files] == list(SLURMD_FILES)
    assert [f.name for f in clients.files] == list(CLIENT_FILES)
    present = {f.name: f.content for f in slurmd.files if f.exists}
    assert present == {"slurm.conf": CONF, "cgroup.conf": "", "topology.conf": "SwitchName=s Nodes=n1\n"}
    assert slurmd.slurmd_spooldir == "/var/spool/slurmd-%n" and clients.slurmd_spooldir is None
    assert responses(config) == (slurmd, clients)  # read once


def test_files_included_by_a_bare_name_follow_slurm_conf(tmp_path: Path) -> None:
    """fetch_config.c: after slurm.conf, the files it Include's by a bare name, each after those it
    includes itself, once; one named with a directory is not sent (slurmd could not place it)."""
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "deep.conf").write_text("")
    (tmp_path / "nodes.conf").write_text("Include more.conf\n")
    (tmp_path / "more.conf").write_text("")
    (tmp_path / "c.conf").write_text("")
    includes = f"Include nodes.conf\nInclude %c.conf\nInclude {sub}/deep.conf\nInclude more.conf\n"
    (tmp_path / "slurm.conf").write_text(CONF + includes)
    config = load(tmp_path / "slurm.conf")
    slurmd, clients = responses(config)
    assert slurmd.files is not None and clients.files is not None
    sent = ["slurm.conf", "more.conf", "nodes.conf", "c.conf"]
    assert [f.name for f in clients.files] == [*sent, *CLIENT_FILES[1:]]
    assert [f.name for f in slurmd.files] == [*sent, *SLURMD_FILES[1:]]
    assert next(f for f in clients.files if f.name == "nodes.conf").content == "Include more.conf\n"
    # slurmctld files them under the name of the file it read: another name, none sent
    (tmp_path / "slurm.conf").rename(tmp_path / "other.conf")
    _, clients = responses(load(tmp_path / "other.conf"))
    assert clients.files is not None and [f.name for f in clients.files] == list(CLIENT_FILES)


def _ask(tmp_path: Path, conf: str, flags: int, uid: int) -> object:
    (tmp_path / "slurm.conf").write_text(conf)
    daemon = Daemon(load(tmp_path / "slurm.conf"), FakeAuthenticator(), state_dir=tmp_path / "state")
    body = ConfigRequest(flags)
    frame = Frame(Header(MsgType.REQUEST_CONFIG), 101, None, encode_body(body))
    req = Request(MsgType.REQUEST_CONFIG, body, Identity(uid, uid), frame, ("127.0.0.1", 1))

    async def call() -> object:
        try:
            return config_request(daemon.controller, req).body
        finally:
            daemon.controller.signer.close()

    return asyncio.run(call())


def test_slurmd_configs_for_slurm_user_only_and_nothing_unless_enabled(tmp_path: Path) -> None:
    """As _slurm_rpc_config_request: a user may fetch the client files, not slurmd's; without
    enable_configless nobody gets anything."""
    assert _ask(tmp_path, CONF, 1, 1000) == ReturnCode(SlurmRC.ESLURM_USER_ID_MISSING)
    client = _ask(tmp_path, CONF, 0, 1000)
    assert isinstance(client, ConfigResponse) and client.slurmd_spooldir is None
    slurmd = _ask(tmp_path, CONF, 1, 0)
    assert isinstance(slurmd, ConfigResponse) and slurmd.slurmd_spooldir == "/var/spool/slurmd-%n"
    disabled = CONF.replace("SlurmctldParameters=enable_configless\n", "")
    assert _ask(tmp_path, disabled, 0, 0) == ReturnCode(SlurmRC.ESLURM_CONFIGLESS_DISABLED)
