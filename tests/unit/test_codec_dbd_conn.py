"""The connection-level slurmdbd messages against what the real slurmctld 22.05 sent its slurmdbd
(tests/golden/dbd/22.05): each decodes, encodes back to the same bytes, and every cut of it is refused."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from flurm.protocol.constants import AUTH_PLUGIN_MUNGE, MsgType
from flurm.protocol.dbd_types import DbdMsgType
from flurm.protocol.frame import decode_frame
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.dbd_conn import (
    DBD_CONN_BODIES,
    DBD_NODE_STATE_DOWN,
    DBD_NODE_STATE_UP,
    SLURM_GLOBAL_AUTH_KEY,
    SLURMDBD_CONNECTION,
    ClusterTres,
    Fini,
    NodeState,
    RegisterCtld,
    ReservationRec,
    persist_init_head,
)
from flurm.protocol.messages.dbd_jobs import decode_dbd_msg
from flurm.protocol.messages.persist import PERSIST_TYPE_DBD, PersistInitRequest, PersistRc, persist_msg
from flurm.protocol.wire import DecodeError

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "dbd" / "22.05"
V = 0x2600


def decode(msg: bytes, version: int) -> tuple[int, object]:
    return decode_dbd_msg(msg, version, DBD_CONN_BODIES)


def _messages(name: str) -> list[bytes]:
    data = (GOLDEN / name).read_bytes()
    out, i = [], 0
    while i < len(data):
        (n,) = struct.unpack_from(">I", data, i)
        out.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    return out


def _inner(mult: bytes) -> list[bytes]:
    """The messages a DBD_SEND_MULT_MSG carries (u32 count, packmem each, u32 rc)."""
    (count,) = struct.unpack_from(">I", mult, 2)
    out, p = [], 6
    for _ in range(count):
        (n,) = struct.unpack_from(">I", mult, p)
        out.append(mult[p + 4 : p + 4 + n])
        p += 4 + n
    return out


def _all_sent() -> list[bytes]:
    msgs = _messages("dbd-conn1-c2s.bin")[1:]
    flat: list[bytes] = []
    for m in msgs:
        flat.extend(_inner(m) if struct.unpack_from(">H", m)[0] == DbdMsgType.DBD_SEND_MULT_MSG else [m])
    return flat


OWN = {
    DbdMsgType.DBD_REGISTER_CTLD,
    DbdMsgType.DBD_CLUSTER_TRES,
    DbdMsgType.DBD_FLUSH_JOBS,
    DbdMsgType.DBD_NODE_STATE,
    DbdMsgType.DBD_ADD_RESV,
    DbdMsgType.DBD_MODIFY_RESV,
    DbdMsgType.DBD_REMOVE_RESV,
}
SENT = [m for m in _all_sent() if struct.unpack_from(">H", m)[0] in OWN]
FINIS = [m for n in range(2, 8) for m in _messages(f"dbd-conn{n}-c2s.bin")[1:] if m[:2] == b"\x05\x79"]


def test_the_captures_hold_every_message_of_this_module() -> None:
    seen = {struct.unpack_from(">H", m)[0] for m in SENT}
    assert seen == OWN
    assert FINIS


@pytest.mark.parametrize("msg", SENT + FINIS, ids=lambda m: str(struct.unpack_from(">H", m)[0]))
def test_each_message_decodes_and_encodes_back_byte_exact(msg: bytes) -> None:
    msg_type, body = decode(msg, V)
    assert persist_msg(msg_type, body, V) == msg


@pytest.mark.parametrize("msg", SENT + FINIS, ids=lambda m: str(struct.unpack_from(">H", m)[0]))
def test_every_cut_is_refused(msg: bytes) -> None:
    for cut in range(len(msg)):
        with pytest.raises(DecodeError):
            decode(msg[:cut], V)
    with pytest.raises(DecodeError):
        decode(msg + b"\0", V)


def test_what_slurmctld_fills_in() -> None:
    by_type: dict[int, list[object]] = {}
    for m in SENT + FINIS:
        t, body = decode(m, V)
        by_type.setdefault(t, []).append(body)
    (reg,) = by_type[DbdMsgType.DBD_REGISTER_CTLD]
    assert isinstance(reg, RegisterCtld)
    assert (reg.dimensions, reg.flags, reg.plugin_id_select) == (1, 0x80, 109)
    (tres,) = by_type[DbdMsgType.DBD_CLUSTER_TRES]
    assert isinstance(tres, ClusterTres)
    assert tres.cluster_nodes == "compute-node-[1-2]"
    assert tres.tres_str == "1=4,2=2000,3=0,4=2,5=4,6=0,7=0,8=0"
    (flush,) = by_type[DbdMsgType.DBD_FLUSH_JOBS]
    assert flush == ClusterTres(tres.event_time)
    ups = [n for n in by_type[DbdMsgType.DBD_NODE_STATE] if isinstance(n, NodeState) and n.new_state == 2]
    assert ups[0] == NodeState("compute-node-1", DBD_NODE_STATE_UP, ups[0].event_time)
    (drain,) = [n for n in by_type[DbdMsgType.DBD_NODE_STATE] if isinstance(n, NodeState) and n.reason]
    assert (drain.hostlist, drain.new_state, drain.reason, drain.reason_uid) == (
        "compute-node-2",
        DBD_NODE_STATE_DOWN,
        "maint",
        0,
    )
    assert drain.tres_str == "1=2,2=1000,5=2"
    (add,) = by_type[DbdMsgType.DBD_ADD_RESV]
    assert isinstance(add, ReservationRec)
    assert (add.name, add.id, add.cluster, add.nodes, add.node_inx, add.assocs) == (
        "r1",
        1,
        "localtest",
        "compute-node-1",
        "0",
        ",2,",
    )
    assert isinstance(by_type[DbdMsgType.DBD_FINI][0], Fini)
    assert by_type[DbdMsgType.DBD_FINI][0] == Fini(1, 0)


def test_the_persist_init_is_rebuilt_byte_exact_around_its_credential() -> None:
    init = _messages("dbd-conn1-c2s.bin")[0]
    assert struct.unpack_from(">H", init)[0] == MsgType.REQUEST_PERSIST_INIT
    frame = decode_frame(init[2:])
    assert frame.header.flags == SLURM_GLOBAL_AUTH_KEY | SLURMDBD_CONNECTION
    assert frame.credential is not None
    body = decode_body(MsgType.REQUEST_PERSIST_INIT, frame.body, V)
    assert body == PersistInitRequest(V, "localtest", PERSIST_TYPE_DBD, 0)
    raw = encode_body(PersistInitRequest(V, "localtest", PERSIST_TYPE_DBD, 0), V)
    head = persist_init_head(raw, frame.credential, V, AUTH_PLUGIN_MUNGE)
    assert head + raw == struct.pack(">I", len(init)) + init


def test_the_answers_are_persist_rcs_that_name_what_they_answer() -> None:
    answers = _messages("dbd-conn1-s2c.bin")
    _, first = decode(answers[0], V)
    assert first == PersistRc(0, None, 0, V)
    _, reg = decode(answers[1], V)
    assert reg == PersistRc(0, None, 0, DbdMsgType.DBD_REGISTER_CTLD)
    _, tres = decode(answers[8], V)
    assert tres == PersistRc(MsgType.ACCOUNTING_FIRST_REG, None, 0, DbdMsgType.DBD_CLUSTER_TRES)
