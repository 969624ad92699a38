"""Job information: the requests of squeue/scontrol/scancel (2003, 2021, 2039, 4019) and
RESPONSE_JOB_INFO 2004 with the full 22.05 job record (``pack_job``) and its job_resources block.

Replies are hot: a controller answers ``squeue`` with every job it holds. The intended use is to
cache each job's encoded record and join them per request::

    blob = record.to_bytes(PROTOCOL_VERSION)                  # when the job changes
    blob = with_show_flags(blob, request.show_flags)           # the record echoes the request's flags
    body = job_info_response_body([blob, ...], now, last_backfill)

(``PackedJobInfoResponse`` does the same as a body for ``encode_body``.) Note that with SHOW_DETAIL
(0x2) slurmctld also fills ``job_resources`` and ``gres_detail_str``, so a cache needs the detail
and the plain form of a record.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Self

from flurm.protocol.constants import (
    NICE_OFFSET,
    NO_VAL,
    NO_VAL16,
    PROTOCOL_VERSION,
    SELECT_PLUGIN_CONS_TRES,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    MsgType,
    SlurmRC,
)
from flurm.protocol.messages.base import Message, register
from flurm.protocol.messages.job_common import SELECT_PLUGIN
from flurm.protocol.messages.layout import (
    BITS,
    DOUBLE,
    STR,
    STRS,
    TIME,
    U8,
    U16,
    U16_ARRAY,
    U32,
    U32_ARRAY,
    U64,
    U64_ARRAY,
    Check,
    Entry,
    Kind,
    Span,
    VersionedLayout,
    VersionedReader,
    before,
    compile_reader,
    compile_skipper,
    pack_bits,
    pack_str,
    since,
)
from flurm.protocol.versions import NEWER, SERVED
from flurm.protocol.wire import Bitmap, DecodeError, EncodeError, Reader, Writer

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_NO_VAL_BYTES = _U32.pack(NO_VAL)

# -- requests -------------------------------------------------------------------------------------


@register(MsgType.REQUEST_JOB_INFO)
@dataclass(frozen=True, slots=True)
class JobInfoRequest(Message):
    """2003: time last_update, u16 show_flags, u32 count (NO_VAL = no list) + count job ids.

    ``job_ids`` None is "all jobs" (what every 22.05 client sends); an empty tuple is an empty list.
    slurmctld answers 8001 rc 1900 (no change) when ``last_update`` is not older than its data.
    """

    last_update: int = 0
    show_flags: int = 0
    job_ids: tuple[int, ...] | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.time(self.last_update)
        w.u16(self.show_flags)
        if self.job_ids is None:
            w.u32(NO_VAL)
            return
        if len(self.job_ids) >= NO_VAL:
            raise EncodeError("too many job ids")
        w.u32(len(self.job_ids))
        for job_id in self.job_ids:
            w.u32(job_id)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        last_update = r.time()
        show_flags = r.u16()
        count = r.u32()
        if count == NO_VAL:
            return cls(last_update, show_flags, None)
        if count > NO_VAL or count * 4 > r.remaining:
            raise DecodeError(f"job info request: {count} job ids do not fit in {r.remaining} bytes")
        raw = r.bytes(count * 4)
        return cls(last_update, show_flags, struct.unpack(f">{count}I", raw))

    # the same in every served release
    NEWER_LAYOUTS = frozenset(NEWER)


@register(MsgType.REQUEST_JOB_INFO_SINGLE, MsgType.REQUEST_JOB_READY, MsgType.REQUEST_BATCH_SCRIPT)
@dataclass(frozen=True, slots=True)
class JobIdRequest(Message):
    """2021 (scontrol show job N, squeue -j N), 4019 REQUEST_JOB_READY and 2051 REQUEST_BATCH_SCRIPT:
    u32 job_id, u16 show_flags. From 26.05 the job is a whole step id (u64 sluid, u32 job_id, u32
    step_id, u32 step_het_comp; the clients send sluid 0 and NO_VAL steps) before show_flags."""

    job_id: int = NO_VAL
    show_flags: int = 0
    sluid: int = 0
    step_id: int = NO_VAL
    step_het_comp: int = NO_VAL

    NEWER_LAYOUTS = frozenset(NEWER)

    def pack(self, w: Writer, version: int) -> None:
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            w.u64(self.sluid)
            w.u32(self.job_id)
            w.u32(self.step_id)
            w.u32(self.step_het_comp)
        else:
            w.u32(self.job_id)
        w.u16(self.show_flags)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            sluid, job_id, step_id, het_comp = r.u64(), r.u32(), r.u32(), r.u32()
            return cls(job_id, r.u16(), sluid, step_id, het_comp)
        return cls(r.u32(), r.u16())


@register(MsgType.REQUEST_JOB_USER_INFO)
@dataclass(frozen=True, slots=True)
class JobUserInfoRequest(Message):
    """2039 (squeue -u USER with uid != 0): u32 user_id, u16 show_flags. The reply is a 2004."""

    user_id: int = 0
    show_flags: int = 0

    NEWER_LAYOUTS = frozenset(NEWER)

    def pack(self, w: Writer, version: int) -> None:
        w.u32(self.user_id)
        w.u16(self.show_flags)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.u32(), r.u16())


# -- job_resources --------------------------------------------------------------------------------


def _u16s(v: Sequence[int]) -> bytes:
    return _U32.pack(len(v)) + struct.pack(f">{len(v)}H", *v)


def _u32s(v: Sequence[int]) -> bytes:
    return _U32.pack(len(v)) + struct.pack(f">{len(v)}I", *v)


def _u64s(v: Sequence[int]) -> bytes:
    return _U32.pack(len(v)) + struct.pack(f">{len(v)}Q", *v)


@dataclass(frozen=True, slots=True)
class JobResources:
    """job_resources_t as packed by pack_job_resources: what the job holds on each node.

    ``cpus``/``cpus_used``/``memory_allocated``/``memory_used`` have one entry per host (memory in
    MiB) or are empty. ``cpu_array_value``/``cpu_array_reps`` are a run-length form of ``cpus``. The
    three socket arrays are run-length too: entry i applies to ``sock_core_rep_count[i]`` hosts,
    and only the leading groups that cover ``nhosts`` are sent. ``core_bitmap`` has one bit per core
    of the allocated nodes, in node order. From 24.11 the block also carries ``next_step_node_inx``
    (after ncpus); 24.11 alone ends with the ``node_bitmap`` (one bit per node of the cluster), 26.05
    with ``node_ranks`` (one entry per host, or none).
    """

    nhosts: int = 0
    ncpus: int = 0
    node_req: int = 0
    nodes: str | None = None
    whole_node: int = 0
    threads_per_core: int = NO_VAL16
    cr_type: int = 0
    cpu_array_reps: tuple[int, ...] = ()
    cpu_array_value: tuple[int, ...] = ()
    cpus: tuple[int, ...] = ()
    cpus_used: tuple[int, ...] = ()
    memory_allocated: tuple[int, ...] = ()
    memory_used: tuple[int, ...] = ()
    sockets_per_node: tuple[int, ...] = ()
    cores_per_socket: tuple[int, ...] = ()
    sock_core_rep_count: tuple[int, ...] = ()
    core_bitmap: Bitmap | None = None
    core_bitmap_used: Bitmap | None = None
    next_step_node_inx: int = 0
    node_bitmap: Bitmap | None = None
    node_ranks: tuple[int, ...] = ()

    def to_bytes(self, version: int = PROTOCOL_VERSION) -> bytes:
        if self.nhosts >= NO_VAL:
            raise EncodeError(f"job_resources nhosts {self.nhosts} collides with the NO_VAL marker")
        if len(self.cpu_array_value) != len(self.cpu_array_reps):
            raise EncodeError("job_resources: cpu_array_value and cpu_array_reps differ in length")
        if len(self.cpus) != self.nhosts:
            raise EncodeError(f"job_resources: {len(self.cpus)} cpus entries for {self.nhosts} hosts")
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        try:
            head = (
                _RES_HEAD_24_11.pack(self.nhosts, self.ncpus, self.next_step_node_inx, self.node_req)
                if newer
                else _RES_HEAD.pack(self.nhosts, self.ncpus, self.node_req)
            )
            if not newer:
                tail = b""
            elif version >= SLURM_26_05_PROTOCOL_VERSION:
                tail = _u32s(self.node_ranks)
            else:
                tail = pack_bits(self.node_bitmap)
            return b"".join(
                (
                    head,
                    pack_str(self.nodes),
                    _RES_MID.pack(self.whole_node, self.threads_per_core, self.cr_type),
                    _u32s(self.cpu_array_reps),
                    _u16s(self.cpu_array_value),
                    _u16s(self.cpus),
                    _u16s(self.cpus_used),
                    _u64s(self.memory_allocated),
                    _u64s(self.memory_used),
                    _u16s(self.sockets_per_node),
                    _u16s(self.cores_per_socket),
                    _u32s(self.sock_core_rep_count),
                    pack_bits(self.core_bitmap),
                    pack_bits(self.core_bitmap_used),
                    tail,
                )
            )
        except (struct.error, TypeError) as e:
            raise EncodeError(f"job_resources does not fit its wire types: {e}") from None

    @classmethod
    def unpack_optional(cls, r: Reader, version: int = PROTOCOL_VERSION) -> JobResources | None:
        """The block from its leading u32 nhosts; None when that is NO_VAL (nothing follows it)."""
        data, pos, end = r.view()
        if pos + 4 <= end and data[pos : pos + 4] == _NO_VAL_BYTES:
            r.seek(pos + 4)
            return None
        return _RESOURCES.unpack(r, version)

    def cores_per_node(self) -> tuple[int, ...]:
        """Cores (sockets * cores per socket) of each allocated node, from the run-length arrays."""
        out: list[int] = []
        for sockets, cores, reps in zip(
            self.sockets_per_node, self.cores_per_socket, self.sock_core_rep_count, strict=False
        ):
            out.extend([sockets * cores] * min(reps, self.nhosts - len(out)))
            if len(out) >= self.nhosts:
                break
        if len(out) != self.nhosts:
            raise DecodeError(f"job_resources: socket/core records cover {len(out)} of {self.nhosts} nodes")
        return tuple(out)

    def cores_by_node(self) -> tuple[tuple[int, ...], ...]:
        """Per allocated node, the indexes of its allocated cores (socket-major, as slurmd counts them)."""
        if self.core_bitmap is None:
            return tuple(() for _ in range(self.nhosts))
        counts = self.cores_per_node()
        if sum(counts) != self.core_bitmap.size:
            raise DecodeError(
                f"job_resources: core bitmap of {self.core_bitmap.size} bits for {sum(counts)} cores"
            )
        out: list[tuple[int, ...]] = []
        offset, value = 0, self.core_bitmap.value
        for n in counts:
            bits = value >> offset & ((1 << n) - 1)
            out.append(tuple(Bitmap(n, bits).indexes()))
            offset += n
        return tuple(out)


def _cpu_arrays_differ(cpu_array_reps: tuple[int, ...], cpu_array_value: tuple[int, ...]) -> bool:
    return len(cpu_array_reps) != len(cpu_array_value)


def _cpus_not_per_host(cpus: tuple[int, ...], nhosts: int) -> bool:
    return len(cpus) != nhosts


# pack_job_resources after its u32 nhosts (NO_VAL: no block), as a reader layout
_RESOURCES = VersionedReader(
    JobResources,
    (
        ("nhosts", U32),
        ("ncpus", U32),
        ("next_step_node_inx", U32, since(SLURM_24_11_PROTOCOL_VERSION)),
        ("node_req", U32),
        ("nodes", STR),
        ("whole_node", U8),
        ("threads_per_core", U16),
        ("cr_type", U16),
        ("cpu_array_reps", U32_ARRAY),
        ("cpu_array_value", U16_ARRAY),
        (
            "check cpu arrays",
            Check(_cpu_arrays_differ, "job_resources: cpu_array_value and cpu_array_reps differ in length"),
        ),
        ("cpus", U16_ARRAY),
        ("check cpus", Check(_cpus_not_per_host, "job_resources: cpus {cpus} for {nhosts} hosts")),
        ("cpus_used", U16_ARRAY),
        ("memory_allocated", U64_ARRAY),
        ("memory_used", U64_ARRAY),
        ("sockets_per_node", U16_ARRAY),
        ("cores_per_socket", U16_ARRAY),
        ("sock_core_rep_count", U32_ARRAY),
        ("core_bitmap", BITS),
        ("core_bitmap_used", BITS),
        ("node_bitmap", BITS, Span(SLURM_24_11_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION)),
        ("node_ranks", U32_ARRAY, since(SLURM_26_05_PROTOCOL_VERSION)),
    ),
    (SLURM_22_05_PROTOCOL_VERSION, SLURM_24_11_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION),
)

_RES_HEAD = struct.Struct(">III")
_RES_HEAD_24_11 = struct.Struct(">IIII")
_RES_MID = struct.Struct(">BHH")


class _JobResourcesCodec:
    """The optional block in one release's layout: u32 NO_VAL alone when absent."""

    def __init__(self, version: int = PROTOCOL_VERSION) -> None:
        self.version = version

    def pack(self, value: JobResources | None) -> bytes:
        return _NO_VAL_BYTES if value is None else value.to_bytes(self.version)

    def unpack(self, r: Reader) -> JobResources | None:
        return JobResources.unpack_optional(r, self.version)

    def skip(self, data: bytes, pos: int, end: int) -> int:
        if pos + 4 <= end and data[pos : pos + 4] == _NO_VAL_BYTES:
            return pos + 4
        r = Reader(data, pos, end)
        self.unpack(r)
        return r.pos


