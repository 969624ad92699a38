"""The association codec against real slurmctld 22.05 <-> slurmdbd 22.05 traffic
(tests/golden/dbd/22.05/assocs): DBD_GET_TRES/QOS/USERS/ASSOCS and their DBD_GOT_* answers, and the
ACCOUNTING_UPDATE_MSG slurmdbd sends the controller, decode and encode back to the same bytes; any cut or
extra byte is a DecodeError."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from flurm.protocol.constants import (
    NO_VAL,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_25_05_PROTOCOL_VERSION,
    MsgType,
)
from flurm.protocol.dbd_types import DbdMsgType
from flurm.protocol.frame import decode_frame
from flurm.protocol.messages import decode_body, encode_body
from flurm.protocol.messages.dbd_assoc import (
    DBD_BODIES,
    AccountingUpdate,
    AssocRec,
    ClusResRec,
    GetAssocs,
    GotAssocs,
    GotQos,
    GotTres,
    GotUsers,
    QosRec,
    Record,
    ResRec,
    TresRec,
    UpdateObject,
    UpdateType,
    decode_dbd,
    double,
    encode_dbd,
)
from flurm.protocol.wire import DecodeError

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "dbd" / "22.05" / "assocs"
V = SLURM_22_05_PROTOCOL_VERSION


def frames(name: str) -> list[bytes]:
    data = (GOLDEN / name).read_bytes()
    out, i = [], 0
    while i < len(data):
        (n,) = struct.unpack_from(">I", data, i)
        out.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    return out


def dbd_messages() -> list[tuple[int, bytes]]:
    """(type, body) of every message of the association codec on slurmctld's connection."""
    msgs = frames("dbd-conn1-c2s.bin")[1:] + frames("dbd-conn1-s2c.bin")
    return [(t, m[2:]) for m in msgs if (t := struct.unpack_from(">H", m)[0]) in DBD_BODIES]


def update_bodies() -> list[bytes]:
    out = []
    for n in range(1, 10):
        frame = decode_frame(frames(f"ctld-conn{n}-c2s.bin")[0])
        assert frame.msg_type == MsgType.ACCOUNTING_UPDATE_MSG and frame.version == V
        out.append(frame.body)
    return out


def test_every_layout_names_its_fields_in_order() -> None:
    for cls in Record.__subclasses__():
        cls.check_layout()


def test_the_start_queries_and_answers_round_trip_byte_for_byte() -> None:
    seen = set()
    for msg_type, body in dbd_messages():
        decoded = decode_dbd(msg_type, body, V)
        assert encode_dbd(decoded, V) == (msg_type, body)
        seen.add(DbdMsgType(msg_type).name)
    assert seen == {
        "DBD_GET_TRES", "DBD_GET_QOS", "DBD_GET_USERS", "DBD_GET_ASSOCS",
        "DBD_GOT_TRES", "DBD_GOT_QOS", "DBD_GOT_USERS", "DBD_GOT_ASSOCS",
    }  # fmt: skip


def test_what_slurmdbd_answered() -> None:
    got = {type(b): b for b in (decode_dbd(t, m, V) for t, m in dbd_messages())}
    tres = got[GotTres]
    assert isinstance(tres, GotTres) and tres.items is not None
    assert [(t.id, t.type, t.name) for t in tres.items][:5] == [
        (1, "cpu", None), (2, "mem", None), (3, "energy", None), (4, "node", None), (5, "billing", None),
    ]  # fmt: skip
    qos = got[GotQos]
    assert isinstance(qos, GotQos) and qos.items is not None
    small = next(q for q in qos.items if q.name == "small")
    assert (small.max_jobs_pu, small.max_tres_pj, small.max_wall_pj, small.priority) == (1, "1=1", 10, 10)
    assert double(small.usage_factor) == 1.0
    big = next(q for q in qos.items if q.name == "big")
    assert (big.grp_tres, big.max_submit_jobs_pu, big.flags) == ("1=2", 4, 0x40)  # DenyOnLimit
    users = got[GotUsers]
    assert isinstance(users, GotUsers) and users.items is not None
    assert {u.name: u.admin_level for u in users.items} == {
        "bin": 1,
        "daemon": 1,
        "nobody": 1,
        "root": 3,
        "sys": 1,
    }
    assocs = got[GotAssocs]
    assert isinstance(assocs, GotAssocs) and assocs.items is not None
    nobody_child = next(a for a in assocs.items if a.user == "nobody" and a.acct == "child")
    assert (nobody_child.is_def, nobody_child.max_jobs, nobody_child.max_submit_jobs) == (1, 1, 6)
    assert nobody_child.max_tres_pj == "1=2" and nobody_child.max_wall_pj == 30  # inherited from child
    child = next(a for a in assocs.items if a.user is None and a.acct == "child")
    assert (child.grp_jobs, child.grp_tres, child.parent_acct) == (2, "1=2", "parent")
    get = next(decode_dbd(t, m, V) for t, m in dbd_messages() if t == DbdMsgType.DBD_GET_ASSOCS)
    assert isinstance(get, GetAssocs) and get.cond.cluster_list == ("localtest",)


