"""Partition information RPCs of SLURM 22.05: REQUEST_PARTITION_INFO 2009 and
RESPONSE_PARTITION_INFO 2010 with the full partition record (partition_mgr.c:pack_part [22.05]).

Who sends 2009: ``sinfo`` (first, show_flags 0x10), ``squeue`` (after its job RPC, 0x11),
``sinfo --json`` (0x11), ``scontrol show partition [NAME]`` and ``scontrol show node`` (0x10; 0x11
with ``-a``). There is no single-partition request: scontrol filters by name itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from flurm.protocol.constants import (
    INFINITE,
    NO_VAL,
    NO_VAL16,
    NO_VAL64,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_MIN_PROTOCOL_VERSION,
    MsgType,
)
from flurm.protocol.messages.base import Message, register
from flurm.protocol.versions import check_layout
from flurm.protocol.wire import Bitmap, DecodeError, Reader, Writer

# job_defaults_t.type (slurm.h)
JOB_DEF_CPU_PER_GPU = 1
JOB_DEF_MEM_PER_GPU = 2


@register(MsgType.REQUEST_PARTITION_INFO)
@dataclass(frozen=True, slots=True)
class PartitionInfoRequest(Message):
    """2009: time last_update, u16 show_flags. Hidden partitions are left out without SHOW_ALL
    (unless the caller is an operator); 8001 rc 1900 when nothing changed since last_update."""

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

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_22_05_PROTOCOL_VERSION, "partition record")
        w.string(self.name)
        w.u32(self.cpu_bind)
        w.u32(self.grace_time)
        w.u32(self.max_time)
        w.u32(self.default_time)
        w.u32(self.max_nodes)
        w.u32(self.min_nodes)
        w.u32(self.total_nodes)
        w.u32(self.total_cpus)
        w.u64(self.def_mem_per_cpu)
        w.u32(self.max_cpus_per_node)
        w.u64(self.max_mem_per_cpu)
        for v16 in (
            self.flags,
            self.max_share,
            self.over_time_limit,
            self.preempt_mode,
            self.priority_job_factor,
            self.priority_tier,
            self.state_up,
            self.cr_type,
            self.resume_timeout,
            self.suspend_timeout,
        ):
            w.u16(v16)
        w.u32(self.suspend_time)
        for s in (
            self.allow_accounts,
            self.allow_groups,
            self.allow_alloc_nodes,
            self.allow_qos,
            self.qos_char,
            self.alternate,
            self.deny_accounts,
            self.deny_qos,
            self.nodes,
            self.nodesets,
        ):
            w.string(s)
        w.bitmap(self.node_bitmap)
        w.string(self.billing_weights_str)
        w.string(self.tres_fmt_str)
        if self.job_defaults is None:
            w.u32(NO_VAL)
        else:
            w.u32(len(self.job_defaults))
            for d in self.job_defaults:
                d.pack(w, version)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        check_layout(version, SLURM_22_05_PROTOCOL_VERSION, "partition record")
        name = r.string()
        cpu_bind, grace_time, max_time, default_time = r.u32(), r.u32(), r.u32(), r.u32()
        max_nodes, min_nodes, total_nodes, total_cpus = r.u32(), r.u32(), r.u32(), r.u32()
        def_mem_per_cpu, max_cpus_per_node, max_mem_per_cpu = r.u64(), r.u32(), r.u64()
        flags, max_share, over_time_limit = r.u16(), r.u16(), r.u16()
        preempt_mode, prio_job_factor, prio_tier = r.u16(), r.u16(), r.u16()
        state_up, cr_type, resume_timeout, suspend_timeout = r.u16(), r.u16(), r.u16(), r.u16()
        suspend_time = r.u32()
        allow_accounts, allow_groups, allow_alloc_nodes, allow_qos = (r.string() for _ in range(4))
        qos_char, alternate, deny_accounts, deny_qos = (r.string() for _ in range(4))
        nodes, nodesets = r.string(), r.string()
        node_bitmap = r.bitmap()
        billing_weights_str, tres_fmt_str = r.string(), r.string()
        count = r.u32()
        job_defaults: tuple[JobDefault, ...] | None = None
        if count != NO_VAL:
            if count > r.remaining // 10:
                raise DecodeError(f"partition job_defaults: {count} entries do not fit")
            job_defaults = tuple(JobDefault.unpack(r, version) for _ in range(count))
        return cls(
            name=name,
            cpu_bind=cpu_bind,
            grace_time=grace_time,
            max_time=max_time,
            default_time=default_time,
            max_nodes=max_nodes,
            min_nodes=min_nodes,
            total_nodes=total_nodes,
            total_cpus=total_cpus,
            def_mem_per_cpu=def_mem_per_cpu,
            max_cpus_per_node=max_cpus_per_node,
            max_mem_per_cpu=max_mem_per_cpu,
            flags=flags,
            max_share=max_share,
            over_time_limit=over_time_limit,
            preempt_mode=preempt_mode,
            priority_job_factor=prio_job_factor,
            priority_tier=prio_tier,
            state_up=state_up,
            cr_type=cr_type,
            resume_timeout=resume_timeout,
            suspend_timeout=suspend_timeout,
            suspend_time=suspend_time,
            allow_accounts=allow_accounts,
            allow_groups=allow_groups,
            allow_alloc_nodes=allow_alloc_nodes,
            allow_qos=allow_qos,
            qos_char=qos_char,
            alternate=alternate,
            deny_accounts=deny_accounts,
            deny_qos=deny_qos,
            nodes=nodes,
            nodesets=nodesets,
            node_bitmap=node_bitmap,
            billing_weights_str=billing_weights_str,
            tres_fmt_str=tres_fmt_str,
            job_defaults=job_defaults,
        )

    def encode(self, version: int = SLURM_22_05_PROTOCOL_VERSION) -> bytes:
        """The record's bytes, to cache and join with :meth:`PartitionInfoResponse.join`."""
        w = Writer()
        self.pack(w, version)
        return w.getvalue()