JOB_RESOURCES = _JobResourcesCodec()
JOB_RESOURCES_24_11 = _JobResourcesCodec(SLURM_24_11_PROTOCOL_VERSION)
JOB_RESOURCES_26_05 = _JobResourcesCodec(SLURM_26_05_PROTOCOL_VERSION)


# -- multi-core block -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MultiCore:
    """multi_core_data_t (pack_multi_core_data): u8 0xff then these 9 u16; absent = u8 0."""

    boards_per_node: int = 0
    sockets_per_board: int = 0
    sockets_per_node: int = NO_VAL16
    cores_per_socket: int = NO_VAL16
    threads_per_core: int = NO_VAL16
    ntasks_per_board: int = 0
    ntasks_per_socket: int = NO_VAL16
    ntasks_per_core: int = NO_VAL16
    plane_size: int = 0


_MULTI_CORE = struct.Struct(">B9H")


class _MultiCoreCodec:
    def pack(self, value: MultiCore | None) -> bytes:
        if value is None:
            return b"\0"
        return _MULTI_CORE.pack(
            0xFF,
            value.boards_per_node,
            value.sockets_per_board,
            value.sockets_per_node,
            value.cores_per_socket,
            value.threads_per_core,
            value.ntasks_per_board,
            value.ntasks_per_socket,
            value.ntasks_per_core,
            value.plane_size,
        )

    def unpack(self, r: Reader) -> MultiCore | None:
        data, pos, end = r.view()
        if pos < end and data[pos] == 0:
            r.seek(pos + 1)
            return None
        return _MULTI_CORE_READER.unpack(r)  # every saved 22.05 job has one

    def skip(self, data: bytes, pos: int, end: int) -> int:
        if pos >= end:
            raise DecodeError("multi-core block: truncated")
        return pos + (1 if data[pos] == 0 else 19)