def test_the_updates_round_trip_byte_for_byte() -> None:
    kinds = []
    for body in update_bodies():
        msg = decode_body(MsgType.ACCOUNTING_UPDATE_MSG, body, V)
        assert isinstance(msg, AccountingUpdate)
        assert encode_body(msg, V) == body
        kinds.append([u.type.name.removeprefix("SLURMDB_") for u in msg.updates])
    assert kinds == [
        ["MODIFY_ASSOC"],
        ["ADD_QOS"],
        ["MODIFY_QOS"],
        ["ADD_USER", "ADD_ASSOC", "MODIFY_ASSOC"],
        ["REMOVE_USER", "REMOVE_ASSOC", "MODIFY_ASSOC"],
        ["ADD_ASSOC", "MODIFY_ASSOC"],
        ["MODIFY_ASSOC"],
        ["ADD_COORD"],
        ["REMOVE_QOS"],
    ]
    first = decode_body(MsgType.ACCOUNTING_UPDATE_MSG, update_bodies()[0], V)
    assert isinstance(first, AccountingUpdate)
    (rec,) = first.updates[0].objects or ()
    assert isinstance(rec, AssocRec) and (rec.id, rec.max_jobs, rec.max_submit_jobs) == (6, 2, NO_VAL)


def test_a_cut_or_an_extra_byte_is_a_decode_error() -> None:
    cases: list[tuple[str, bytes]] = [(str(t), b) for t, b in dbd_messages()]
    cases += [("update", b) for b in update_bodies()]
    for what, body in cases:
        for cut in range(len(body)):
            with pytest.raises(DecodeError):
                if what == "update":
                    decode_body(MsgType.ACCOUNTING_UPDATE_MSG, body[:cut], V)
                else:
                    decode_dbd(int(what), body[:cut], V)
        with pytest.raises(DecodeError):
            if what == "update":
                decode_body(MsgType.ACCOUNTING_UPDATE_MSG, body + b"\0", V)
            else:
                decode_dbd(int(what), body + b"\0", V)


def test_hostile_counts_and_unknown_kinds_are_refused() -> None:
    with pytest.raises(DecodeError):  # a list longer than the bytes that follow
        decode_dbd(DbdMsgType.DBD_GOT_ASSOCS, struct.pack(">II", 100_000, 0), V)
    with pytest.raises(DecodeError):  # SLURMDB_UPDATE_FEDS: not decoded, refused whole
        decode_body(MsgType.ACCOUNTING_UPDATE_MSG, struct.pack(">IHI", 1, 23, 0), V)
    with pytest.raises(DecodeError):
        decode_body(MsgType.ACCOUNTING_UPDATE_MSG, struct.pack(">IHI", 1, 999, 0), V)
    with pytest.raises(DecodeError):  # an unknown DBD type
        decode_dbd(DbdMsgType.DBD_GET_JOBS_COND, b"", V)
    with pytest.raises(DecodeError):  # a release whose layout flurm does not know is not guessed
        decode_dbd(DbdMsgType.DBD_GOT_TRES, encode_dbd(GotTres(), V)[1], SLURM_25_05_PROTOCOL_VERSION)


def test_built_messages_decode_to_themselves() -> None:
    update = AccountingUpdate(
        (
            UpdateObject(UpdateType.SLURMDB_ADD_TRES, (TresRec(id=1001, type="gres", name="gpu"),)),
            UpdateObject(UpdateType.SLURMDB_ADD_CLUSTER, None),
            UpdateObject(UpdateType.SLURMDB_MODIFY_QOS, (QosRec(id=2, max_jobs_pu=3),)),
            UpdateObject(UpdateType.SLURMDB_REMOVE_ASSOC, None),
            UpdateObject(
                UpdateType.SLURMDB_ADD_RES,
                (
                    ResRec(
                        (ClusResRec("c", 50),), ClusResRec("c", 50), 10, "lic", 0, 1, "m", "fluent", 0, "s", 1
                    ),
                ),
            ),
        )
    )
    assert decode_body(MsgType.ACCOUNTING_UPDATE_MSG, encode_body(update, V), V) == update
    got = GotAssocs((AssocRec(acct="a", user="u", qos_list=("1", "2")),), 0)
    assert decode_dbd(*encode_dbd(got, V), V) == got
