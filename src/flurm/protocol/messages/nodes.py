"""Node information RPCs of SLURM 22.05: REQUEST_NODE_INFO 2007, REQUEST_NODE_INFO_SINGLE 2040,
RESPONSE_NODE_INFO 2008 with the full node record (node_mgr.c:_pack_node).

Who sends what (22.05.8): ``sinfo``/``sinfo -N``/``sinfo -o ...`` send 2009 then 2007 (show_flags
0x10, plus SHOW_DETAIL 0x2 when a GRES-used field is printed); ``sinfo -n NAME`` (one node) sends
2040; ``scontrol show node [NAME]`` sends 2007 (show_flags 0x10) then 2009 and filters by name
itself. The reply to both requests is 2008; for 2040 it holds 0 or 1 record.

Also here: the energy, external-sensor and select-plugin blocks a node record carries
(acct_gather_energy is also part of the slurmd registration).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from flurm.protocol.constants import (
    INFINITE,
    NO_VAL,
    NO_VAL64,
    SELECT_PLUGIN_CONS_TRES,
    SLURM_21_08_PROTOCOL_VERSION,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    SLURM_MIN_PROTOCOL_VERSION,
    MsgType,
)
from flurm.protocol.messages.base import Message, register
from flurm.protocol.messages.layout import STR, TIME, U16, U32, U64, Entry, VersionedLayout, before, since
from flurm.protocol.versions import NEWER, SERVED, check_layout
from flurm.protocol.wire import Bitmap, DecodeError, EncodeError, Reader, Writer

# -- blocks shared with the slurmd registration ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class AcctGatherEnergy:
    """acct_gather_energy_pack: energy in joules, power in watts; all zero when there is no data.
    From 24.11 it ends with the slurmd's start time."""

    base_consumed_energy: int = 0
    ave_watts: int = 0
    consumed_energy: int = 0
    current_watts: int = 0
    previous_consumed_energy: int = 0
    poll_time: int = 0
    slurmd_start_time: int = 0  # 24.11 on

    def pack(self, w: Writer, version: int) -> None:
        w.u64(self.base_consumed_energy)
        w.u32(self.ave_watts)
        w.u64(self.consumed_energy)
        w.u32(self.current_watts)
        w.u64(self.previous_consumed_energy)
        w.time(self.poll_time)
        if version >= SLURM_24_11_PROTOCOL_VERSION:
            w.time(self.slurmd_start_time)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        head = (r.u64(), r.u32(), r.u64(), r.u32(), r.u64(), r.time())
        return cls(*head, r.time() if version >= SLURM_24_11_PROTOCOL_VERSION else 0)


@dataclass(frozen=True, slots=True)
class ExtSensorsData:
    """ext_sensors_data_pack (up to 22.05). A configured node without sensors sends NO_VAL64/NO_VAL
    (the defaults here); a blank (hidden) node record sends all zeros."""

    consumed_energy: int = NO_VAL64
    temperature: int = NO_VAL
    energy_update_time: int = 0
    current_watts: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.u64(self.consumed_energy)
        w.u32(self.temperature)
        w.time(self.energy_update_time)
        w.u32(self.current_watts)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.u64(), r.u32(), r.time(), r.u32())