def _not_multi_core(flag: int) -> bool:
    return flag != 0xFF


_MULTI_CORE_READER = compile_reader(
    MultiCore,
    (
        ("flag", U8),
        ("check flag", Check(_not_multi_core, "multi-core flag {flag:#x} is neither 0 nor 0xff")),
        *((f.name, U16) for f in fields(MultiCore)),
    ),
)
MULTI_CORE = _MultiCoreCodec()


# -- blocks of the 24.11 record -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FedDetails:
    """A job's federation details: from 24.11 behind a flag (job_record_pack_common), absent on a
    cluster outside a federation. 22.05 packs the same values flat, always (the fed_* fields)."""

    origin_str: str | None = None
    siblings_active: int = 0
    siblings_active_str: str | None = None
    siblings_viable: int = 0
    siblings_viable_str: str | None = None


_U64 = struct.Struct(">Q")


class _FedDetailsCodec:
    def pack(self, value: FedDetails | None) -> bytes:
        if value is None:
            return b"\0"
        return b"".join(
            (
                b"\1",
                pack_str(value.origin_str),
                _U64.pack(value.siblings_active),
                pack_str(value.siblings_active_str),
                _U64.pack(value.siblings_viable),
                pack_str(value.siblings_viable_str),
            )
        )

    def unpack(self, r: Reader) -> FedDetails | None:
        if not r.u8():
            return None
        return FedDetails(r.string(), r.u64(), r.string(), r.u64(), r.string())


