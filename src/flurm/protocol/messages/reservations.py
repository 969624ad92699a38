"""Advanced reservation RPCs of SLURM 22.05 (slurm_protocol_pack.c, reservation.c:_pack_resv [22.05]).

* REQUEST_RESERVATION_INFO 2024: time last_update (``scontrol show reservation``, ``sinfo -T``);
  answered RESPONSE_RESERVATION_INFO 2025 or rc 1900 when nothing changed since last_update.
* REQUEST_CREATE_RESERVATION 3006 / REQUEST_UPDATE_RESERVATION 3009: the reservation description
  (resv_desc_msg_t); a create is answered RESPONSE_CREATE_RESERVATION 3007 with the name, an update
  with a return code.
* REQUEST_DELETE_RESERVATION 3008: the name; answered with a return code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar, Self

from flurm.protocol.constants import (
    NO_VAL,
    NO_VAL64,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    SLURM_MIN_PROTOCOL_VERSION,
    MsgType,
)
from flurm.protocol.messages.base import Message, register
from flurm.protocol.versions import NEWER, check_layout
from flurm.protocol.wire import Bitmap, DecodeError, EncodeError, Reader, Writer

# A reservation record is at least this many bytes: a bound for the record count of a reply.
_MIN_RECORD_BYTES = 4 * 18


class ReserveFlag:
    """RESERVE_FLAG_* bits of the u64 ``flags`` (slurm.h [22.05]); plain ints for the arithmetic."""

    MAINT = 1 << 0
    NO_MAINT = 1 << 1
    DAILY = 1 << 2
    NO_DAILY = 1 << 3
    WEEKLY = 1 << 4
    NO_WEEKLY = 1 << 5
    IGN_JOBS = 1 << 6
    NO_IGN_JOB = 1 << 7
    ANY_NODES = 1 << 8
    NO_ANY_NODES = 1 << 9
    STATIC = 1 << 10
    NO_STATIC = 1 << 11
    PART_NODES = 1 << 12
    NO_PART_NODES = 1 << 13
    OVERLAP = 1 << 14
    SPEC_NODES = 1 << 15
    FIRST_CORES = 1 << 16
    TIME_FLOAT = 1 << 17
    REPLACE = 1 << 18
    ALL_NODES = 1 << 19
    PURGE_COMP = 1 << 20
    WEEKDAY = 1 << 21
    NO_WEEKDAY = 1 << 22
    WEEKEND = 1 << 23
    NO_WEEKEND = 1 << 24
    FLEX = 1 << 25
    NO_FLEX = 1 << 26
    DUR_PLUS = 1 << 27
    DUR_MINUS = 1 << 28
    NO_HOLD_JOBS = 1 << 29
    REPLACE_DOWN = 1 << 30
    NO_PURGE_COMP = 1 << 31
    MAGNETIC = 1 << 32
    NO_MAGNETIC = 1 << 33
    SKIP = 1 << 34
    HOURLY = 1 << 35
    NO_HOURLY = 1 << 36
    REOCCURRING = HOURLY | DAILY | WEEKLY | WEEKDAY | WEEKEND


@register(MsgType.REQUEST_RESERVATION_INFO)
@dataclass(frozen=True, slots=True)
class ReservationInfoRequest(Message):
    """2024: time last_update."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)  # alike in every release

    last_update: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.time(self.last_update)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.time())


@dataclass(frozen=True, slots=True)
class CoreSpec:
    """One (node, cores) entry of a core-based reservation."""

    node_name: str | None
    core_id: str | None