@dataclass(frozen=True, slots=True)
class SelectNodeInfo:
    """What the node record says of its allocation: u16 alloc_cpus, u64 alloc_memory (MiB), str
    tres_alloc_fmt_str. Up to 24.11 it is select_g_select_nodeinfo_pack's block, led by the u32 plugin
    id (cons_tres 109, cons_res 101, linear 102) and ended by dbl tres_alloc_weighted; 26.05 packs the
    three alone. Clients derive MIXED from alloc_cpus (0 < alloc_cpus < cpus_efctv)."""

    plugin_id: int = SELECT_PLUGIN_CONS_TRES
    alloc_cpus: int = 0
    alloc_memory: int = 0
    tres_alloc_fmt_str: str | None = None
    tres_alloc_weighted: float = 0.0

    def pack(self, w: Writer, version: int) -> None:
        plugin_block = version < SLURM_26_05_PROTOCOL_VERSION
        if plugin_block:
            w.u32(self.plugin_id)
        w.u16(self.alloc_cpus)
        w.u64(self.alloc_memory)
        w.string(self.tres_alloc_fmt_str)
        if plugin_block:
            w.double(self.tres_alloc_weighted)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            return cls(alloc_cpus=r.u16(), alloc_memory=r.u64(), tres_alloc_fmt_str=r.string())
        return cls(r.u32(), r.u16(), r.u64(), r.string(), r.double())


class _Block:
    """A nested block as a layout field kind, in the wire layout of one protocol version."""

    def __init__(self, cls: Any, version: int) -> None:
        self.cls = cls
        self.version = version

    def pack(self, value: Any) -> bytes:
        w = Writer()
        value.pack(w, self.version)
        return w.getvalue()

    def unpack(self, r: Reader) -> Any:
        return self.cls.unpack(r, self.version)


# -- requests --------------------------------------------------------------------------------------


@register(MsgType.REQUEST_NODE_INFO)
@dataclass(frozen=True, slots=True)
class NodeInfoRequest(Message):
    """2007: time last_update, u16 show_flags. slurmctld answers 8001 rc 1900 (no change) when
    last_update - 1 >= its last node change."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)  # alike in every release

    last_update: int = 0
    show_flags: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.time(self.last_update)
        w.u16(self.show_flags)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.time(), r.u16())


@register(MsgType.REQUEST_NODE_INFO_SINGLE)
@dataclass(frozen=True, slots=True)
class NodeInfoSingleRequest(Message):
    """2040 (``sinfo -n NAME`` with one node): str node_name, u16 show_flags. The reply is a 2008
    with that node only, or with 0 records when it is unknown or hidden."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)  # alike in every release

    node_name: str | None = None
    show_flags: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.string(self.node_name)
        w.u16(self.show_flags)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.string(), r.u16())


