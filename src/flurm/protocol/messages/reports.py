"""Reports of features a flurm cluster does not have: burst buffers, topology, front end nodes, the
association manager (accounting), fair-share shares and multifactor priority factors.

The requests are decoded in full (so that bad bytes get SLURM's error reply); the replies carry what
slurmctld 22.05 packs when the feature is not configured: no records. The record layouts themselves
are not modelled: a reply with records is refused by the decoders here.

24.11 and 26.05 pack these bodies alike but for: sprio's request, which has no body; the topology
report, which is a topology plugin's (its id, then that plugin's data: none for topology/flat, which a
cluster without a topology runs); 26.05's topology request naming a topology, and its report of the
topology configuration (REQUEST_TOPO_CONFIG, ``scontrol show topoconf``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from flurm.protocol.constants import (
    NICE_OFFSET,
    NO_VAL,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    MsgType,
)
from flurm.protocol.messages.base import Message, register
from flurm.protocol.messages.common import Empty
from flurm.protocol.messages.credential import StepId, pack_job_step, unpack_job_step
from flurm.protocol.versions import NEWER
from flurm.protocol.wire import DecodeError, Reader, Writer

# the bodies packed alike in 24.11 and 26.05
_ALIKE: frozenset[int] = frozenset(NEWER)

# Requests with no body (slurm_protocol_pack.c: "Message contains no body/information").
register(
    MsgType.REQUEST_BURST_BUFFER_INFO,
    MsgType.REQUEST_TOPO_CONFIG,  # 26.05
    MsgType.ACCOUNTING_FIRST_REG,
    MsgType.ACCOUNTING_REGISTER_CTLD,
)(Empty)


def read_optional_strings(r: Reader) -> tuple[str, ...] | None:
    """A u32 count (NO_VAL: no list) then that many strings, as SLURM packs a char* List."""
    count = r.u32()
    if count == NO_VAL:
        return None
    if count > NO_VAL or count * 4 > r.remaining:
        raise DecodeError(f"string list: count {count} does not fit in {r.remaining} bytes")
    return tuple(s or "" for s in (r.string() for _ in range(count)))


def write_optional_strings(w: Writer, items: tuple[str, ...] | None) -> None:
    if items is None:
        w.u32(NO_VAL)
        return
    w.u32(len(items))
    for s in items:
        w.string(s)


def read_optional_u32s(r: Reader) -> tuple[int, ...] | None:
    """A u32 count (NO_VAL: no list) then that many u32 values."""
    count = r.u32()
    if count == NO_VAL:
        return None
    if count > NO_VAL or count * 4 > r.remaining:
        raise DecodeError(f"u32 list: count {count} does not fit in {r.remaining} bytes")
    return tuple(r.u32() for _ in range(count))


def write_optional_u32s(w: Writer, items: tuple[int, ...] | None) -> None:
    if items is None:
        w.u32(NO_VAL)
        return
    w.u32(len(items))
    for v in items:
        w.u32(v)


def _no_records(count: int, what: str) -> None:
    if count not in (0, NO_VAL):
        raise DecodeError(f"{what}: {count} records (their layout is not modelled)")


# -- burst buffers ----------------------------------------------------------------------------------


@register(MsgType.REQUEST_BURST_BUFFER_STATUS)
@dataclass(frozen=True, slots=True)
class BurstBufferStatusRequest(Message):
    """2055 (``scontrol show bbstat ARGS``): the arguments as a string array."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALIKE

    argv: tuple[str, ...] = ()

    def pack(self, w: Writer, version: int) -> None:
        w.string_array(self.argv)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(tuple(r.string_array()))


@register(MsgType.RESPONSE_BURST_BUFFER_STATUS)
@dataclass(frozen=True, slots=True)
class BurstBufferStatusResponse(Message):
    """2056: str status (NULL without a burst buffer plugin: scontrol prints nothing)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALIKE

    status: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.string(self.status)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.string())


@register(MsgType.RESPONSE_BURST_BUFFER_INFO)
@dataclass(frozen=True, slots=True)
class BurstBufferInfoResponse(Message):
    """2038: u32 record count, one record per burst buffer plugin; none here."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALIKE

    def pack(self, w: Writer, version: int) -> None:
        w.u32(0)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        _no_records(r.u32(), "burst buffer info")
        return cls()


