"""Real slurmctld <-> slurmdbd traffic of each release flurm speaks to slurmdbd (tests/golden/dbd/RELEASE,
made by tests/golden/dbd/capture.py): every message of the connection and job codecs, those inside
DBD_SEND_MULT_MSG and DBD_GOT_MULT_MSG too, decodes in the version the connection announced and encodes
back byte for byte; every cut of a body is a DecodeError and nothing else; the PERSIST_INIT announces the
release's own version in its header and its body."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path

import pytest

from flurm.protocol.constants import AUTH_PLUGIN_MUNGE, MsgType
from flurm.protocol.dbd_types import DbdMsgType
from flurm.protocol.frame import decode_frame
from flurm.protocol.messages.base import Body, decode_body, encode_body
from flurm.protocol.messages.dbd_conn import (
    DBD_CONN_BODIES,
    NodeState,
    RegisterCtld,
    ReservationRec,
    persist_init_head,
)
from flurm.protocol.messages.dbd_jobs import (
    DBD_JOB_BODIES,
    DbdJobComplete,
    DbdJobStart,
    DbdMultMsg,
    DbdStepComplete,
    DbdStepStart,
    decode_dbd_msg,
    split_dbd_msg,
)
from flurm.protocol.messages.persist import PERSIST_TYPE_DBD, PersistInitRequest, persist_msg
from flurm.protocol.versions import DBD_SPOKEN, VersionError
from flurm.protocol.wire import DecodeError

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "dbd"
RELEASES = {"22.05": 0x2600, "24.11": 0x2A00, "26.05": 0x2D00}
BODIES: Mapping[DbdMsgType, type[Body]] = {**DBD_CONN_BODIES, **DBD_JOB_BODIES}
# what slurmctld sends on its connection and slurmdbd answers, that flurm's codecs speak
EXPECTED = {
    DbdMsgType.DBD_REGISTER_CTLD,
    DbdMsgType.DBD_CLUSTER_TRES,
    DbdMsgType.DBD_NODE_STATE,
    DbdMsgType.DBD_JOB_START,
    DbdMsgType.DBD_ID_RC,
    DbdMsgType.DBD_JOB_COMPLETE,
    DbdMsgType.DBD_JOB_SUSPEND,
    DbdMsgType.DBD_STEP_START,
    DbdMsgType.DBD_STEP_COMPLETE,
    DbdMsgType.DBD_SEND_MULT_MSG,
    DbdMsgType.DBD_GOT_MULT_MSG,
    DbdMsgType(MsgType.PERSIST_RC),
}


def frames(path: Path) -> list[bytes]:
    data = path.read_bytes()
    out, i = [], 0
    while i < len(data):
        (n,) = struct.unpack_from(">I", data, i)
        out.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    assert i == len(data)
    return out


def messages(release: str) -> list[tuple[str, bytes]]:
    """Every message of the codecs' types on every connection (the inits apart), MULT contents included."""
    version = RELEASES[release]
    out = []
    for path in sorted((GOLDEN / release).glob("dbd-conn*-*.bin")):
        msgs = frames(path)
        if path.name.endswith("-c2s.bin"):
            msgs = msgs[1:]  # the REQUEST_PERSIST_INIT: an ordinary message (test below)
        for k, msg in enumerate(msgs):
            msg_type, _ = split_dbd_msg(msg)
            if msg_type not in BODIES:
                continue  # the association queries and their answers: dbd_assoc's
            out.append((f"{release}/{path.stem}#{k}", msg))
            if msg_type in (DbdMsgType.DBD_SEND_MULT_MSG, DbdMsgType.DBD_GOT_MULT_MSG):
                _, body = decode_dbd_msg(msg, version, BODIES)
                assert isinstance(body, DbdMultMsg) and body.messages is not None
                for j, inner in enumerate(body.messages):
                    if split_dbd_msg(inner)[0] in BODIES:
                        out.append((f"{release}/{path.stem}#{k}.{j}", inner))
    return out


CASES = [(rel, where, msg) for rel in RELEASES for where, msg in messages(rel)]


@pytest.mark.parametrize("release", RELEASES)
def test_the_captures_hold_every_message_flurm_sends_and_reads(release: str) -> None:
    seen = {split_dbd_msg(m)[0] for r, _, m in CASES if r == release}
    assert seen >= EXPECTED, sorted(DbdMsgType(t).name for t in EXPECTED - seen)
    if release != "22.05":  # the 22.05 capture is older than the reservation records
        assert seen >= {DbdMsgType.DBD_ADD_RESV, DbdMsgType.DBD_MODIFY_RESV, DbdMsgType.DBD_REMOVE_RESV}