# -- the node record -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """One node of RESPONSE_NODE_INFO, field order of _pack_node [22.05].

    cpus..tmp_disk are the configured values (slurm.conf), not what slurmd reported. node_state is
    the base state (NodeState) | flags (NodeStateFlag); send ALLOCATED (3), clients show MIXED
    themselves. cpu_load is load*100, free_mem and memory values are MiB. Defaults are those of
    an ordinary configured node; :meth:`blank` is the record slurmctld sends for a hidden slot.
    """

    name: str | None = None
    node_hostname: str | None = None
    node_addr: str | None = None
    bcast_address: str | None = None
    port: int = 0
    next_state: int = NO_VAL
    node_state: int = 0
    version: str | None = None
    cpus: int = 0
    boards: int = 1
    sockets: int = 1  # total sockets of the node
    cores: int = 1  # per socket
    threads: int = 1  # per core
    real_memory: int = 0  # MiB
    tmp_disk: int = 0  # MiB
    mcs_label: str | None = None
    owner: int = NO_VAL
    core_spec_cnt: int = 0
    cpu_bind: int = 0
    mem_spec_limit: int = 0  # MiB
    cpu_spec_list: str | None = None
    cpus_efctv: int = 0
    cpu_load: int = 0
    free_mem: int = 0  # MiB
    weight: int = 1
    reason_uid: int = NO_VAL
    boot_time: int = 0
    last_busy: int = 0
    reason_time: int = 0
    slurmd_start_time: int = 0
    select_nodeinfo: SelectNodeInfo = field(default_factory=SelectNodeInfo)
    arch: str | None = None
    features: str | None = None
    features_act: str | None = None
    gres: str | None = None
    gres_drain: str | None = None  # only with SHOW_DETAIL ("N/A" when there is no GRES)
    gres_used: str | None = None  # only with SHOW_DETAIL
    os: str | None = None
    comment: str | None = None
    extra: str | None = None
    reason: str | None = None
    energy: AcctGatherEnergy = field(default_factory=AcctGatherEnergy)
    ext_sensors: ExtSensorsData = field(default_factory=ExtSensorsData)
    power_cap_watts: int = NO_VAL  # power_mgmt_data_pack: NO_VAL = no power data
    tres_fmt_str: str | None = None
    # new in 24.11 (23.02 to 24.05 added them)
    gpu_spec: str | None = None
    res_cores_per_gpu: int = 0
    resume_after: int = 0
    instance_id: str | None = None
    instance_type: str | None = None
    resv_name: str | None = None  # the reservation the node is in now
    # new in 26.05
    cert_flags: int = 0  # NODE_CERT_TOKEN_SET when a certificate token is set for the node
    suspend_time: int = INFINITE  # SuspendTime of the node: 26.05's slurmctld sends INFINITE when none is set
    cert_last_renewal: int = 0
    parameters: str | None = None
    topology_str: str | None = None

    @classmethod
    def blank(cls, plugin_id: int = SELECT_PLUGIN_CONS_TRES) -> NodeRecord:
        """The placeholder of a hidden/future slot (keeps node indexes aligned): packed as such up to
        22.05; from 24.11 a slot without a name is not packed but marked in the reply's hidden bitmap."""
        return cls(
            next_state=0,
            boards=0,
            sockets=0,
            cores=0,
            threads=0,
            owner=0,
            weight=0,
            reason_uid=0,
            select_nodeinfo=SelectNodeInfo(plugin_id),
            ext_sensors=ExtSensorsData(0, 0, 0, 0),
        )

    @property
    def hidden(self) -> bool:
        """slurmctld's rule: a slot without a name is a hidden one."""
        return not self.name

    def pack(self, w: Writer, version: int) -> None:
        w.raw(NODE_RECORD.pack(self, version))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return NODE_RECORD.unpacker(version)(cls, r)

    def encode(self, version: int = SLURM_22_05_PROTOCOL_VERSION) -> bytes:
        """The record's bytes, to cache and join with :meth:`NodeInfoResponse.join`."""
        w = Writer()
        self.pack(w, version)
        return w.getvalue()


_V24 = since(SLURM_24_11_PROTOCOL_VERSION)
_V26 = since(SLURM_26_05_PROTOCOL_VERSION)
_TO_24 = before(SLURM_24_11_PROTOCOL_VERSION)
_TO_26 = before(SLURM_26_05_PROTOCOL_VERSION)