@dataclass(frozen=True, slots=True)
class ReservationRecord:
    """One reservation of RESPONSE_RESERVATION_INFO, the field order of _pack_resv [22.05].

    Times are epoch seconds (end/start as shown: a recurring reservation's current window);
    ``flags`` are ReserveFlag bits; ``node_bitmap`` bit i = node i of the node table (None = no nodes).
    """

    name: str | None = None
    accounts: str | None = None
    burst_buffer: str | None = None
    core_cnt: int = 0
    end_time: int = 0
    features: str | None = None
    flags: int = 0
    licenses: str | None = None
    max_start_delay: int = 0
    node_cnt: int = 0
    node_list: str | None = None
    partition: str | None = None
    purge_comp_time: int = 300
    resv_watts: int = 0
    start_time: int = 0
    tres_fmt_str: str | None = None
    users: str | None = None
    groups: str | None = None
    node_bitmap: Bitmap | None = None
    core_spec: tuple[CoreSpec, ...] = ()
    comment: str | None = None  # 24.11 on
    qos: str | None = None  # 26.05 on
    allowed_parts: str | None = None  # 26.05 on

    def pack(self, w: Writer, version: int) -> None:
        w.string(self.accounts)
        w.string(self.burst_buffer)
        if version >= SLURM_24_11_PROTOCOL_VERSION:
            w.string(self.comment)
        w.u32(self.core_cnt)
        w.time(self.end_time)
        w.string(self.features)
        w.u64(self.flags)
        w.string(self.licenses)
        w.u32(self.max_start_delay)
        w.string(self.name)
        w.u32(self.node_cnt)
        w.string(self.node_list)
        w.string(self.partition)
        w.u32(self.purge_comp_time)
        if version < SLURM_24_11_PROTOCOL_VERSION:
            w.u32(self.resv_watts)
        elif version < SLURM_26_05_PROTOCOL_VERSION:
            w.u32(NO_VAL)  # 24.11: was resv_watts
        w.time(self.start_time)
        w.string(self.tres_fmt_str)
        w.string(self.users)
        w.string(self.groups)
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            w.string(self.qos)
            w.string(self.allowed_parts)
        w.bitmap(self.node_bitmap)
        w.u32(len(self.core_spec))
        for spec in self.core_spec:
            w.string(spec.node_name)
            w.string(spec.core_id)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        check_layout(version, SLURM_MIN_PROTOCOL_VERSION, "reservation record", NEWER)
        record = cls.unpack_leading(r, version)
        node_bitmap = r.bitmap()
        n_specs = r.u32()
        if n_specs * 8 > r.remaining:
            raise DecodeError(f"reservation core_spec count {n_specs} does not fit")
        specs = tuple(CoreSpec(r.string(), r.string()) for _ in range(n_specs))
        return replace(record, node_bitmap=node_bitmap, core_spec=specs)

    @classmethod
    def unpack_leading(cls, r: Reader, version: int = SLURM_22_05_PROTOCOL_VERSION) -> Self:
        """The fields from ``accounts`` to ``groups`` (``allowed_parts`` from 26.05): a record as
        slurmctld also saves it (resv_state)."""
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        accounts, burst_buffer = r.string(), r.string()
        comment = r.string() if newer else None
        core_cnt, end_time, features, flags = r.u32(), r.time(), r.string(), r.u64()
        licenses, max_start_delay, name, node_cnt = r.string(), r.u32(), r.string(), r.u32()
        node_list, partition, purge_comp_time = r.string(), r.string(), r.u32()
        # 24.11 packs NO_VAL where resv_watts was, 26.05 nothing
        resv_watts = r.u32() if version < SLURM_26_05_PROTOCOL_VERSION else 0
        start_time, tres_fmt_str, users, groups = r.time(), r.string(), r.string(), r.string()
        qos = allowed_parts = None
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            qos, allowed_parts = r.string(), r.string()
        return cls(
            name=name,
            accounts=accounts,
            burst_buffer=burst_buffer,
            core_cnt=core_cnt,
            end_time=end_time,
            features=features,
            flags=flags,
            licenses=licenses,
            max_start_delay=max_start_delay,
            node_cnt=node_cnt,
            node_list=node_list,
            partition=partition,
            purge_comp_time=purge_comp_time,
            resv_watts=0 if newer else resv_watts,
            start_time=start_time,
            tres_fmt_str=tres_fmt_str,
            users=users,
            groups=groups,
            comment=comment,
            qos=qos,
            allowed_parts=allowed_parts,
        )


