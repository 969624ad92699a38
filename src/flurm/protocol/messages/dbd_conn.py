"""The connection-level messages slurmctld's accounting plugin sends slurmdbd (slurmdbd_pack.c and
slurmdb_pack.c of 22.05): registration, the cluster's TRES, node state events, the flush of jobs left
running, the end of a connection, and reservation records.

On a persistent connection a message is its u16 DBD type then its body (``persist.persist_msg``); the
opening REQUEST_PERSIST_INIT is an ordinary SLURM message whose header is led by that u16 as well
(pack_header with SLURMDBD_CONNECTION), see :func:`persist_init_frame`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

from flurm.protocol.constants import NO_VAL, MsgType
from flurm.protocol.dbd_types import DbdMsgType
from flurm.protocol.frame import encode_frame_head
from flurm.protocol.messages.base import Body, Message
from flurm.protocol.messages.persist import PersistRc
from flurm.protocol.wire import DecodeError, Reader, Writer

# dbd_node_state_msg_t.new_state (slurmdbd_defs.h)
DBD_NODE_STATE_DOWN = 1
DBD_NODE_STATE_UP = 2

# header flags of the PERSIST_INIT slurmctld sends (slurm_persist_conn_open): the credential is made
# with the AccountingStoragePass socket (SLURM_GLOBAL_AUTH_KEY), and the header is led by the u16 DBD
# type slurmdbd reads first (SLURMDBD_CONNECTION)
SLURM_GLOBAL_AUTH_KEY = 0x0001
SLURMDBD_CONNECTION = 0x0002


@dataclass(frozen=True, slots=True)
class RegisterCtld(Message):
    """DBD_REGISTER_CTLD: u16 dimensions, u32 cluster flags, u32 select plugin id, u16 the controller's
    port (the one ``sacctmgr show cluster`` prints and slurmdbd sends ACCOUNTING_UPDATE_MSG to)."""

    port: int
    dimensions: int = 1
    flags: int = 0
    plugin_id_select: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.u16(self.dimensions)
        w.u32(self.flags)
        w.u32(self.plugin_id_select)
        w.u16(self.port)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        dimensions, flags, plugin = r.u16(), r.u32(), r.u32()
        return cls(r.u16(), dimensions, flags, plugin)


@dataclass(frozen=True, slots=True)
class ClusterTres(Message):
    """DBD_CLUSTER_TRES and DBD_FLUSH_JOBS (one layout, dbd_cluster_tres_msg_t): str cluster_nodes,
    time event_time, str tres_str ("1=4,2=2000,..." by TRES id). A flush sends only the time."""

    event_time: int
    cluster_nodes: str | None = None
    tres_str: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.string(self.cluster_nodes)
        w.time(self.event_time)
        w.string(self.tres_str)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        nodes, when = r.string(), r.time()
        return cls(when, nodes, r.string())


@dataclass(frozen=True, slots=True)
class NodeState(Message):
    """DBD_NODE_STATE: str hostlist, str reason, u32 reason_uid, u16 new_state (DOWN 1 / UP 2),
    time event_time, u32 node_state, str tres_str. An "up" carries only the name and the time."""

    hostlist: str
    new_state: int
    event_time: int
    reason: str | None = None
    reason_uid: int = 0
    state: int = 0
    tres_str: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.string(self.hostlist)
        w.string(self.reason)
        w.u32(self.reason_uid)
        w.u16(self.new_state)
        w.time(self.event_time)
        w.u32(self.state)
        w.string(self.tres_str)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        hostlist, reason, reason_uid, new_state = r.string(), r.string(), r.u32(), r.u16()
        if hostlist is None:
            raise DecodeError("DBD_NODE_STATE without a node name")
        when, state = r.time(), r.u32()
        return cls(hostlist, new_state, when, reason, reason_uid, state, r.string())


@dataclass(frozen=True, slots=True)
class Fini(Message):
    """DBD_FINI: u16 close_conn, u16 commit."""

    close_conn: int = 1
    commit: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.u16(self.close_conn)
        w.u16(self.commit)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.u16(), r.u16())


@dataclass(frozen=True, slots=True)
class ReservationRec(Message):
    """slurmdb_reservation_rec_t, the body of DBD_ADD_RESV, DBD_MODIFY_RESV and DBD_REMOVE_RESV:
    str assocs, str cluster, u64 flags, u32 id, str name, str nodes, str node_inx, time end, time start,
    time start_prev, str tres_str, list tres (slurmctld sends none: NO_VAL), double unused_wall."""

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

    def pack(self, w: Writer, version: int) -> None:
        w.string(self.assocs)
        w.string(self.cluster)
        w.u64(self.flags)
        w.u32(self.id)
        w.string(self.name)
        w.string(self.nodes)
        w.string(self.node_inx)
        w.time(self.time_end)
        w.time(self.time_start)
        w.time(self.time_start_prev)
        w.string(self.tres_str)
        w.u32(NO_VAL)  # no tres_list
        w.double(self.unused_wall)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        assocs, cluster, flags, rid = r.string(), r.string(), r.u64(), r.u32()
        name, nodes, node_inx = r.string(), r.string(), r.string()
        end, start, start_prev, tres = r.time(), r.time(), r.time(), r.string()
        if r.u32() != NO_VAL:
            raise DecodeError("a reservation record with a TRES list (slurmctld sends none)")
        if cluster is None:
            raise DecodeError("a reservation record without a cluster")
        return cls(
            cluster, rid, start, name, assocs, flags, nodes, node_inx, end, start_prev, tres, r.double()
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