# name + 8 u32 + 2 u64 + 10 u16 + u32 + 10 str + bitmap + 2 str + list: well over 64 bytes
_MIN_PARTITION_RECORD = 64


@register(MsgType.RESPONSE_PARTITION_INFO)
@dataclass(frozen=True, slots=True)
class PartitionInfoResponse(Message):
    """2010: u32 record_count, time last_update, then one record per visible partition."""

    last_update: int = 0
    partitions: tuple[PartitionRecord, ...] = ()

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_MIN_PROTOCOL_VERSION, "RESPONSE_PARTITION_INFO")
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
    ``*_CLR`` bits (0x100 << n)."""

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

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_MIN_PROTOCOL_VERSION, "REQUEST_UPDATE_PARTITION")
        for s in (
            self.allow_accounts,
            self.allow_alloc_nodes,
            self.allow_groups,
            self.allow_qos,
            self.alternate,
            self.billing_weights_str,
        ):
            w.string(s)
        w.u32(self.cpu_bind)
        w.u64(self.def_mem_per_cpu)
        w.u32(self.default_time)
        w.string(self.deny_accounts)
        w.string(self.deny_qos)
        w.u16(self.flags)
        w.string(self.job_defaults_str)
        w.u32(self.grace_time)
        w.u32(self.max_cpus_per_node)
        w.u64(self.max_mem_per_cpu)
        w.u32(self.max_nodes)
        w.u16(self.max_share)
        w.u32(self.max_time)
        w.u32(self.min_nodes)
        w.string(self.name)
        w.string(self.nodes)
        w.u16(self.over_time_limit)
        w.u16(self.preempt_mode)
        w.u16(self.priority_job_factor)
        w.u16(self.priority_tier)
        w.string(self.qos_char)
        w.u16(self.state_up)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        check_layout(version, SLURM_MIN_PROTOCOL_VERSION, "REQUEST_UPDATE_PARTITION")
        a_acc, a_alloc, a_groups, a_qos, alternate, billing = (r.string() for _ in range(6))
        cpu_bind, def_mem, default_time = r.u32(), r.u64(), r.u32()
        deny_accounts, deny_qos, flags, job_defaults = r.string(), r.string(), r.u16(), r.string()
        grace, max_cpus, max_mem, max_nodes = r.u32(), r.u32(), r.u64(), r.u32()
        max_share, max_time, min_nodes = r.u16(), r.u32(), r.u32()
        name, nodes = r.string(), r.string()
        over, preempt, prio_factor, prio_tier = r.u16(), r.u16(), r.u16(), r.u16()
        qos_char, state_up = r.string(), r.u16()
        return cls(
            a_acc,
            a_alloc,
            a_groups,
            a_qos,
            alternate,
            billing,
            cpu_bind,
            def_mem,
            default_time,
            deny_accounts,
            deny_qos,
            flags,
            job_defaults,
            grace,
            max_cpus,
            max_mem,
            max_nodes,
            max_share,
            max_time,
            min_nodes,
            name,
            nodes,
            over,
            preempt,
            prio_factor,
            prio_tier,
            qos_char,
            state_up,
        )