# _pack_node of each release, one table: 22.05, 24.11 (what 23.02-24.05 changed) and 26.05.
NODE_RECORD_TABLE: tuple[Entry, ...] = (
    ("name", STR),
    ("node_hostname", STR),
    ("node_addr", STR),
    ("bcast_address", STR),
    ("cert_flags", U16, _V26),
    ("port", U16),
    ("next_state", U32),
    ("node_state", U32),
    ("version", STR),
    ("cpus", U16),
    ("boards", U16),
    ("sockets", U16),
    ("cores", U16),
    ("threads", U16),
    ("real_memory", U64),
    ("tmp_disk", U32),
    ("gpu_spec", STR, _V24),
    ("mcs_label", STR),
    ("owner", U32),
    ("core_spec_cnt", U16),
    ("cpu_bind", U32),
    ("mem_spec_limit", U64),
    ("cpu_spec_list", STR),
    ("cpus_efctv", U16),
    ("cpu_load", U32),
    ("free_mem", U64),
    ("weight", U32),
    ("res_cores_per_gpu", U16, _V24),
    ("reason_uid", U32),
    ("suspend_time", U32, _V26),
    ("boot_time", TIME),
    ("last_busy", TIME),
    ("reason_time", TIME),
    ("resume_after", TIME, _V24),
    ("slurmd_start_time", TIME),
    ("cert_last_renewal", TIME, _V26),
    ("select_nodeinfo", _Block(SelectNodeInfo, SLURM_22_05_PROTOCOL_VERSION), _TO_26),
    ("select_nodeinfo", _Block(SelectNodeInfo, SLURM_26_05_PROTOCOL_VERSION), _V26),
    ("arch", STR),
    ("features", STR),
    ("features_act", STR),
    ("gres", STR),
    ("gres_drain", STR),
    ("gres_used", STR),
    ("os", STR),
    ("comment", STR),
    ("extra", STR),
    ("instance_id", STR, _V24),
    ("instance_type", STR, _V24),
    ("parameters", STR, _V26),
    ("reason", STR),
    ("energy", _Block(AcctGatherEnergy, SLURM_22_05_PROTOCOL_VERSION), _TO_24),
    ("energy", _Block(AcctGatherEnergy, SLURM_24_11_PROTOCOL_VERSION), _V24),
    ("ext_sensors", _Block(ExtSensorsData, SLURM_22_05_PROTOCOL_VERSION), _TO_24),
    ("power_cap_watts", U32, _TO_24),
    ("tres_fmt_str", STR),
    ("resv_name", STR, _V24),
    ("topology_str", STR, _V26),
)
NODE_RECORD = VersionedLayout(NodeRecord, NODE_RECORD_TABLE, SERVED)


# -- the reply -------------------------------------------------------------------------------------

# A record is at least 4 NULL strings, so a count beyond remaining/16 cannot be honest.
_MIN_NODE_RECORD = 16


@register(MsgType.RESPONSE_NODE_INFO)
@dataclass(frozen=True, slots=True)
class NodeInfoResponse(Message):
    """2008: u32 record_count, time last_update, then one record per slot of the node table.

    Up to 22.05 a hidden slot is packed as :meth:`NodeRecord.blank`. From 24.11 the header goes on with
    a bitmap of the hidden slots (pack_bit_str_hex) and only the others are packed; a hidden slot
    decodes to a blank record. The reply to 2040 (one node) has no bitmap (NULL): ``hidden_map`` False.
    """

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    last_update: int = 0
    nodes: tuple[NodeRecord, ...] = ()
    hidden_map: bool = True

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_MIN_PROTOCOL_VERSION, "RESPONSE_NODE_INFO", NEWER)
        w.u32(len(self.nodes))
        w.time(self.last_update)
        if version < SLURM_24_11_PROTOCOL_VERSION:
            for node in self.nodes:
                node.pack(w, version)
            return
        hidden = [i for i, node in enumerate(self.nodes) if node.hidden]
        w.bitmap(Bitmap.from_indexes(len(self.nodes), hidden) if self.hidden_map else None)
        if hidden and not self.hidden_map:
            raise EncodeError("RESPONSE_NODE_INFO: a hidden slot needs the bitmap of hidden slots")
        pack = NODE_RECORD.packer(version)
        for node in self.nodes:
            if not node.hidden:
                w.raw(pack(node))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        count = r.u32()
        last_update = r.time()
        hidden: Bitmap | None = None
        if version >= SLURM_24_11_PROTOCOL_VERSION:
            hidden = r.bitmap()
        shown = count - (hidden.count() if hidden is not None else 0)
        if shown < 0 or shown > r.remaining // _MIN_NODE_RECORD:
            raise DecodeError(f"RESPONSE_NODE_INFO: {count} records do not fit in {r.remaining} bytes")
        nodes = tuple(
            NodeRecord.blank() if hidden is not None and i in hidden else NodeRecord.unpack(r, version)
            for i in range(count)
        )
        listing = hidden is not None or version < SLURM_24_11_PROTOCOL_VERSION
        return cls(last_update, nodes, hidden_map=listing)

    @staticmethod
    def join_slots(last_update: int, slots: Sequence[bytes | None], version: int) -> bytes:
        """The body of a listing built from cached :meth:`NodeRecord.encode` bytes, one per slot of the
        node table, None for a hidden slot (same bytes as :meth:`pack` of the records)."""
        w = Writer()
        w.u32(len(slots))
        w.time(last_update)
        if version < SLURM_24_11_PROTOCOL_VERSION:
            blank = None
            for rec in slots:
                if rec is None:
                    blank = blank or NodeRecord.blank().encode(version)
                    rec = blank
                w.raw(rec)
            return w.getvalue()
        hidden = [i for i, rec in enumerate(slots) if rec is None]
        w.bitmap(Bitmap.from_indexes(len(slots), hidden))
        for rec in slots:
            if rec is not None:
                w.raw(rec)
        return w.getvalue()

    @staticmethod
    def join(last_update: int, encoded_records: Sequence[bytes]) -> bytes:
        """The body built from cached :meth:`NodeRecord.encode` bytes (same bytes as :meth:`pack`)."""
        w = Writer()
        w.u32(len(encoded_records))
        w.time(last_update)
        for rec in encoded_records:
            w.raw(rec)
        return w.getvalue()