@register(MsgType.RESPONSE_RESERVATION_INFO)
@dataclass(frozen=True, slots=True)
class ReservationInfoResponse(Message):
    """2025: u32 record_count, time last_update, the records."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    last_update: int = 0
    records: Sequence[ReservationRecord] = ()

    def pack(self, w: Writer, version: int) -> None:
        w.u32(len(self.records))
        w.time(self.last_update)
        for rec in self.records:
            rec.pack(w, version)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        count = r.u32()
        if count * _MIN_RECORD_BYTES > r.remaining:
            raise DecodeError(f"reservation count {count} does not fit in {r.remaining} bytes")
        last_update = r.time()
        return cls(last_update, tuple(ReservationRecord.unpack(r, version) for _ in range(count)))


def _counts(values: Sequence[int]) -> list[int]:
    """A zero-terminated u32 array as packed (empty: no array at all)."""
    return [*values, 0] if values else []


def _unpack_counts(r: Reader, what: str) -> tuple[int, ...]:
    values = r.u32_array()
    if values and values[-1] != 0:
        raise DecodeError(f"reservation {what} array is not zero-terminated")
    return tuple(values[:-1])


@register(MsgType.REQUEST_CREATE_RESERVATION, MsgType.REQUEST_UPDATE_RESERVATION)
@dataclass(frozen=True, slots=True)
class ReservationDesc(Message):
    """3006/3009: resv_desc_msg_t. Unset fields are NO_VAL (numbers, times) or None (strings);
    ``node_cnt``/``core_cnt`` travel as zero-terminated u32 arrays (empty = not given).

    24.11 (from 23.11): node_cnt and core_cnt are one u32 each (NO_VAL: not given), resv_watts' place
    holds NO_VAL, and comment and tres_str follow the groups. 26.05 (from 25.11): allowed_parts and
    qos take resv_watts' place."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    name: str | None = None
    start_time: int = NO_VAL
    end_time: int = NO_VAL
    duration: int = NO_VAL  # minutes
    flags: int = NO_VAL64
    node_cnt: tuple[int, ...] = ()
    core_cnt: tuple[int, ...] = ()
    node_list: str | None = None
    features: str | None = None
    licenses: str | None = None
    max_start_delay: int = NO_VAL
    partition: str | None = None
    purge_comp_time: int = NO_VAL
    resv_watts: int = NO_VAL
    users: str | None = None
    accounts: str | None = None
    burst_buffer: str | None = None
    groups: str | None = None
    comment: str | None = None  # 24.11 on
    tres_str: str | None = None  # 24.11 on
    allowed_parts: str | None = None  # 26.05 on
    qos: str | None = None  # 26.05 on

    def pack(self, w: Writer, version: int) -> None:
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        w.string(self.name)
        w.time(self.start_time)
        w.time(self.end_time)
        w.u32(self.duration)
        w.u64(self.flags)
        if newer:
            w.u32(_single_count(self.node_cnt, "node_cnt"))
            w.u32(_single_count(self.core_cnt, "core_cnt"))
        else:
            w.u32_array(_counts(self.node_cnt))
            w.u32_array(_counts(self.core_cnt))
        w.string(self.node_list)
        w.string(self.features)
        w.string(self.licenses)
        w.u32(self.max_start_delay)
        w.string(self.partition)
        w.u32(self.purge_comp_time)
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            w.string(self.allowed_parts)
            w.string(self.qos)
        else:
            w.u32(self.resv_watts)
        w.string(self.users)
        w.string(self.accounts)
        w.string(self.burst_buffer)
        w.string(self.groups)
        if newer:
            w.string(self.comment)
            w.string(self.tres_str)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        name = r.string()
        start_time = r.time()
        end_time = r.time()
        duration = r.u32()
        flags = r.u64()
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        if newer:
            node_cnt, core_cnt = _read_single_count(r), _read_single_count(r)
        else:
            node_cnt = _unpack_counts(r, "node_cnt")
            core_cnt = _unpack_counts(r, "core_cnt")
        node_list = r.string()
        features = r.string()
        licenses = r.string()
        max_start_delay = r.u32()
        partition = r.string()
        purge_comp_time = r.u32()
        allowed_parts = qos = None
        resv_watts = NO_VAL
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            allowed_parts, qos = r.string(), r.string()
        else:
            resv_watts = r.u32()
        users = r.string()
        accounts = r.string()
        burst_buffer = r.string()
        groups = r.string()
        comment, tres_str = (r.string(), r.string()) if newer else (None, None)
        return cls(
            name=name,
            start_time=start_time,
            end_time=end_time,
            duration=duration,
            flags=flags,
            node_cnt=node_cnt,
            core_cnt=core_cnt,
            node_list=node_list,
            features=features,
            licenses=licenses,
            max_start_delay=max_start_delay,
            partition=partition,
            purge_comp_time=purge_comp_time,
            resv_watts=resv_watts,
            users=users,
            accounts=accounts,
            burst_buffer=burst_buffer,
            groups=groups,
            comment=comment,
            tres_str=tres_str,
            allowed_parts=allowed_parts,
            qos=qos,
        )


def _single_count(counts: tuple[int, ...], what: str) -> int:
    """24.11 on: one count (NO_VAL: none given) where 22.05 sends a zero-terminated array."""
    if len(counts) > 1:
        raise EncodeError(f"reservation {what}: {len(counts)} counts; 24.11 and 26.05 take one")
    return counts[0] if counts else NO_VAL


def _read_single_count(r: Reader) -> tuple[int, ...]:
    value = r.u32()
    return () if value == NO_VAL else (value,)


@register(MsgType.REQUEST_DELETE_RESERVATION, MsgType.RESPONSE_CREATE_RESERVATION)
@dataclass(frozen=True, slots=True)
class ReservationName(Message):
    """3008 (delete this one) / 3007 (the name a create gave): str name (alike in 24.11 and 26.05)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    name: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.string(self.name)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.string())