FED_DETAILS = _FedDetailsCodec()


class _DetailsFlagCodec:
    """The bool before a 24.11 record's details. slurmctld packs false (and three counts in place of
    the details) only for a job whose details are gone, which a listed job always has: such a record
    is refused rather than guessed."""

    def pack(self, value: bool) -> bytes:
        if not value:
            raise EncodeError("a job record without details cannot be packed")
        return b"\1"

    def unpack(self, r: Reader) -> bool:
        if not r.u8():
            raise DecodeError("job record without job details: not supported")
        return True

    def skip(self, data: bytes, pos: int, end: int) -> int:
        if pos >= end or not data[pos]:
            raise DecodeError("job record without job details: not supported")
        return pos + 1


DETAILS_FLAG = _DetailsFlagCodec()


class _U32ArrayCodec:
    """pack32_array: u32 count then the values (an empty array is count 0)."""

    def pack(self, value: Sequence[int]) -> bytes:
        return _u32s(value)

    def unpack(self, r: Reader) -> tuple[int, ...]:
        return tuple(r.u32_array())


U32S = _U32ArrayCodec()


# -- the job record -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobRecord(Message):
    """One job of RESPONSE_JOB_INFO (slurmctld ``pack_job``, 22.05), fields in wire order.

    Values are as on the wire: ``job_state`` base state | flags, ``nice``/``site_factor`` carry
    +NICE_OFFSET, ``time_limit``/``time_min`` in minutes, times in epoch seconds, memory in MiB,
    ``billable_tres`` as a float (NO_VAL until allocated). ``array_task_str`` is the hex bitmap of
    the pending tasks of an array meta record ("0x78" = tasks 3-6). ``show_flags`` echoes the
    request's. ``gres_used`` is what the client library calls gres_total. ``container`` is packed
    twice by slurmctld; decoding checks that both copies agree.

    From 24.11 the record is packed in another order (job_record_pack_common first, alphabetical),
    without ``show_flags``, ``power_flags`` and ``select_plugin_id``, ``state_reason`` is a u32, and the
    fields after ``selinux_context`` below are new (each marked with the release it came in).
    """

    array_job_id: int = 0
    array_task_id: int = NO_VAL
    array_task_str: str | None = None
    array_max_tasks: int = 0
    assoc_id: int = 0
    container: str | None = None
    delay_boot: int = 0
    job_id: int = 0
    user_id: int = 0
    group_id: int = 0
    het_job_id: int = 0
    het_job_id_set: str | None = None
    het_job_offset: int = 0
    profile: int = 0
    job_state: int = 0
    batch_flag: int = 0
    state_reason: int = 0
    power_flags: int = 0
    reboot: int = 0
    restart_cnt: int = 0
    show_flags: int = 0
    deadline: int = 0
    alloc_sid: int = 0
    time_limit: int = NO_VAL
    time_min: int = 0
    nice: int = NICE_OFFSET
    submit_time: int = 0
    eligible_time: int = 0
    accrue_time: int = 0
    start_time: int = 0
    end_time: int = 0
    suspend_time: int = 0
    pre_sus_time: int = 0
    resize_time: int = 0
    last_sched_eval: int = 0
    preempt_time: int = 0
    priority: int = 0
    billable_tres: float = float(NO_VAL)
    cluster: str | None = None
    nodes: str | None = None
    sched_nodes: str | None = None
    partition: str | None = None
    account: str | None = None
    admin_comment: str | None = None
    site_factor: int = NICE_OFFSET
    network: str | None = None
    comment: str | None = None
    batch_features: str | None = None
    batch_host: str | None = None
    burst_buffer: str | None = None
    burst_buffer_state: str | None = None
    system_comment: str | None = None
    qos: str | None = None
    preemptable_time: int = 0
    licenses: str | None = None
    state_desc: str | None = None
    resv_name: str | None = None
    mcs_label: str | None = None
    exit_code: int = 0
    derived_ec: int = 0
    gres_used: str | None = None
    job_resources: JobResources | None = None
    gres_detail_str: tuple[str, ...] = ()
    name: str | None = None
    user_name: str | None = None
    wckey: str | None = None
    req_switch: int = 0
    wait4switch: int = 0
    alloc_node: str | None = None
    node_bitmap: Bitmap | None = None
    select_plugin_id: int = SELECT_PLUGIN_CONS_TRES
    features: str | None = None
    prefer: str | None = None
    cluster_features: str | None = None
    work_dir: str | None = None
    dependency: str | None = None
    command: str | None = None
    num_cpus: int = 0
    max_cpus: int = 0
    num_nodes: int = 0
    max_nodes: int = 0
    requeue: int = 0
    ntasks_per_node: int = 0
    ntasks_per_tres: int = 0
    num_tasks: int = 0
    shared: int = NO_VAL16
    cpu_freq_min: int = NO_VAL
    cpu_freq_max: int = NO_VAL
    cpu_freq_gov: int = NO_VAL
    cronspec: str | None = None
    contiguous: int = 0
    core_spec: int = NO_VAL16
    cpus_per_task: int = 0
    pn_min_cpus: int = 0
    pn_min_memory: int = 0
    pn_min_tmp_disk: int = 0
    req_nodes: str | None = None
    req_node_bitmap: Bitmap | None = None
    exc_nodes: str | None = None
    exc_node_bitmap: Bitmap | None = None
    std_err: str | None = None
    std_in: str | None = None
    std_out: str | None = None
    multi_core: MultiCore | None = None
    bitflags: int = 0
    tres_alloc_str: str | None = None
    tres_req_str: str | None = None
    start_protocol_ver: int = PROTOCOL_VERSION
    fed_origin_str: str | None = None
    fed_siblings_active: int = 0
    fed_siblings_active_str: str | None = None
    fed_siblings_viable: int = 0
    fed_siblings_viable_str: str | None = None
    cpus_per_tres: str | None = None
    mem_per_tres: str | None = None
    tres_bind: str | None = None
    tres_freq: str | None = None
    tres_per_job: str | None = None
    tres_per_node: str | None = None
    tres_per_socket: str | None = None
    tres_per_task: str | None = None
    mail_type: int = 0
    mail_user: str | None = None
    selinux_context: str | None = None
    # 24.11
    container_id: str | None = None
    extra: str | None = None
    failed_node: str | None = None
    fed_details: FedDetails | None = None
    resv_ports: str | None = None
    priority_array: tuple[int, ...] = ()
    priority_array_names: str | None = None
    has_details: bool = True
    job_size_bitmap: Bitmap | None = None
    oom_kill_step: int = NO_VAL16
    # 26.05: the job's step id (sluid, job_id, step_id NO_VAL, step_het_comp NO_VAL) leads the record
    sluid: int = 0
    step_id: int = NO_VAL
    step_het_comp: int = NO_VAL
    container_type: str | None = None
    licenses_allocated: str | None = None
    segment_size: int = 0
    submit_line: str | None = None
    exclusive: int = 0
    oversubscribe: int = 0
    mem_update_delay: int = 0
    mem_update_margin: int = 0

    NEWER_LAYOUTS = frozenset(NEWER)

    def to_bytes(self, version: int = PROTOCOL_VERSION) -> bytes:
        """This record's wire bytes in ``version``'s layout (cache them: a reply joins them)."""
        pack = _PACKERS.get(version)
        if pack is None:
            raise EncodeError(
                f"job record: protocol version {version:#06x} is not supported",
                rc=SlurmRC.SLURM_PROTOCOL_VERSION_ERROR,
            )
        return pack(self)

    def pack(self, w: Writer, version: int) -> None:
        w.raw(self.to_bytes(version))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return JOB_RECORD.unpack(r, version)  # type: ignore[return-value]


