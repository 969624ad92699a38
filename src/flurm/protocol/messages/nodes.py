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
from typing import Self

from flurm.protocol.constants import (
    NO_VAL,
    NO_VAL64,
    SELECT_PLUGIN_CONS_TRES,
    SLURM_21_08_PROTOCOL_VERSION,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_MIN_PROTOCOL_VERSION,
    MsgType,
)
from flurm.protocol.messages.base import Message, register
from flurm.protocol.versions import check_layout
from flurm.protocol.wire import DecodeError, Reader, Writer

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
    slurmd_start_time: int = 0

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
        fields = (r.u64(), r.u32(), r.u64(), r.u32(), r.u64(), r.time())
        return cls(*fields, r.time() if version >= SLURM_24_11_PROTOCOL_VERSION else 0)


@dataclass(frozen=True, slots=True)
class ExtSensorsData:
    """ext_sensors_data_pack. A configured node without sensors sends NO_VAL64/NO_VAL (the
    defaults here); a blank (hidden) node record sends all zeros."""

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
    """select_g_select_nodeinfo_pack for cons_tres (109), cons_res (101) and linear (102):
    u32 plugin id, u16 alloc_cpus, u64 alloc_memory (MiB), str tres_alloc_fmt_str,
    dbl tres_alloc_weighted. Clients derive MIXED from alloc_cpus (0 < alloc_cpus < cpus_efctv)."""

    plugin_id: int = SELECT_PLUGIN_CONS_TRES
    alloc_cpus: int = 0
    alloc_memory: int = 0
    tres_alloc_fmt_str: str | None = None
    tres_alloc_weighted: float = 0.0

    def pack(self, w: Writer, version: int) -> None:
        w.u32(self.plugin_id)
        w.u16(self.alloc_cpus)
        w.u64(self.alloc_memory)
        w.string(self.tres_alloc_fmt_str)
        w.double(self.tres_alloc_weighted)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.u32(), r.u16(), r.u64(), r.string(), r.double())


# -- requests --------------------------------------------------------------------------------------


@register(MsgType.REQUEST_NODE_INFO)
@dataclass(frozen=True, slots=True)
class NodeInfoRequest(Message):
    """2007: time last_update, u16 show_flags. slurmctld answers 8001 rc 1900 (no change) when
    last_update - 1 >= its last node change."""

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

    @classmethod
    def blank(cls, plugin_id: int = SELECT_PLUGIN_CONS_TRES) -> NodeRecord:
        """The placeholder slurmctld packs for a hidden/future slot (keeps node indexes aligned)."""
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

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_22_05_PROTOCOL_VERSION, "node record")
        w.string(self.name)
        w.string(self.node_hostname)
        w.string(self.node_addr)
        w.string(self.bcast_address)
        w.u16(self.port)
        w.u32(self.next_state)
        w.u32(self.node_state)
        w.string(self.version)
        w.u16(self.cpus)
        w.u16(self.boards)
        w.u16(self.sockets)
        w.u16(self.cores)
        w.u16(self.threads)
        w.u64(self.real_memory)
        w.u32(self.tmp_disk)
        w.string(self.mcs_label)
        w.u32(self.owner)
        w.u16(self.core_spec_cnt)
        w.u32(self.cpu_bind)
        w.u64(self.mem_spec_limit)
        w.string(self.cpu_spec_list)
        w.u16(self.cpus_efctv)
        w.u32(self.cpu_load)
        w.u64(self.free_mem)
        w.u32(self.weight)
        w.u32(self.reason_uid)
        w.time(self.boot_time)
        w.time(self.last_busy)
        w.time(self.reason_time)
        w.time(self.slurmd_start_time)
        self.select_nodeinfo.pack(w, version)
        for s in (
            self.arch,
            self.features,
            self.features_act,
            self.gres,
            self.gres_drain,
            self.gres_used,
            self.os,
            self.comment,
            self.extra,
            self.reason,
        ):
            w.string(s)
        self.energy.pack(w, version)
        self.ext_sensors.pack(w, version)
        w.u32(self.power_cap_watts)
        w.string(self.tres_fmt_str)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        check_layout(version, SLURM_22_05_PROTOCOL_VERSION, "node record")
        name, hostname, addr, bcast = r.string(), r.string(), r.string(), r.string()
        port, next_state, node_state, node_version = r.u16(), r.u32(), r.u32(), r.string()
        cpus, boards, sockets, cores, threads = r.u16(), r.u16(), r.u16(), r.u16(), r.u16()
        real_memory, tmp_disk = r.u64(), r.u32()
        mcs_label, owner, core_spec_cnt, cpu_bind = r.string(), r.u32(), r.u16(), r.u32()
        mem_spec_limit, cpu_spec_list, cpus_efctv = r.u64(), r.string(), r.u16()
        cpu_load, free_mem, weight, reason_uid = r.u32(), r.u64(), r.u32(), r.u32()
        boot_time, last_busy, reason_time, slurmd_start_time = r.time(), r.time(), r.time(), r.time()
        select_nodeinfo = SelectNodeInfo.unpack(r, version)
        arch, features, features_act, gres, gres_drain, gres_used = (r.string() for _ in range(6))
        os_name, comment, extra, reason = r.string(), r.string(), r.string(), r.string()
        energy = AcctGatherEnergy.unpack(r, version)
        ext_sensors = ExtSensorsData.unpack(r, version)
        power_cap_watts = r.u32()
        tres_fmt_str = r.string()
        return cls(
            name=name,
            node_hostname=hostname,
            node_addr=addr,
            bcast_address=bcast,
            port=port,
            next_state=next_state,
            node_state=node_state,
            version=node_version,
            cpus=cpus,
            boards=boards,
            sockets=sockets,
            cores=cores,
            threads=threads,
            real_memory=real_memory,
            tmp_disk=tmp_disk,
            mcs_label=mcs_label,
            owner=owner,
            core_spec_cnt=core_spec_cnt,
            cpu_bind=cpu_bind,
            mem_spec_limit=mem_spec_limit,
            cpu_spec_list=cpu_spec_list,
            cpus_efctv=cpus_efctv,
            cpu_load=cpu_load,
            free_mem=free_mem,
            weight=weight,
            reason_uid=reason_uid,
            boot_time=boot_time,
            last_busy=last_busy,
            reason_time=reason_time,
            slurmd_start_time=slurmd_start_time,
            select_nodeinfo=select_nodeinfo,
            arch=arch,
            features=features,
            features_act=features_act,
            gres=gres,
            gres_drain=gres_drain,
            gres_used=gres_used,
            os=os_name,
            comment=comment,
            extra=extra,
            reason=reason,
            energy=energy,
            ext_sensors=ext_sensors,
            power_cap_watts=power_cap_watts,
            tres_fmt_str=tres_fmt_str,
        )

    def encode(self, version: int = SLURM_22_05_PROTOCOL_VERSION) -> bytes:
        """The record's bytes, to cache and join with :meth:`NodeInfoResponse.join`."""
        w = Writer()
        self.pack(w, version)
        return w.getvalue()


