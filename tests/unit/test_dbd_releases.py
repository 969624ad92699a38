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

from flurm.accounting.enforcement import start_queries
from flurm.protocol.constants import AUTH_PLUGIN_MUNGE, MsgType
from flurm.protocol.dbd_types import DbdMsgType
from flurm.protocol.frame import decode_frame
from flurm.protocol.messages.base import Body, decode_body, encode_body
from flurm.protocol.messages.dbd_assoc import DBD_BODIES as ASSOC_BODIES
from flurm.protocol.messages.dbd_assoc import (
    AccountingUpdate,
    GotAssocs,
    GotUsers,
    UpdateObject,
    UpdateType,
    decode_dbd,
    encode_dbd,
)
from flurm.protocol.messages.dbd_conn import (
    DBD_CONN_BODIES,
    NodeState,
    RegisterCtld,
    ReservationRec,
    persist_init_head,
    registered_cluster_id,
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
from flurm.protocol.messages.persist import PERSIST_TYPE_DBD, PersistInitRequest, PersistRc, persist_msg
from flurm.protocol.versions import DBD_SPOKEN, VersionError
from flurm.protocol.wire import DecodeError

GETS = {DbdMsgType.DBD_GET_TRES, DbdMsgType.DBD_GET_QOS, DbdMsgType.DBD_GET_USERS, DbdMsgType.DBD_GET_ASSOCS}
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


@pytest.mark.parametrize(("release", "cluster_id"), [("22.05", None), ("24.11", 0x342), ("26.05", 0x9E0)])
def test_the_registration_is_answered_with_the_cluster_id_from_24_05(
    release: str, cluster_id: int | None
) -> None:
    """slurmdbd's answer to DBD_REGISTER_CTLD (the second message it sends): rc 0 up to 23.11, then the
    cluster's id with bit 31 set, a success."""
    answer = frames(GOLDEN / release / "dbd-conn1-s2c.bin")[1]
    _, rc = decode_dbd_msg(answer, RELEASES[release], BODIES)
    assert isinstance(rc, PersistRc) and rc.ret_info == DbdMsgType.DBD_REGISTER_CTLD
    assert registered_cluster_id(rc.rc) == cluster_id
    assert registered_cluster_id(0) is None and registered_cluster_id(-1) is None
    assert registered_cluster_id(1 << 31 | 7) == 7


# -- the association queries and their answers (dbd_assoc) ------------------------------------------


def assoc_messages(release: str, sub: str = "") -> list[tuple[str, int, bytes]]:
    """The association queries and answers of conn1 (of ``sub``: "assocs", a database sacctmgr filled)."""
    out = []
    for side in ("c2s", "s2c"):
        msgs = frames(GOLDEN / release / sub / f"dbd-conn1-{side}.bin")
        for k, msg in enumerate(msgs[1:] if side == "c2s" else msgs):
            msg_type, body = split_dbd_msg(msg)
            if msg_type in ASSOC_BODIES:
                out.append((f"{release}/{sub}{side}#{k}", msg_type, body))
    return out


ASSOC_CASES = [(rel, w, t, b) for rel in RELEASES for w, t, b in assoc_messages(rel)]
FILLED = [r for r in RELEASES if (GOLDEN / r / "assocs").is_dir()]
FILLED_CASES = [(rel, w, t, b) for rel in FILLED for w, t, b in assoc_messages(rel, "assocs/")]


@pytest.mark.parametrize("release", RELEASES)
def test_the_captures_hold_the_association_queries_and_answers(release: str) -> None:
    seen = {t for r, _, t, _ in ASSOC_CASES if r == release}
    # a cluster without GRES in AccountingStorageTRES adds no TRES (DBD_ADD_TRES: only in the GRES
    # accounting parity test, tests/integration/test_parity_accounting_gres.py)
    assert seen == set(ASSOC_BODIES) - {DbdMsgType.DBD_ADD_TRES}


@pytest.mark.parametrize(
    ("release", "where", "msg_type", "body"), ASSOC_CASES, ids=[w for _, w, _, _ in ASSOC_CASES]
)
def test_association_messages_round_trip_and_cuts_are_decode_errors(
    release: str, where: str, msg_type: int, body: bytes
) -> None:
    version = RELEASES[release]
    rec = decode_dbd(msg_type, body, version)
    assert encode_dbd(rec, version) == (msg_type, body)
    for cut in range(len(body)):
        with pytest.raises(DecodeError):
            decode_dbd(msg_type, body[:cut], version)


@pytest.mark.parametrize("release", RELEASES)
def test_flurm_asks_what_slurmctld_asks(release: str) -> None:
    """The four queries of the connection's start, byte for byte as the release's slurmctld sends them."""
    version = RELEASES[release]
    theirs = [(t, b) for r, _, t, b in ASSOC_CASES if r == release and t in GETS]
    assert [encode_dbd(q, version) for q in start_queries("localtest")] == theirs


def test_what_the_answers_of_24_11_hold() -> None:
    got = {t: decode_dbd(t, b, 0x2A00) for r, _, t, b in ASSOC_CASES if r == "24.11"}
    assocs = got[DbdMsgType.DBD_GOT_ASSOCS]
    assert isinstance(assocs, GotAssocs) and assocs.items
    root = next(a for a in assocs.items if a.user == "root")
    assert (root.acct, root.cluster) == ("root", "localtest") and root.lineage
    users = got[DbdMsgType.DBD_GOT_USERS]
    assert isinstance(users, GotUsers) and any(u.name == "root" for u in users.items or ())


@pytest.mark.parametrize("release", ["24.11", "26.05"])
def test_an_accounting_update_of_a_newer_release_round_trips(release: str) -> None:
    """ACCOUNTING_UPDATE_MSG as slurmdbd of 24.11 or 26.05 sends it: its records in that release's layout
    (no capture of one yet: built, and read back)."""
    version = RELEASES[release]
    got = {t: decode_dbd(t, b, version) for r, _, t, b in ASSOC_CASES if r == release}
    assocs, users = got[DbdMsgType.DBD_GOT_ASSOCS], got[DbdMsgType.DBD_GOT_USERS]
    assert isinstance(assocs, GotAssocs) and isinstance(users, GotUsers) and assocs.items and users.items
    update = AccountingUpdate(
        (
            UpdateObject(UpdateType.SLURMDB_MODIFY_ASSOC, assocs.items),
            UpdateObject(UpdateType.SLURMDB_ADD_USER, users.items),
        )
    )
    raw = encode_body(update, version)
    assert decode_body(MsgType.ACCOUNTING_UPDATE_MSG, raw, version) == update
    if release == "24.11":  # (26.05's association flags do not fit 22.05's u16)
        assert raw != encode_body(update, 0x2600)  # the association's layout differs
    for cut in range(len(raw)):
        with pytest.raises(DecodeError):
            decode_body(MsgType.ACCOUNTING_UPDATE_MSG, raw[:cut], version)


def test_the_filled_databases_of_the_newer_releases_are_captured() -> None:
    assert set(FILLED) == set(RELEASES)
    got = {t: decode_dbd(t, b, 0x2A00) for r, _, t, b in FILLED_CASES if r == "24.11"}
    assocs, users = got[DbdMsgType.DBD_GOT_ASSOCS], got[DbdMsgType.DBD_GOT_USERS]
    assert isinstance(assocs, GotAssocs) and isinstance(users, GotUsers)
    child = next(a for a in assocs.items or () if a.user == "nobody" and a.acct == "child")
    assert (child.max_jobs, child.max_submit_jobs) == (1, 6) and child.lineage  # as SETUP left them
    assert {u.name for u in users.items or ()} == {"root", "nobody", "daemon", "bin", "sys"}
