"""Partition information RPCs of SLURM 22.05: REQUEST_PARTITION_INFO 2009 and
RESPONSE_PARTITION_INFO 2010 with the full partition record (partition_mgr.c:pack_part [22.05]).

Who sends 2009: ``sinfo`` (first, show_flags 0x10), ``squeue`` (after its job RPC, 0x11),
``sinfo --json`` (0x11), ``scontrol show partition [NAME]`` and ``scontrol show node`` (0x10; 0x11
with ``-a``). There is no single-partition request: scontrol filters by name itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Self

from flurm.protocol.constants import (
    INFINITE,
    NO_VAL,
    NO_VAL16,
    NO_VAL64,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    SLURM_MIN_PROTOCOL_VERSION,
    MsgType,
)
from flurm.protocol.messages.base import Message, register
from flurm.protocol.messages.layout import BITS, STR, U16, U32, U64, VersionedLayout, before, since
from flurm.protocol.versions import NEWER, SERVED, check_layout
from flurm.protocol.wire import Bitmap, DecodeError, Reader, Writer

# job_defaults_t.type (slurm.h)
JOB_DEF_CPU_PER_GPU = 1
JOB_DEF_MEM_PER_GPU = 2


@register(MsgType.REQUEST_PARTITION_INFO)
@dataclass(frozen=True, slots=True)
class PartitionInfoRequest(Message):
    """2009: time last_update, u16 show_flags. Hidden partitions are left out without SHOW_ALL
    (unless the caller is an operator); 8001 rc 1900 when nothing changed since last_update."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)  # alike in every release

    last_update: int = 0
    show_flags: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.time(self.last_update)
        w.u16(self.show_flags)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.time(), r.u16())


@dataclass(frozen=True, slots=True)
class JobDefault:
    """One JobDefaults= entry: u16 type (JOB_DEF_CPU_PER_GPU 1, JOB_DEF_MEM_PER_GPU 2), u64 value."""

    type: int
    value: int

    def pack(self, w: Writer, version: int) -> None:
        w.u16(self.type)
        w.u64(self.value)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.u16(), r.u64())


@dataclass(frozen=True, slots=True)
class PartitionRecord:
    """One partition of RESPONSE_PARTITION_INFO, field order of pack_part [22.05].

    Times are minutes (max_time/default_time; INFINITE = UNLIMITED, NO_VAL = not set), memory
    MiB (MEM_PER_CPU bit 63 may be set), max_nodes/min_nodes the configured values. flags: PartitionFlag
    (DEFAULT 0x1 is set for the default partition); state_up: PartitionState (UP 3). max_share: 0
    EXCLUSIVE, 1 NO, n YES:n, 0x8000|n FORCE:n. ``job_defaults`` None is "no list" (u32 NO_VAL).
    """

    name: str | None = None
    cpu_bind: int = 0
    grace_time: int = 0
    max_time: int = INFINITE
    default_time: int = NO_VAL
    max_nodes: int = INFINITE
    min_nodes: int = 0
    total_nodes: int = 0
    total_cpus: int = 0
    def_mem_per_cpu: int = 0
    max_cpus_per_node: int = INFINITE
    max_mem_per_cpu: int = 0
    flags: int = 0
    max_share: int = 1
    over_time_limit: int = NO_VAL16
    preempt_mode: int = NO_VAL16
    priority_job_factor: int = 1
    priority_tier: int = 1
    state_up: int = 3
    cr_type: int = 0
    resume_timeout: int = NO_VAL16
    suspend_timeout: int = NO_VAL16
    suspend_time: int = NO_VAL
    allow_accounts: str | None = None
    allow_groups: str | None = None
    allow_alloc_nodes: str | None = None
    allow_qos: str | None = None
    qos_char: str | None = None
    alternate: str | None = None
    deny_accounts: str | None = None
    deny_qos: str | None = None
    nodes: str | None = None
    nodesets: str | None = None
    node_bitmap: Bitmap | None = None  # bit i = node i of the node table
    billing_weights_str: str | None = None
    tres_fmt_str: str | None = None
    job_defaults: tuple[JobDefault, ...] | None = None

    # new in 24.11 (23.02 to 24.05 added it)
    max_cpus_per_socket: int = INFINITE
    # new in 26.05
    topology_name: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.raw(PARTITION_RECORD.pack(self, version))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return PARTITION_RECORD.unpacker(version)(cls, r)

    def encode(self, version: int = SLURM_22_05_PROTOCOL_VERSION) -> bytes:
        """The record's bytes, to cache and join with :meth:`PartitionInfoResponse.join`."""
        w = Writer()
        self.pack(w, version)
        return w.getvalue()