# -- the reply -------------------------------------------------------------------------------------

# A record is at least 4 NULL strings, so a count beyond remaining/16 cannot be honest.
_MIN_NODE_RECORD = 16


@register(MsgType.RESPONSE_NODE_INFO)
@dataclass(frozen=True, slots=True)
class NodeInfoResponse(Message):
    """2008: u32 record_count, time last_update, then one record per slot of the node table
    (hidden slots as :meth:`NodeRecord.blank`)."""

    last_update: int = 0
    nodes: tuple[NodeRecord, ...] = ()

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_MIN_PROTOCOL_VERSION, "RESPONSE_NODE_INFO")
        w.u32(len(self.nodes))
        w.time(self.last_update)
        for node in self.nodes:
            node.pack(w, version)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        count = r.u32()
        last_update = r.time()
        if count > r.remaining // _MIN_NODE_RECORD:
            raise DecodeError(f"RESPONSE_NODE_INFO: {count} records do not fit in {r.remaining} bytes")
        return cls(last_update, tuple(NodeRecord.unpack(r, version) for _ in range(count)))

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
    """3002 (``scontrol update NodeName=...``): update_node_msg_t, the 21.08+ layout. Unset strings are
    NULL, unset numbers NO_VAL; ``node_state`` is a state (DOWN), a flag (DRAIN, FAIL) or an action
    (RESUME 0x100, UNDRAIN 0x40)."""

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

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_21_08_PROTOCOL_VERSION, "REQUEST_UPDATE_NODE")
        w.string(self.comment)
        w.u32(self.cpu_bind)
        w.string(self.extra)
        w.string(self.features)
        w.string(self.features_act)
        w.string(self.gres)
        w.string(self.node_addr)
        w.string(self.node_hostname)
        w.string(self.node_names)
        w.u32(self.node_state)
        w.string(self.reason)
        w.u32(self.reason_uid)
        w.u32(self.weight)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        check_layout(version, SLURM_21_08_PROTOCOL_VERSION, "REQUEST_UPDATE_NODE")
        return cls(
            r.string(),
            r.u32(),
            r.string(),
            r.string(),
            r.string(),
            r.string(),
            r.string(),
            r.string(),
            r.string(),
            r.u32(),
            r.string(),
            r.u32(),
            r.u32(),
        )
