"""Configless: REQUEST_CONFIG / RESPONSE_CONFIG codecs and which files go to slurmd and to clients."""

from __future__ import annotations

from pathlib import Path

from flurm.config import load
from flurm.controller.handlers.configless import CLIENT_FILES, SLURMD_FILES, configless_enabled, responses
from flurm.protocol.constants import NO_VAL, MsgType
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.config_files import ConfigFile, ConfigRequest, ConfigResponse
from flurm.protocol.wire import Writer

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