def test_flurm_speaks_each_captured_release_to_slurmdbd() -> None:
    assert set(RELEASES.values()) == set(DBD_SPOKEN)


@pytest.mark.parametrize(("release", "where", "msg"), CASES, ids=[w for _, w, _ in CASES])
def test_round_trip_byte_exact(release: str, where: str, msg: bytes) -> None:
    version = RELEASES[release]
    msg_type, body = decode_dbd_msg(msg, version, BODIES)
    assert persist_msg(msg_type, body, version) == msg


@pytest.mark.parametrize(("release", "where", "msg"), CASES, ids=[w for _, w, _ in CASES])
def test_every_cut_is_a_decode_error(release: str, where: str, msg: bytes) -> None:
    version = RELEASES[release]
    for cut in range(2, len(msg)):
        with pytest.raises(DecodeError):
            decode_dbd_msg(msg[:cut], version, BODIES)


@pytest.mark.parametrize("release", ["24.11", "26.05"])
def test_a_newer_layout_read_as_22_05_is_refused(release: str) -> None:
    """The layouts differ: a record of 24.11 read as 22.05 never passes for one (a DecodeError, as any
    misread, or a VersionError)."""
    starts = [m for r, _, m in CASES if r == release and split_dbd_msg(m)[0] == DbdMsgType.DBD_JOB_START]
    assert starts
    for msg in starts:
        with pytest.raises(DecodeError):
            decode_dbd_msg(msg, 0x2600, BODIES)


@pytest.mark.parametrize("release", RELEASES)
def test_the_init_announces_the_release_in_header_and_body(release: str) -> None:
    """slurmctld announces its own version twice; flurm's init of that version is the same bytes around
    the credential."""
    version = RELEASES[release]
    init = frames(GOLDEN / release / "dbd-conn1-c2s.bin")[0]
    assert struct.unpack_from(">H", init)[0] == MsgType.REQUEST_PERSIST_INIT
    frame = decode_frame(init[2:])
    assert frame.header.version == version and frame.credential is not None
    body = decode_body(MsgType.REQUEST_PERSIST_INIT, frame.body, version)
    assert body == PersistInitRequest(version, "localtest", PERSIST_TYPE_DBD, 0)
    raw = encode_body(body, version)
    head = persist_init_head(raw, frame.credential, version, AUTH_PLUGIN_MUNGE)
    assert head + raw == struct.pack(">I", len(init)) + init


def _first(release: str, cls: type[Body]) -> Body:
    for _, msg in messages(release):
        _, body = decode_dbd_msg(msg, RELEASES[release], BODIES)
        if isinstance(body, cls):
            return body
    raise AssertionError(f"no {cls.__name__} in {release}")


def test_what_the_newer_releases_fill_in() -> None:
    start = _first("24.11", DbdJobStart)
    assert isinstance(start, DbdJobStart) and start.job_id == 1 and start.name == "ok"
    reg = _first("24.11", RegisterCtld)
    assert isinstance(reg, RegisterCtld) and reg.plugin_id_select == 0 and reg.port > 0
    reg26 = _first("26.05", RegisterCtld)
    assert isinstance(reg26, RegisterCtld) and reg26.port > 0
    step = _first("24.11", DbdStepStart)
    assert isinstance(step, DbdStepStart) and step.step_id.job_id >= 1
    comp = _first("24.11", DbdStepComplete)
    assert isinstance(comp, DbdStepComplete) and comp.jobacct is not None
    node = _first("24.11", NodeState)
    assert isinstance(node, NodeState) and node.hostlist.startswith("compute-node-")
    resv = _first("26.05", ReservationRec)
    assert isinstance(resv, ReservationRec) and resv.name == "r1"
    done = _first("26.05", DbdJobComplete)
    assert isinstance(done, DbdJobComplete) and done.job_id >= 1


def test_an_unspoken_release_is_refused() -> None:
    msg = next(m for r, _, m in CASES if r == "24.11" and split_dbd_msg(m)[0] == DbdMsgType.DBD_JOB_START)
    with pytest.raises(VersionError):
        decode_dbd_msg(msg, 0x2B00, BODIES)