class _JobDefaults:
    """slurm_pack_list(job_defaults_pack): u32 count, NO_VAL for no list, then the entries."""

    def pack(self, value: tuple[JobDefault, ...] | None) -> bytes:
        w = Writer()
        if value is None:
            w.u32(NO_VAL)
        else:
            w.u32(len(value))
            for d in value:
                d.pack(w, SLURM_22_05_PROTOCOL_VERSION)
        return w.getvalue()

    def unpack(self, r: Reader) -> tuple[JobDefault, ...] | None:
        count = r.u32()
        if count == NO_VAL:
            return None
        if count > r.remaining // 10:
            raise DecodeError(f"partition job_defaults: {count} entries do not fit")
        return tuple(JobDefault.unpack(r, SLURM_22_05_PROTOCOL_VERSION) for _ in range(count))


_V24 = since(SLURM_24_11_PROTOCOL_VERSION)

# pack_part of 22.05, 24.11 (what 23.02-24.05 changed: max_cpus_per_socket, flags of 32 bits) and 26.05
PARTITION_RECORD = VersionedLayout(
    PartitionRecord,
    (
        ("name", STR),
        ("cpu_bind", U32),
        ("grace_time", U32),
        ("max_time", U32),
        ("default_time", U32),
        ("max_nodes", U32),
        ("min_nodes", U32),
        ("total_nodes", U32),
        ("total_cpus", U32),
        ("def_mem_per_cpu", U64),
        ("max_cpus_per_node", U32),
        ("max_cpus_per_socket", U32, _V24),
        ("max_mem_per_cpu", U64),
        ("flags", U16, before(SLURM_24_11_PROTOCOL_VERSION)),
        ("flags", U32, _V24),
        ("max_share", U16),
        ("over_time_limit", U16),
        ("preempt_mode", U16),
        ("priority_job_factor", U16),
        ("priority_tier", U16),
        ("state_up", U16),
        ("cr_type", U16),
        ("resume_timeout", U16),
        ("suspend_timeout", U16),
        ("suspend_time", U32),
        ("allow_accounts", STR),
        ("allow_groups", STR),
        ("allow_alloc_nodes", STR),
        ("allow_qos", STR),
        ("qos_char", STR),
        ("alternate", STR),
        ("deny_accounts", STR),
        ("deny_qos", STR),
        ("nodes", STR),
        ("nodesets", STR),
        ("node_bitmap", BITS),
        ("billing_weights_str", STR),
        ("topology_name", STR, since(SLURM_26_05_PROTOCOL_VERSION)),
        ("tres_fmt_str", STR),
        ("job_defaults", _JobDefaults()),
    ),
    SERVED,
)


# name + 8 u32 + 2 u64 + 10 u16 + u32 + 10 str + bitmap + 2 str + list: well over 64 bytes
_MIN_PARTITION_RECORD = 64