_ONLY_22_05 = before(SLURM_24_11_PROTOCOL_VERSION)
_FROM_24_11 = since(SLURM_24_11_PROTOCOL_VERSION)
_ONLY_24_11 = Span(SLURM_24_11_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION)
_FROM_26_05 = since(SLURM_26_05_PROTOCOL_VERSION)

# 22.05: pack_job (first branch, >= 21.08) with _pack_default_job_details (22.05) and
# _pack_pending_job_details; reader _unpack_job_info_members (22.05).
_LAYOUT_22_05: tuple[tuple[str, Kind], ...] = (
    ("array_job_id", U32),
    ("array_task_id", U32),
    ("array_task_str", STR),
    ("array_max_tasks", U32),
    ("assoc_id", U32),
    ("container", STR),
    ("delay_boot", U32),
    ("job_id", U32),
    ("user_id", U32),
    ("group_id", U32),
    ("het_job_id", U32),
    ("het_job_id_set", STR),
    ("het_job_offset", U32),
    ("profile", U32),
    ("job_state", U32),
    ("batch_flag", U16),
    ("state_reason", U16),
    ("power_flags", U8),
    ("reboot", U8),
    ("restart_cnt", U16),
    ("show_flags", U16),
    ("deadline", TIME),
    ("alloc_sid", U32),
    ("time_limit", U32),
    ("time_min", U32),
    ("nice", U32),
    ("submit_time", TIME),
    ("eligible_time", TIME),
    ("accrue_time", TIME),
    ("start_time", TIME),
    ("end_time", TIME),
    ("suspend_time", TIME),
    ("pre_sus_time", TIME),
    ("resize_time", TIME),
    ("last_sched_eval", TIME),
    ("preempt_time", TIME),
    ("priority", U32),
    ("billable_tres", DOUBLE),
    ("cluster", STR),
    ("nodes", STR),
    ("sched_nodes", STR),
    ("partition", STR),
    ("account", STR),
    ("admin_comment", STR),
    ("site_factor", U32),
    ("network", STR),
    ("comment", STR),
    ("container", STR),  # packed a second time
    ("batch_features", STR),
    ("batch_host", STR),
    ("burst_buffer", STR),
    ("burst_buffer_state", STR),
    ("system_comment", STR),
    ("qos", STR),
    ("preemptable_time", TIME),
    ("licenses", STR),
    ("state_desc", STR),
    ("resv_name", STR),
    ("mcs_label", STR),
    ("exit_code", U32),
    ("derived_ec", U32),
    ("gres_used", STR),
    ("job_resources", JOB_RESOURCES),
    ("gres_detail_str", STRS),
    ("name", STR),
    ("user_name", STR),
    ("wckey", STR),
    ("req_switch", U32),
    ("wait4switch", U32),
    ("alloc_node", STR),
    ("node_bitmap", BITS),
    ("select_plugin_id", SELECT_PLUGIN),
    # default job details
    ("features", STR),
    ("prefer", STR),
    ("cluster_features", STR),
    ("work_dir", STR),
    ("dependency", STR),
    ("command", STR),
    ("num_cpus", U32),
    ("max_cpus", U32),
    ("num_nodes", U32),
    ("max_nodes", U32),
    ("requeue", U16),
    ("ntasks_per_node", U16),
    ("ntasks_per_tres", U16),
    ("num_tasks", U32),
    ("shared", U16),
    ("cpu_freq_min", U32),
    ("cpu_freq_max", U32),
    ("cpu_freq_gov", U32),
    ("cronspec", STR),
    # pending job details
    ("contiguous", U16),
    ("core_spec", U16),
    ("cpus_per_task", U16),
    ("pn_min_cpus", U16),
    ("pn_min_memory", U64),
    ("pn_min_tmp_disk", U32),
    ("req_nodes", STR),
    ("req_node_bitmap", BITS),
    ("exc_nodes", STR),
    ("exc_node_bitmap", BITS),
    ("std_err", STR),
    ("std_in", STR),
    ("std_out", STR),
    ("multi_core", MULTI_CORE),
    # the rest of pack_job
    ("bitflags", U64),
    ("tres_alloc_str", STR),
    ("tres_req_str", STR),
    ("start_protocol_ver", U16),
    ("fed_origin_str", STR),
    ("fed_siblings_active", U64),
    ("fed_siblings_active_str", STR),
    ("fed_siblings_viable", U64),
    ("fed_siblings_viable_str", STR),
    ("cpus_per_tres", STR),
    ("mem_per_tres", STR),
    ("tres_bind", STR),
    ("tres_freq", STR),
    ("tres_per_job", STR),
    ("tres_per_node", STR),
    ("tres_per_socket", STR),
    ("tres_per_task", STR),
    ("mail_type", U16),
    ("mail_user", STR),
    ("selinux_context", STR),
)

