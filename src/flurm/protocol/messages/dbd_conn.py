"""The connection-level messages slurmctld's accounting plugin sends slurmdbd (slurmdbd_pack.c and
slurmdb_pack.c of 22.05, 24.11 and 26.05): registration, the cluster's TRES, node state events, the flush
of jobs left running, the end of a connection, and reservation records. Where releases differ
(registration, node state, reservation) one table per record says which release packs which field.

On a persistent connection a message is its u16 DBD type then its body (``persist.persist_msg``); the
opening REQUEST_PERSIST_INIT is an ordinary SLURM message whose header is led by that u16 as well
(pack_header with SLURMDBD_CONNECTION), see :func:`persist_init_frame`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

from flurm.protocol.constants import (
    NO_VAL,
    SLURM_23_02_PROTOCOL_VERSION,
    SLURM_23_11_PROTOCOL_VERSION,
    SLURM_24_05_PROTOCOL_VERSION,
    SLURM_25_05_PROTOCOL_VERSION,
    SLURM_25_11_PROTOCOL_VERSION,
    MsgType,
)
from flurm.protocol.dbd_types import DbdMsgType
from flurm.protocol.frame import encode_frame_head
from flurm.protocol.messages.base import Body, Message
from flurm.protocol.messages.layout import DOUBLE, STR, TIME, U16, U32, U64, VersionedLayout, before, since
from flurm.protocol.messages.persist import PersistRc
from flurm.protocol.versions import DBD_NEWER, DBD_SPOKEN, check_dbd
from flurm.protocol.wire import DecodeError, Reader, Writer

# dbd_node_state_msg_t.new_state (slurmdbd_defs.h)
DBD_NODE_STATE_DOWN = 1
DBD_NODE_STATE_UP = 2

# header flags of the PERSIST_INIT slurmctld sends (slurm_persist_conn_open): the credential is made
# with the AccountingStoragePass socket (SLURM_GLOBAL_AUTH_KEY), and the header is led by the u16 DBD
# type slurmdbd reads first (SLURMDBD_CONNECTION)
SLURM_GLOBAL_AUTH_KEY = 0x0001
SLURMDBD_CONNECTION = 0x0002

# From 24.05 slurmdbd answers DBD_REGISTER_CTLD with the cluster's id and this bit as the PERSIST_RC's rc: a
# success (slurmdbd_defs.h)
RC_AS_CLUSTER_ID = 1 << 31


def registered_cluster_id(rc: int) -> int | None:
    """The cluster id a DBD_REGISTER_CTLD answer's rc carries (a success), None when it carries none.
    SLURM_ERROR (-1, "This cluster hasn't been added to accounting yet") has bit 31 too: it is no id."""
    unsigned = rc & 0xFFFFFFFF
    return unsigned & 0xFFFF if unsigned & RC_AS_CLUSTER_ID and unsigned != 0xFFFFFFFF else None


@dataclass(frozen=True, slots=True)
class RegisterCtld(Message):
    """DBD_REGISTER_CTLD (:data:`REGISTER_CTLD`): u16 dimensions, u32 cluster flags, u32 select plugin id
    (before 24.05), u16 the controller's port (the one ``sacctmgr show cluster`` prints and slurmdbd sends
    ACCOUNTING_UPDATE_MSG to), u32 cluster id (25.11 on)."""

    NEWER_LAYOUTS = DBD_NEWER

    port: int
    dimensions: int = 1
    flags: int = 0
    plugin_id_select: int = 0
    cluster_id: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.raw(REGISTER_CTLD.pack(self, version))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return REGISTER_CTLD.unpacker(version)(cls, r)


REGISTER_CTLD = VersionedLayout(
    RegisterCtld,
    (
        ("dimensions", U16),
        ("flags", U32),
        ("plugin_id_select", U32, before(SLURM_24_05_PROTOCOL_VERSION)),
        ("port", U16),
        ("cluster_id", U32, since(SLURM_25_11_PROTOCOL_VERSION)),
    ),
    DBD_SPOKEN,
)


@dataclass(frozen=True, slots=True)
class ClusterTres(Message):
    """DBD_CLUSTER_TRES and DBD_FLUSH_JOBS (one layout, dbd_cluster_tres_msg_t): str cluster_nodes,
    time event_time, str tres_str ("1=4,2=2000,..." by TRES id). A flush sends only the time."""

    NEWER_LAYOUTS = DBD_NEWER

    event_time: int
    cluster_nodes: str | None = None
    tres_str: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        check_dbd(version, "DBD_CLUSTER_TRES")
        w.string(self.cluster_nodes)
        w.time(self.event_time)
        w.string(self.tres_str)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        check_dbd(version, "DBD_CLUSTER_TRES")
        nodes, when = r.string(), r.time()
        return cls(when, nodes, r.string())


@dataclass(frozen=True, slots=True)
class NodeState(Message):
    """DBD_NODE_STATE (:data:`NODE_STATE`): str hostlist, [23.11 on: str extra, str instance_id, str
    instance_type], str reason, u32 reason_uid, u16 new_state (DOWN 1 / UP 2), time event_time, u32
    node_state, str tres_str. An "up" carries only the name and the time."""

    NEWER_LAYOUTS = DBD_NEWER

    hostlist: str
    new_state: int
    event_time: int
    reason: str | None = None
    reason_uid: int = 0
    state: int = 0
    tres_str: str | None = None
    extra: str | None = None
    instance_id: str | None = None
    instance_type: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.raw(NODE_STATE.pack(self, version))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        msg = NODE_STATE.unpacker(version)(cls, r)
        if msg.hostlist is None:
            raise DecodeError("DBD_NODE_STATE without a node name")
        return msg


_V2311 = SLURM_23_11_PROTOCOL_VERSION
NODE_STATE = VersionedLayout(
    NodeState,
    (
        ("hostlist", STR),
        ("extra", STR, since(_V2311)),
        ("instance_id", STR, since(_V2311)),
        ("instance_type", STR, since(_V2311)),
        ("reason", STR),
        ("reason_uid", U32),
        ("new_state", U16),
        ("event_time", TIME),
        ("state", U32),
        ("tres_str", STR),
    ),
    DBD_SPOKEN,
)


@dataclass(frozen=True, slots=True)
class Fini(Message):
    """DBD_FINI: u16 close_conn, u16 commit."""

    NEWER_LAYOUTS = DBD_NEWER

    close_conn: int = 1
    commit: int = 0

    def pack(self, w: Writer, version: int) -> None:
        check_dbd(version, "DBD_FINI")
        w.u16(self.close_conn)
        w.u16(self.commit)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        check_dbd(version, "DBD_FINI")
        return cls(r.u16(), r.u16())


@dataclass(frozen=True, slots=True)
class ReservationRec(Message):
    """slurmdb_reservation_rec_t (:data:`RESERVATION`), the body of DBD_ADD_RESV, DBD_MODIFY_RESV and
    DBD_REMOVE_RESV: str assocs, str cluster, [23.02 on: str comment], u64 flags, u32 id, str name,
    str nodes, str node_inx, time end, [25.05 on: time force], time start, time start_prev, str tres_str,
    list tres (slurmctld sends none: u32 NO_VAL), double unused_wall."""

    NEWER_LAYOUTS = DBD_NEWER

    cluster: str
    id: int
    time_start: int
    name: str | None = None
    assocs: str | None = None
    flags: int = 0
    nodes: str | None = None
    node_inx: str | None = None
    time_end: int = 0
    time_start_prev: int = 0
    tres_str: str | None = None
    unused_wall: float = 0.0
    comment: str | None = None
    time_force: int = 0
    tres_list: int = NO_VAL  # the count of a TRES list: slurmctld sends none

    def pack(self, w: Writer, version: int) -> None:
        w.raw(RESERVATION.pack(self, version))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        rec = RESERVATION.unpacker(version)(cls, r)
        if rec.tres_list != NO_VAL:
            raise DecodeError("a reservation record with a TRES list (slurmctld sends none)")
        if rec.cluster is None:
            raise DecodeError("a reservation record without a cluster")
        return rec


RESERVATION = VersionedLayout(
    ReservationRec,
    (
        ("assocs", STR),
        ("cluster", STR),
        ("comment", STR, since(SLURM_23_02_PROTOCOL_VERSION)),
        ("flags", U64),
        ("id", U32),
        ("name", STR),
        ("nodes", STR),
        ("node_inx", STR),
        ("time_end", TIME),
        ("time_force", TIME, since(SLURM_25_05_PROTOCOL_VERSION)),
        ("time_start", TIME),
        ("time_start_prev", TIME),
        ("tres_str", STR),
        ("tres_list", U32),
        ("unused_wall", DOUBLE),
    ),
    DBD_SPOKEN,
)


# the body layout of each DBD type this module speaks (decode with dbd_jobs.decode_dbd_msg)
DBD_CONN_BODIES: Mapping[DbdMsgType, type[Body]] = {
    DbdMsgType.DBD_REGISTER_CTLD: RegisterCtld,
    DbdMsgType.DBD_CLUSTER_TRES: ClusterTres,
    DbdMsgType.DBD_FLUSH_JOBS: ClusterTres,
    DbdMsgType.DBD_NODE_STATE: NodeState,
    DbdMsgType.DBD_FINI: Fini,
    DbdMsgType.DBD_ADD_RESV: ReservationRec,
    DbdMsgType.DBD_MODIFY_RESV: ReservationRec,
    DbdMsgType.DBD_REMOVE_RESV: ReservationRec,
    DbdMsgType(MsgType.PERSIST_RC): PersistRc,  # what slurmdbd answers most messages with
}


def persist_init_head(body: bytes, credential: bytes, version: int, auth_plugin: int) -> bytes:
    """What precedes the body of the REQUEST_PERSIST_INIT slurmctld opens its slurmdbd connection with:
    u32 length, the u16 type slurmdbd reads first, then an ordinary header and credential. The length
    covers all of it and the body."""
    head = encode_frame_head(
        MsgType.REQUEST_PERSIST_INIT,
        len(body),
        credential,
        version=version,
        flags=SLURM_GLOBAL_AUTH_KEY | SLURMDBD_CONNECTION,
        auth_plugin=auth_plugin,
    )
    (length,) = struct.unpack_from(">I", head)
    return struct.pack(">IH", length + 2, MsgType.REQUEST_PERSIST_INIT) + head[4:]