@register(MsgType.RESPONSE_PARTITION_INFO)
@dataclass(frozen=True, slots=True)
class PartitionInfoResponse(Message):
    """2010: u32 record_count, time last_update, then one record per visible partition."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    last_update: int = 0
    partitions: tuple[PartitionRecord, ...] = ()

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_MIN_PROTOCOL_VERSION, "RESPONSE_PARTITION_INFO", NEWER)
        w.u32(len(self.partitions))
        w.time(self.last_update)
        for part in self.partitions:
            part.pack(w, version)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        count = r.u32()
        last_update = r.time()
        if count > r.remaining // _MIN_PARTITION_RECORD:
            raise DecodeError(f"RESPONSE_PARTITION_INFO: {count} records do not fit in {r.remaining} bytes")
        return cls(last_update, tuple(PartitionRecord.unpack(r, version) for _ in range(count)))

    @staticmethod
    def join(last_update: int, encoded_records: Sequence[bytes]) -> bytes:
        """The body built from cached :meth:`PartitionRecord.encode` bytes (same bytes as :meth:`pack`)."""
        w = Writer()
        w.u32(len(encoded_records))
        w.time(last_update)
        for rec in encoded_records:
            w.raw(rec)
        return w.getvalue()


__all__ = [
    "JOB_DEF_CPU_PER_GPU",
    "JOB_DEF_MEM_PER_GPU",
    "JobDefault",
    "PartitionInfoRequest",
    "PartitionInfoResponse",
    "PartitionRecord",
]


@register(MsgType.REQUEST_UPDATE_PARTITION, MsgType.REQUEST_CREATE_PARTITION)
@dataclass(frozen=True, slots=True)
class UpdatePartitionRequest(Message):
    """3005 (``scontrol update PartitionName=...``): update_part_msg_t. Unset numbers are NO_VAL (16-bit
    ones NO_VAL16), unset strings NULL; ``flags`` sets PART_FLAG_* bits and clears them with the
    ``*_CLR`` bits (0x100 << n); the bits are the same from 24.11, where the field has 32 of them."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    allow_accounts: str | None = None
    allow_alloc_nodes: str | None = None
    allow_groups: str | None = None
    allow_qos: str | None = None
    alternate: str | None = None
    billing_weights_str: str | None = None
    cpu_bind: int = 0
    def_mem_per_cpu: int = NO_VAL64
    default_time: int = NO_VAL
    deny_accounts: str | None = None
    deny_qos: str | None = None
    flags: int = 0
    job_defaults_str: str | None = None
    grace_time: int = NO_VAL
    max_cpus_per_node: int = NO_VAL
    max_mem_per_cpu: int = NO_VAL64
    max_nodes: int = NO_VAL
    max_share: int = NO_VAL16
    max_time: int = NO_VAL
    min_nodes: int = NO_VAL
    name: str | None = None
    nodes: str | None = None
    over_time_limit: int = NO_VAL16
    preempt_mode: int = NO_VAL16
    priority_job_factor: int = NO_VAL16
    priority_tier: int = NO_VAL16
    qos_char: str | None = None
    state_up: int = NO_VAL16

    # 24.11 on
    max_cpus_per_socket: int = NO_VAL
    # 26.05 on
    topology_name: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_MIN_PROTOCOL_VERSION, "REQUEST_UPDATE_PARTITION", NEWER)
        w.raw(UPDATE_PARTITION.pack(self, max(version, SLURM_22_05_PROTOCOL_VERSION)))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        check_layout(version, SLURM_MIN_PROTOCOL_VERSION, "REQUEST_UPDATE_PARTITION", NEWER)
        return UPDATE_PARTITION.unpacker(max(version, SLURM_22_05_PROTOCOL_VERSION))(cls, r)


# _pack_update_partition_msg: 20.11 to 22.05 alike, then 24.11 and 26.05
UPDATE_PARTITION = VersionedLayout(
    UpdatePartitionRequest,
    (
        ("allow_accounts", STR),
        ("allow_alloc_nodes", STR),
        ("allow_groups", STR),
        ("allow_qos", STR),
        ("alternate", STR),
        ("billing_weights_str", STR),
        ("cpu_bind", U32),
        ("def_mem_per_cpu", U64),
        ("default_time", U32),
        ("deny_accounts", STR),
        ("deny_qos", STR),
        ("flags", U16, before(SLURM_24_11_PROTOCOL_VERSION)),
        ("flags", U32, _V24),
        ("job_defaults_str", STR),
        ("grace_time", U32),
        ("max_cpus_per_node", U32),
        ("max_cpus_per_socket", U32, _V24),
        ("max_mem_per_cpu", U64),
        ("max_nodes", U32),
        ("max_share", U16),
        ("max_time", U32),
        ("min_nodes", U32),
        ("name", STR),
        ("nodes", STR),
        ("over_time_limit", U16),
        ("preempt_mode", U16),
        ("priority_job_factor", U16),
        ("priority_tier", U16),
        ("qos_char", STR),
        ("state_up", U16),
        ("topology_name", STR, since(SLURM_26_05_PROTOCOL_VERSION)),
    ),
    SERVED,
)