# 24.11 and 26.05: pack_job's first branch: job_record_pack_common, the array, times and places,
# job resources, then _pack_default_job_details (a flag, job_record_pack_details_common, the rest)
# and _pack_pending_job_details; reader _unpack_job_info_members's first branch of each release.
_LAYOUT_NEWER: tuple[Entry, ...] = (
    # job_record_pack_common (26.05 leads with the job's step id)
    ("sluid", U64, _FROM_26_05),
    ("job_id", U32, _FROM_26_05),
    ("step_id", U32, _FROM_26_05),
    ("step_het_comp", U32, _FROM_26_05),
    ("account", STR),
    ("admin_comment", STR),
    ("alloc_node", STR),
    ("alloc_sid", U32),
    ("array_job_id", U32),
    ("array_task_id", U32),
    ("assoc_id", U32),
    ("batch_features", STR),
    ("batch_flag", U16),
    ("batch_host", STR),
    ("bitflags", U64),
    ("burst_buffer", STR),
    ("burst_buffer_state", STR),
    ("billable_tres", DOUBLE),
    ("comment", STR),
    ("container", STR),
    ("container_id", STR),
    ("container_type", STR, _FROM_26_05),
    ("cpus_per_tres", STR),
    ("deadline", TIME),
    ("delay_boot", U32),
    ("derived_ec", U32),
    ("exit_code", U32),
    ("extra", STR),
    ("failed_node", STR),
    ("fed_details", FED_DETAILS),
    ("gres_used", STR),
    ("group_id", U32),
    ("het_job_id", U32),
    ("het_job_id_set", STR),
    ("het_job_offset", U32),
    ("job_id", U32, _ONLY_24_11),
    ("job_state", U32),
    ("last_sched_eval", TIME),
    ("licenses", STR),
    ("licenses_allocated", STR, _FROM_26_05),
    ("mail_type", U16),
    ("mail_user", STR),
    ("mcs_label", STR),
    ("mem_per_tres", STR),
    ("name", STR),
    ("network", STR),
    ("preempt_time", TIME),
    ("pre_sus_time", TIME),
    ("priority", U32),
    ("profile", U32),
    ("reboot", U8),
    ("req_switch", U32),
    ("resize_time", TIME),
    ("restart_cnt", U16),
    ("resv_name", STR),
    ("resv_ports", STR),
    ("selinux_context", STR),
    ("site_factor", U32),
    ("start_protocol_ver", U16),
    ("state_desc", STR),
    ("state_reason", U32),
    ("suspend_time", TIME),
    ("system_comment", STR),
    ("time_min", U32),
    ("tres_bind", STR),
    ("tres_alloc_str", STR),
    ("tres_req_str", STR),
    ("tres_freq", STR),
    ("tres_per_job", STR),
    ("tres_per_node", STR),
    ("tres_per_socket", STR),
    ("tres_per_task", STR),
    ("user_id", U32),
    ("user_name", STR),
    ("wait4switch", U32),
    ("wckey", STR),
    # pack_job
    ("array_task_str", STR),
    ("array_max_tasks", U32),
    ("time_limit", U32),
    ("start_time", TIME),
    ("end_time", TIME),
    ("priority_array", U32S),
    ("priority_array_names", STR),
    ("cluster", STR),
    ("nodes", STR),
    ("sched_nodes", STR),
    ("partition", STR),
    ("qos", STR),
    ("preemptable_time", TIME),
    ("job_resources", JOB_RESOURCES_24_11, _ONLY_24_11),
    ("job_resources", JOB_RESOURCES_26_05, _FROM_26_05),
    ("gres_detail_str", STRS),
    ("node_bitmap", BITS),
    # _pack_default_job_details
    ("has_details", DETAILS_FLAG),
    ("accrue_time", TIME),
    ("eligible_time", TIME),  # details->begin_time
    ("cluster_features", STR),
    ("cpu_freq_gov", U32),
    ("cpu_freq_max", U32),
    ("cpu_freq_min", U32),
    ("dependency", STR),
    ("job_size_bitmap", BITS),
    ("nice", U32),
    ("ntasks_per_node", U16),
    ("ntasks_per_tres", U16),
    ("requeue", U16),
    ("segment_size", U16, _FROM_26_05),
    ("submit_time", TIME),
    ("work_dir", STR),
    ("features", STR),
    ("prefer", STR),
    ("command", STR),
    ("submit_line", STR, _FROM_26_05),
    ("num_cpus", U32),
    ("max_cpus", U32),
    ("num_nodes", U32),
    ("max_nodes", U32),
    ("num_tasks", U32),
    ("exclusive", U16, _FROM_26_05),
    ("shared", U16),
    ("oversubscribe", U16, _FROM_26_05),
    ("cronspec", STR),
    ("mem_update_delay", U16, _FROM_26_05),
    ("mem_update_margin", U16, _FROM_26_05),
    # _pack_pending_job_details
    ("contiguous", U16),
    ("core_spec", U16),
    ("cpus_per_task", U16),
    ("pn_min_cpus", U16),
    ("pn_min_memory", U64),
    ("pn_min_tmp_disk", U32),
    ("oom_kill_step", U16),
    ("req_nodes", STR),
    ("req_node_bitmap", BITS),
    ("exc_nodes", STR),
    ("exc_node_bitmap", BITS),
    ("std_err", STR),
    ("std_in", STR),
    ("std_out", STR),
    ("multi_core", MULTI_CORE),
)