# -- topology -----------------------------------------------------------------------------------------


# topology/flat's plugin id (TOPOLOGY_PLUGIN_DEFAULT): a cluster without a topology
TOPOLOGY_PLUGIN_FLAT = 100
# The topology configuration slurmctld 26.05 reports with topology/flat and no topology.yaml: its one
# "default" topology, with every plugin's (empty) parameters (topology_g_get_config's YAML).
FLAT_TOPOLOGY_CONFIG = """%YAML 1.1
---
- topology: default
  cluster_default: false
  block: {}
  flat: {}
  ring: {}
  torus3d: {}
  tree: {}
...
"""


@register(MsgType.REQUEST_TOPO_INFO)
@dataclass(frozen=True, slots=True)
class TopoInfoRequest(Message):
    """2028: no body; 26.05 (from 25.05): str name, the topology asked for (NULL: the default)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALIKE

    name: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            w.string(self.name)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.string() if version >= SLURM_26_05_PROTOCOL_VERSION else None)


@register(MsgType.RESPONSE_TOPO_INFO)
@dataclass(frozen=True, slots=True)
class TopoInfoResponse(Message):
    """2029: 22.05: u32 switch record count; none without topology/tree ("No topology information
    available"). From 24.11 (23.11): u32 topology plugin id, then that plugin's data: topology/flat
    (100), the plugin of a cluster without a topology, has none (scontrol prints nothing)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALIKE

    def pack(self, w: Writer, version: int) -> None:
        w.u32(TOPOLOGY_PLUGIN_FLAT if version >= SLURM_24_11_PROTOCOL_VERSION else 0)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        if version >= SLURM_24_11_PROTOCOL_VERSION:
            plugin = r.u32()
            if plugin != TOPOLOGY_PLUGIN_FLAT:
                raise DecodeError(f"topology info of plugin {plugin} (its layout is not modelled)")
        else:
            _no_records(r.u32(), "topology info")
        return cls()


@register(MsgType.RESPONSE_TOPO_CONFIG)
@dataclass(frozen=True, slots=True)
class TopoConfigResponse(Message):
    """2012 (26.05, ``scontrol show topoconf``): str config, the topology configuration as YAML."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset((SLURM_26_05_PROTOCOL_VERSION,))

    config: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.string(self.config)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.string())


@register(MsgType.REQUEST_HOSTLIST_EXPANSION, MsgType.RESPONSE_HOSTLIST_EXPANSION)
@dataclass(frozen=True, slots=True)
class HostlistExpansion(Message):
    """2041/2042 (26.05): str hostlist: the expression asked about, and slurmctld's answer (those of
    its nodes, in node table order, as a ranged hostlist)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset((SLURM_26_05_PROTOCOL_VERSION,))

    hostlist: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.string(self.hostlist)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.string())


# -- front end nodes ------------------------------------------------------------------------------------


@register(MsgType.REQUEST_FRONT_END_INFO)
@dataclass(frozen=True, slots=True)
class FrontEndInfoRequest(Message):
    """2031 (``scontrol show frontend``): time last_update."""

    last_update: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.time(self.last_update)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.time())


@register(MsgType.RESPONSE_FRONT_END_INFO)
@dataclass(frozen=True, slots=True)
class FrontEndInfoResponse(Message):
    """2032: u32 record count, time last_update, the records; none on a build without front ends
    (scontrol: "No nodes in the system")."""

    last_update: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.u32(0)
        w.time(self.last_update)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        _no_records(r.u32(), "front end info")
        return cls(r.time())


@register(MsgType.REQUEST_UPDATE_FRONT_END)
@dataclass(frozen=True, slots=True)
class UpdateFrontEndRequest(Message):
    """3011 (``scontrol update FrontendName=...``): str name, u32 node_state, str reason, u32 reason_uid."""

    name: str | None = None
    node_state: int = NO_VAL
    reason: str | None = None
    reason_uid: int = NO_VAL

    def pack(self, w: Writer, version: int) -> None:
        w.string(self.name)
        w.u32(self.node_state)
        w.string(self.reason)
        w.u32(self.reason_uid)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.string(), r.u32(), r.string(), r.u32())