__all__ = [
    "AcctGatherEnergy",
    "ExtSensorsData",
    "NodeInfoRequest",
    "NodeInfoResponse",
    "NodeInfoSingleRequest",
    "NodeRecord",
    "SelectNodeInfo",
]


@register(MsgType.REQUEST_UPDATE_NODE)
@dataclass(frozen=True, slots=True)
class UpdateNodeRequest(Message):
    """3002 (``scontrol update NodeName=...``): update_node_msg_t (layouts of 21.08/22.05, 24.11, 26.05).
    Unset strings are NULL, unset numbers NO_VAL; ``node_state`` is a state (DOWN), a flag (DRAIN,
    FAIL) or an action (RESUME 0x100, UNDRAIN 0x40). From 24.11 the reason's user is the sender (no
    reason_uid on the wire)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    comment: str | None = None
    cpu_bind: int = 0
    extra: str | None = None
    features: str | None = None
    features_act: str | None = None
    gres: str | None = None
    node_addr: str | None = None
    node_hostname: str | None = None
    node_names: str | None = None
    node_state: int = NO_VAL
    reason: str | None = None
    reason_uid: int = NO_VAL
    weight: int = NO_VAL
    # 24.11 on
    cert_token: str | None = None
    instance_id: str | None = None
    instance_type: str | None = None
    resume_after: int = NO_VAL
    # 26.05 on
    power_action_name: str | None = None
    topology_str: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_21_08_PROTOCOL_VERSION, "REQUEST_UPDATE_NODE", NEWER)
        w.raw(UPDATE_NODE.pack(self, max(version, SLURM_22_05_PROTOCOL_VERSION)))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        check_layout(version, SLURM_21_08_PROTOCOL_VERSION, "REQUEST_UPDATE_NODE", NEWER)
        return UPDATE_NODE.unpacker(max(version, SLURM_22_05_PROTOCOL_VERSION))(cls, r)


# _pack_update_node_msg: 21.08 and 22.05 alike, then 24.11 and 26.05
UPDATE_NODE = VersionedLayout(
    UpdateNodeRequest,
    (
        ("cert_token", STR, _V24),
        ("comment", STR),
        ("cpu_bind", U32),
        ("extra", STR),
        ("features", STR),
        ("features_act", STR),
        ("gres", STR),
        ("instance_id", STR, _V24),
        ("instance_type", STR, _V24),
        ("node_addr", STR),
        ("node_hostname", STR),
        ("node_names", STR),
        ("node_state", U32),
        ("power_action_name", STR, _V26),
        ("reason", STR),
        ("reason_uid", U32, _TO_24),
        ("resume_after", U32, _V24),
        ("topology_str", STR, _V26),
        ("weight", U32),
    ),
    SERVED,
)