def _in(span: Span, entries: Sequence[Entry]) -> tuple[Entry, ...]:
    """``entries`` narrowed to the releases of ``span``."""
    out: list[Entry] = []
    for e in entries:
        inner = e[2] if len(e) == 3 else Span()
        out.append((e[0], e[1], Span(max(span.lo, inner.lo), min(span.hi, inner.hi))))
    return tuple(out)


# The one table: 22.05's order up to 24.11, the newer order from it.
JOB_RECORD_LAYOUT: tuple[Entry, ...] = (
    *_in(_ONLY_22_05, _LAYOUT_22_05),
    *_in(_FROM_24_11, _LAYOUT_NEWER),
)
JOB_RECORD = VersionedLayout(JobRecord, JOB_RECORD_LAYOUT, SERVED)
_PACKERS = {v: JOB_RECORD.packer(v) for v in SERVED}
_pack_job_record = JOB_RECORD.packer(SLURM_22_05_PROTOCOL_VERSION)
_unpack_job_record = JOB_RECORD.unpacker(SLURM_22_05_PROTOCOL_VERSION)


def encode_job_record(record: JobRecord, version: int = PROTOCOL_VERSION) -> bytes:
    """The wire bytes of one record (same as ``record.to_bytes(version)``)."""
    return record.to_bytes(version)


def _skip_str(data: bytes, pos: int) -> int:
    if pos + 4 > len(data):
        raise DecodeError("job record too short")
    return pos + 4 + int(_U32.unpack_from(data, pos)[0])


def show_flags_offset(record: bytes) -> int:
    """Byte offset of the u16 show_flags inside an encoded 22.05 job record (from 24.11 a record
    carries no show_flags)."""
    pos = _skip_str(record, 8)  # array_job_id, array_task_id, array_task_str
    pos = _skip_str(record, pos + 8)  # array_max_tasks, assoc_id, container
    pos = _skip_str(record, pos + 20)  # delay_boot, job_id, user_id, group_id, het_job_id, het_job_id_set
    pos += (
        12 + 8
    )  # het_job_offset, profile, job_state; batch_flag, state_reason, power_flags, reboot, restart_cnt
    if pos + 2 > len(record):
        raise DecodeError("job record too short")
    return pos


def with_show_flags(record: bytes, show_flags: int) -> bytes:
    """An encoded record with its show_flags (the request's, echoed by slurmctld) replaced."""
    pos = show_flags_offset(record)
    if record[pos : pos + 2] == _U16.pack(show_flags):
        return record
    return record[:pos] + _U16.pack(show_flags) + record[pos + 2 :]


# -- the reply ------------------------------------------------------------------------------------

_INFO_HEAD = struct.Struct(">Iqq")


def job_info_header(count: int, last_update: int, last_backfill: int = 0) -> bytes:
    """The 20 bytes before the records of a RESPONSE_JOB_INFO body."""
    return _INFO_HEAD.pack(count, last_update, last_backfill)