# -- association manager, shares and priority factors --------------------------------------------------


@register(MsgType.REQUEST_ASSOC_MGR_INFO)
@dataclass(frozen=True, slots=True)
class AssocMgrInfoRequest(Message):
    """2043 (``scontrol show assoc_mgr``): account list, u32 flags (1 associations, 2 users, 4 QOS),
    QOS list, user list; a list is a u32 count (NO_VAL: none) and that many strings."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALIKE

    accounts: tuple[str, ...] | None = None
    flags: int = 0
    qos: tuple[str, ...] | None = None
    users: tuple[str, ...] | None = None

    def pack(self, w: Writer, version: int) -> None:
        write_optional_strings(w, self.accounts)
        w.u32(self.flags)
        write_optional_strings(w, self.qos)
        write_optional_strings(w, self.users)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(read_optional_strings(r), r.u32(), read_optional_strings(r), read_optional_strings(r))


@register(MsgType.RESPONSE_ASSOC_MGR_INFO)
@dataclass(frozen=True, slots=True)
class AssocMgrInfoResponse(Message):
    """2044: the TRES names (string array), then u32 counts of associations, QOS and users, each
    followed by its records; no records without accounting."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALIKE

    tres_names: tuple[str, ...] = ()

    def pack(self, w: Writer, version: int) -> None:
        w.string_array(self.tres_names)
        for _ in range(3):
            w.u32(0)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        names = tuple(r.string_array())
        for what in ("associations", "QOS", "users"):
            _no_records(r.u32(), f"assoc_mgr {what}")
        return cls(names)