def job_info_response_body(records: Sequence[bytes], last_update: int, last_backfill: int = 0) -> bytes:
    """RESPONSE_JOB_INFO body from already-encoded records: u32 count, time, time, the records."""
    return b"".join([_INFO_HEAD.pack(len(records), last_update, last_backfill), *records])


@register(MsgType.RESPONSE_JOB_INFO)
@dataclass(frozen=True, slots=True)
class JobInfoResponse(Message):
    """2004: u32 record_count, time last_update, time last_backfill (0 until backfill ran), records.

    Also the reply to 2021 and 2039. The client sets BACKFILL_LAST itself (see client-structs.md).
    The header is the same in every served release; the records are in the release's layout.
    """

    last_update: int = 0
    last_backfill: int = 0
    records: tuple[JobRecord, ...] = ()

    NEWER_LAYOUTS = frozenset(NEWER)

    def pack(self, w: Writer, version: int) -> None:
        w.raw(
            job_info_response_body(
                [rec.to_bytes(version) for rec in self.records], self.last_update, self.last_backfill
            )
        )

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        count = r.u32()
        last_update = r.time()
        last_backfill = r.time()
        if count > r.remaining:  # a record is far more than one byte: cheap sanity bound
            raise DecodeError(f"job info: {count} records do not fit in {r.remaining} bytes")
        unpack = JOB_RECORD.unpacker(version)
        records = [unpack(JobRecord, r) for _ in range(count)]
        return cls(last_update, last_backfill, tuple(records))


@dataclass(frozen=True, slots=True)
class PackedJobInfoResponse(Message):
    """A 2004 body built from cached record bytes (for ``encode_body``; decoding gives JobInfoResponse)."""

    last_update: int = 0
    last_backfill: int = 0
    records: tuple[bytes, ...] = ()

    MSG_TYPES = (MsgType.RESPONSE_JOB_INFO,)
    # the records' bytes must be in the layout of the version the body is packed in
    NEWER_LAYOUTS = frozenset(NEWER)

    def pack(self, w: Writer, version: int) -> None:
        w.raw(job_info_response_body(self.records, self.last_update, self.last_backfill))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        """Split a 2004 body into its records' bytes (each record is decoded once to find its end)."""
        unpack = JOB_RECORD.unpacker(version)
        count = r.u32()
        last_update = r.time()
        last_backfill = r.time()
        if count > r.remaining:
            raise DecodeError(f"job info: {count} records do not fit in {r.remaining} bytes")
        blob = r.bytes(r.remaining)
        sub = Reader(blob)
        records = []
        for _ in range(count):
            start = sub.pos
            unpack(JobRecord, sub)
            records.append(blob[start : sub.pos])
        sub.expect_end("job info records")
        return cls(last_update, last_backfill, tuple(records))


# -- cutting a reply into records -----------------------------------------------------------------


def _job_id_reader(version: int) -> Callable[[bytes, int, int], int]:
    """The job id of an encoded record of ``version``: a skipper of the fields before it, then a u32."""
    if version == SLURM_22_05_PROTOCOL_VERSION:
        return _record_job_id
    layout = JOB_RECORD.layouts[version]
    lead = layout[: [name for name, _ in layout].index("job_id")]
    skip = compile_skipper(lead, f"JobRecord {version:#06x} before job_id")

    def job_id(data: bytes, start: int, end: int) -> int:
        pos = skip(data, start, end)
        if pos + 4 > end:
            raise DecodeError("job record too short for its job id")
        return int(_U32.unpack_from(data, pos)[0])

    return job_id


_JOB_ID_OF: dict[int, Callable[[bytes, int, int], int]] = {}


def split_job_info(body: bytes, version: int = PROTOCOL_VERSION) -> tuple[int, int, list[tuple[int, bytes]]]:
    """A RESPONSE_JOB_INFO body of ``version`` as (last_update, last_backfill, [(job_id, record bytes),
    ...]) without decoding the records: the caller decodes only those whose bytes changed."""
    skip_record = JOB_RECORD.skipper(version, f"JobRecord {version:#06x}")  # refuses an unknown version
    record_job_id = _JOB_ID_OF.get(version)
    if record_job_id is None:
        record_job_id = _JOB_ID_OF[version] = _job_id_reader(version)
    if len(body) < 20:
        raise DecodeError("job info: body too short")
    count, last_update, last_backfill = _INFO_HEAD.unpack_from(body, 0)
    pos, end = 20, len(body)
    if count > end:
        raise DecodeError(f"job info: {count} records do not fit in {end} bytes")
    out: list[tuple[int, bytes]] = []
    for _ in range(count):
        start = pos
        pos = skip_record(body, pos, end)
        out.append((record_job_id(body, start, pos), body[start:pos]))
    if pos != end:
        raise DecodeError(f"job info: {end - pos} bytes after the last record")
    return last_update, last_backfill, out


def _record_job_id(data: bytes, start: int, end: int) -> int:
    """job_id sits after array_job_id, array_task_id, array_task_str, array_max_tasks, assoc_id,
    container and delay_boot."""
    pos = start + 8
    pos += 4 + _U32.unpack_from(data, pos)[0] + 8
    pos += 4 + _U32.unpack_from(data, pos)[0] + 4
    if pos + 4 > end:
        raise DecodeError("job record too short for its job id")
    return int(_U32.unpack_from(data, pos)[0])


def decode_job_record(record: bytes, version: int = PROTOCOL_VERSION) -> JobRecord:
    r = Reader(record)
    rec = JOB_RECORD.unpack(r, version)
    r.expect_end("job record")
    return rec