@register(MsgType.REQUEST_SHARE_INFO)
@dataclass(frozen=True, slots=True)
class SharesRequest(Message):
    """2022 (``sshare``): account list, user list (each a u32 count, NO_VAL: none, then strings)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALIKE

    accounts: tuple[str, ...] | None = None
    users: tuple[str, ...] | None = None

    def pack(self, w: Writer, version: int) -> None:
        write_optional_strings(w, self.accounts)
        write_optional_strings(w, self.users)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(read_optional_strings(r), read_optional_strings(r))


@dataclass(frozen=True, slots=True)
class ShareRecord:
    """One assoc_shares_object_t (what sshare prints a line of), alike in 22.05, 24.11 and 26.05:
    u32 assoc_id, str cluster, name (the user, or the account), parent (account), partition, double
    shares_norm, u32 shares_raw, u64 arrays tres_run_secs and tres_grp_mins, doubles usage_efctv and
    usage_norm, u64 usage_raw, usage_tres_raw (long doubles, each sent as a "%Lf" string), doubles
    fs_factor and level_fs, u16 user (1: a user's association). The arrays have one value per TRES."""

    assoc_id: int
    cluster: str | None
    name: str | None
    parent: str | None
    partition: str | None
    shares_norm: float
    shares_raw: int
    tres_run_secs: tuple[int, ...]
    tres_grp_mins: tuple[int, ...]
    usage_efctv: float
    usage_norm: float
    usage_raw: int
    usage_tres_raw: tuple[str, ...]
    fs_factor: float
    level_fs: float
    user: int

    def pack(self, w: Writer) -> None:
        w.u32(self.assoc_id)
        for text in (self.cluster, self.name, self.parent, self.partition):
            w.string(text)
        w.double(self.shares_norm)
        w.u32(self.shares_raw)
        for values in (self.tres_run_secs, self.tres_grp_mins):
            w.u32(len(values))
            for v in values:
                w.u64(v)
        w.double(self.usage_efctv)
        w.double(self.usage_norm)
        w.u64(self.usage_raw)
        w.u32(len(self.usage_tres_raw))
        for text in self.usage_tres_raw:
            w.string(text)
        w.double(self.fs_factor)
        w.double(self.level_fs)
        w.u16(self.user)

    @classmethod
    def unpack(cls, r: Reader) -> ShareRecord:
        assoc_id = r.u32()
        cluster, name, parent, partition = (r.string() for _ in range(4))
        shares_norm, shares_raw = r.double(), r.u32()
        run_secs, grp_mins = _u64s(r), _u64s(r)
        usage_efctv, usage_norm, usage_raw = r.double(), r.double(), r.u64()
        count = r.u32()
        if count * 4 > r.remaining:
            raise DecodeError(f"long double array: count {count} does not fit in {r.remaining} bytes")
        tres_raw = tuple(r.string() or "" for _ in range(count))
        return cls(
            assoc_id,
            cluster,
            name,
            parent,
            partition,
            shares_norm,
            shares_raw,
            run_secs,
            grp_mins,
            usage_efctv,
            usage_norm,
            usage_raw,
            tres_raw,
            r.double(),
            r.double(),
            r.u16(),
        )


def _u64s(r: Reader) -> tuple[int, ...]:
    count = r.u32()
    if count * 8 > r.remaining:
        raise DecodeError(f"u64 array: count {count} does not fit in {r.remaining} bytes")
    return tuple(r.u64() for _ in range(count))


@register(MsgType.RESPONSE_SHARE_INFO)
@dataclass(frozen=True, slots=True)
class SharesResponse(Message):
    """2023: TRES names (string array), u32 share record count (NO_VAL for none), the records, u64
    tot_shares. Without associations slurmctld fills in nothing: no names, NO_VAL, 0."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALIKE

    tres_names: tuple[str, ...] = ()
    records: tuple[ShareRecord, ...] = ()
    tot_shares: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.string_array(self.tres_names)
        w.u32(len(self.records) or NO_VAL)
        for rec in self.records:
            rec.pack(w)
        w.u64(self.tot_shares)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        names = tuple(r.string_array())
        count = r.u32()
        if count == NO_VAL:
            count = 0
        elif count > r.remaining // 40:  # every record is longer than 40 bytes
            raise DecodeError(f"shares: {count} records do not fit in {r.remaining} bytes")
        records = tuple(ShareRecord.unpack(r) for _ in range(count))
        return cls(names, records, r.u64())


@register(MsgType.REQUEST_PRIORITY_FACTORS)
@dataclass(frozen=True, slots=True)
class PriorityFactorsRequest(Message):
    """2026 (``sprio``): job id list, uid list (u32 count, NO_VAL: none, then u32 values), str
    partitions. From 24.11 no body: sprio filters the records itself."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALIKE

    job_ids: tuple[int, ...] | None = None
    uids: tuple[int, ...] | None = None
    partitions: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        if version >= SLURM_24_11_PROTOCOL_VERSION:
            return
        write_optional_u32s(w, self.job_ids)
        write_optional_u32s(w, self.uids)
        w.string(self.partitions)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        if version >= SLURM_24_11_PROTOCOL_VERSION:
            return cls()
        return cls(read_optional_u32s(r), read_optional_u32s(r), r.string())


@dataclass(frozen=True, slots=True)
class PriorityFactorsRecord:
    """One priority_factors_object_t: a pending job in one of its partitions, its factors weighted.

    22.05: u32 job_id, u32 user_id, doubles age, assoc, fs, js, part, qos, direct_prio, u32 site, the
    TRES factors (double array), u32 TRES count, TRES names (string array), TRES weights (double
    array), u32 nice, str partition. 24.11: str account, u32 job_id, str partition, double
    direct_prio, the factors only when direct_prio is 0 (doubles age..qos, u32 site, the TRES arrays,
    u32 nice), str qos, u32 user_id. 26.05: as 24.11 with the whole step id in place of the job id.
    ``site`` and ``nice`` are as packed (NICE_OFFSET plus the value). The TRES arrays are empty unless
    PriorityWeightTRES is set: then one weighted factor, name and weight per TRES of the cluster.
    """

    job_id: int
    user_id: int
    partition: str | None
    age: float = 0.0
    assoc: float = 0.0
    fs: float = 0.0
    js: float = 0.0
    part: float = 0.0
    qos: float = 0.0
    direct_prio: float = 0.0
    site: int = NICE_OFFSET
    nice: int = NICE_OFFSET
    account: str | None = None
    qos_name: str | None = None
    sluid: int = 0
    tres: tuple[float, ...] = ()
    tres_names: tuple[str, ...] = ()
    tres_weights: tuple[float, ...] = ()

    def _pack_tres(self, w: Writer, version: int) -> None:
        w.u32(len(self.tres))
        for v in self.tres:
            w.double(v)
        if version < SLURM_24_11_PROTOCOL_VERSION:
            w.u32(len(self.tres))  # tres_cnt
        w.string_array(self.tres_names)
        w.u32(len(self.tres_weights))
        for v in self.tres_weights:
            w.double(v)

    @staticmethod
    def _unpack_tres(r: Reader, version: int) -> tuple[tuple[float, ...], tuple[str, ...], tuple[float, ...]]:
        tres = _doubles(r)
        if version < SLURM_24_11_PROTOCOL_VERSION:
            r.u32()
        return tres, tuple(r.string_array()), _doubles(r)

    def pack(self, w: Writer, version: int) -> None:
        if version < SLURM_24_11_PROTOCOL_VERSION:
            w.u32(self.job_id)
            w.u32(self.user_id)
            for v in (self.age, self.assoc, self.fs, self.js, self.part, self.qos, self.direct_prio):
                w.double(v)
            w.u32(self.site)
            self._pack_tres(w, version)
            w.u32(self.nice)
            w.string(self.partition)
            return
        w.string(self.account)
        pack_job_step(w, self.job_id, StepId(self.job_id, NO_VAL, NO_VAL, self.sluid), version)
        w.string(self.partition)
        w.double(self.direct_prio)
        if not self.direct_prio:
            for v in (self.age, self.assoc, self.fs, self.js, self.part, self.qos):
                w.double(v)
            w.u32(self.site)
            self._pack_tres(w, version)
            w.u32(self.nice)
        w.string(self.qos_name)
        w.u32(self.user_id)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> PriorityFactorsRecord:
        if version < SLURM_24_11_PROTOCOL_VERSION:
            job_id, user_id = r.u32(), r.u32()
            age, assoc, fs, js, part, qos, direct = (r.double() for _ in range(7))
            site = r.u32()
            tres, names, weights = cls._unpack_tres(r, version)
            nice = r.u32()
            partition = r.string()
            return cls(
                job_id, user_id, partition, age, assoc, fs, js, part, qos, direct, site, nice,
                tres=tres, tres_names=names, tres_weights=weights,
            )  # fmt: skip
        account = r.string()
        job_id, step = unpack_job_step(r, version)
        partition = r.string()
        direct = r.double()
        factors: tuple[float, ...] = (0.0,) * 6
        site = nice = NICE_OFFSET
        arrays: tuple[tuple[float, ...], tuple[str, ...], tuple[float, ...]] = ((), (), ())
        if not direct:
            factors = tuple(r.double() for _ in range(6))
            site = r.u32()
            arrays = cls._unpack_tres(r, version)
            nice = r.u32()
        qos_name = r.string()
        user_id = r.u32()
        age, assoc, fs, js, part, qos = factors
        sluid = step.sluid if step is not None else 0
        return cls(
            job_id,
            user_id,
            partition,
            age,
            assoc,
            fs,
            js,
            part,
            qos,
            direct,
            site,
            nice,
            account,
            qos_name,
            sluid,
            *arrays,
        )


def _doubles(r: Reader) -> tuple[float, ...]:
    count = r.u32()
    if count * 8 > r.remaining:
        raise DecodeError(f"double array: count {count} does not fit in {r.remaining} bytes")
    return tuple(r.double() for _ in range(count))


@register(MsgType.RESPONSE_PRIORITY_FACTORS)
@dataclass(frozen=True, slots=True)
class PriorityFactorsResponse(Message):
    """2027: u32 record count (NO_VAL: no list) then the factor records. priority/basic answers an
    empty list (0); priority/multifactor answers no list (NO_VAL) when no pending job qualifies."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALIKE

    records: tuple[PriorityFactorsRecord, ...] | None = ()

    def pack(self, w: Writer, version: int) -> None:
        if self.records is None:
            w.u32(NO_VAL)
            return
        w.u32(len(self.records))
        for rec in self.records:
            rec.pack(w, version)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        count = r.u32()
        if count == NO_VAL:
            return cls(None)
        if count > r.remaining // 8:  # every record is longer than 8 bytes
            raise DecodeError(f"priority factors: {count} records do not fit in {r.remaining} bytes")
        return cls(tuple(PriorityFactorsRecord.unpack(r, version) for _ in range(count)))
