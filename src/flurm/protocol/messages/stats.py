"""sdiag: REQUEST_STATS_INFO 2035 and RESPONSE_STATS_INFO 2036 (slurmctld's statistics).

Layout (slurm_protocol_pack.c _unpack_stats_response_msg; slurmctld's statistics.c pack_all_stat and
proc_req.c _pack_rpc_stats): a u32 ``parts_packed``; when it is set, the controller's counters; then,
always, the RPC counts per message type and per user, and the RPCs queued for the nodes. A reset
(``sdiag -r``) is answered with ``parts_packed`` 0 and no counters.

24.11 adds the counts of each reason the main and the backfill scheduler stopped (u32 arrays after
the schedule depth and at the end of the counters) and, after the RPC counts per type, a u8 saying
whether slurmctld queues RPCs (then four more arrays per type). 26.05 (from 25.11) drops
``parts_packed`` (counters always) and sends the sum of the schedule cycles as a u64. 24.11 and 26.05
answer a reset with a bare return code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Self

from flurm.protocol.constants import SLURM_24_11_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION, MsgType
from flurm.protocol.messages.base import Message, register
from flurm.protocol.versions import NEWER
from flurm.protocol.wire import DecodeError, EncodeError, Reader, Writer

STAT_COMMAND_RESET = 0
STAT_COMMAND_GET = 1
# the reasons the main scheduler and backfill stop a cycle (SCHEDULE_EXIT_CNT, BF_EXIT_CNT): sdiag
# prints one line for each
SCHEDULE_EXITS = 6
BF_EXITS = 6


@register(MsgType.REQUEST_STATS_INFO)
@dataclass(frozen=True, slots=True)
class StatsInfoRequest(Message):
    """2035: u16 command (0 reset the counters, 1 get them); alike in 24.11 and 26.05."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    command_id: int = STAT_COMMAND_GET

    def pack(self, w: Writer, version: int) -> None:
        w.u16(self.command_id)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.u16())


@dataclass(frozen=True, slots=True)
class ControllerCounters:
    """pack_all_stat's part: the controller's own counters (times in seconds, cycles in microseconds)."""

    req_time: int = 0
    req_time_start: int = 0
    server_thread_count: int = 0
    agent_queue_size: int = 0
    agent_count: int = 0
    agent_thread_count: int = 0
    dbd_agent_queue_size: int = 0
    gettimeofday_latency: int = 0
    jobs_submitted: int = 0
    jobs_started: int = 0
    jobs_completed: int = 0
    jobs_canceled: int = 0
    jobs_failed: int = 0
    jobs_pending: int = 0
    jobs_running: int = 0
    job_states_ts: int = 0
    schedule_cycle_max: int = 0
    schedule_cycle_last: int = 0
    schedule_cycle_sum: int = 0
    schedule_cycle_counter: int = 0
    schedule_cycle_depth: int = 0
    schedule_queue_len: int = 0
    bf_backfilled_jobs: int = 0
    bf_last_backfilled_jobs: int = 0
    bf_cycle_counter: int = 0
    bf_cycle_sum: int = 0  # u64
    bf_cycle_last: int = 0
    bf_last_depth: int = 0
    bf_last_depth_try: int = 0
    bf_queue_len: int = 0
    bf_cycle_max: int = 0
    bf_when_last_cycle: int = 0
    bf_depth_sum: int = 0
    bf_depth_try_sum: int = 0
    bf_queue_len_sum: int = 0
    bf_table_size: int = 0
    bf_table_size_sum: int = 0
    bf_active: int = 0
    bf_backfilled_het_jobs: int = 0
    # 24.11 on: how often each reason ended a main / backfill scheduler cycle
    schedule_exit: tuple[int, ...] = (0,) * SCHEDULE_EXITS
    bf_exit: tuple[int, ...] = (0,) * BF_EXITS

    def pack(self, w: Writer, version: int) -> None:
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        w.time(self.req_time)
        w.time(self.req_time_start)
        for v in (
            self.server_thread_count,
            self.agent_queue_size,
            self.agent_count,
            self.agent_thread_count,
            self.dbd_agent_queue_size,
            self.gettimeofday_latency,
            self.jobs_submitted,
            self.jobs_started,
            self.jobs_completed,
            self.jobs_canceled,
            self.jobs_failed,
            self.jobs_pending,
            self.jobs_running,
        ):
            w.u32(_u32(v))
        w.time(self.job_states_ts)
        w.u32(_u32(self.schedule_cycle_max))
        w.u32(_u32(self.schedule_cycle_last))
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            w.u64(self.schedule_cycle_sum)
        else:
            w.u32(_u32(self.schedule_cycle_sum))
        w.u32(_u32(self.schedule_cycle_counter))
        w.u32(_u32(self.schedule_cycle_depth))
        if newer:
            w.u32_array([_u32(v) for v in self.schedule_exit])
        for v in (
            self.schedule_queue_len,
            self.bf_backfilled_jobs,
            self.bf_last_backfilled_jobs,
            self.bf_cycle_counter,
        ):
            w.u32(_u32(v))
        w.u64(self.bf_cycle_sum)
        for v in (
            self.bf_cycle_last,
            self.bf_last_depth,
            self.bf_last_depth_try,
            self.bf_queue_len,
            self.bf_cycle_max,
        ):
            w.u32(_u32(v))
        w.time(self.bf_when_last_cycle)
        for v in (
            self.bf_depth_sum,
            self.bf_depth_try_sum,
            self.bf_queue_len_sum,
            self.bf_table_size,
            self.bf_table_size_sum,
            self.bf_active,
            self.bf_backfilled_het_jobs,
        ):
            w.u32(_u32(v))
        if newer:
            w.u32_array([_u32(v) for v in self.bf_exit])

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        values: list[Any] = [r.time(), r.time()]  # in field order
        values += [r.u32() for _ in range(13)]
        values.append(r.time())  # job_states_ts
        values += [r.u32(), r.u32()]  # schedule_cycle_max, _last
        values.append(r.u64() if version >= SLURM_26_05_PROTOCOL_VERSION else r.u32())  # _sum
        values += [r.u32(), r.u32()]  # schedule_cycle_counter, _depth
        schedule_exit = tuple(r.u32_array()) if newer else (0,) * SCHEDULE_EXITS
        values += [r.u32() for _ in range(4)]
        values.append(r.u64())  # bf_cycle_sum
        values += [r.u32() for _ in range(5)]
        values.append(r.time())  # bf_when_last_cycle
        values += [r.u32() for _ in range(7)]
        bf_exit = tuple(r.u32_array()) if newer else (0,) * BF_EXITS
        return replace(cls(*values), schedule_exit=schedule_exit, bf_exit=bf_exit)


@dataclass(frozen=True, slots=True)
class RpcCount:
    """One row of the RPC statistics: a message type or a user id, its count and total microseconds."""

    key: int
    count: int
    total_usec: int


@dataclass(frozen=True, slots=True)
class PendingRpc:
    """One RPC queued for nodes (sdiag's "Pending RPCs"): its type and hostlist."""

    msg_type: int
    hostlist: str


@dataclass(frozen=True, slots=True)
class RpcQueueStats:
    """24.11 on, when slurmctld queues RPCs (SlurmctldParameters=rpc_queue): per message type of
    ``by_type``, how many are queued, dropped, and handled in the last and the longest cycle."""

    queued: tuple[int, ...] = ()
    dropped: tuple[int, ...] = ()
    cycle_last: tuple[int, ...] = ()
    cycle_max: tuple[int, ...] = ()


@register(MsgType.RESPONSE_STATS_INFO)
@dataclass(frozen=True, slots=True)
class StatsInfoResponse(Message):
    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    counters: ControllerCounters | None = None  # None: a reset's answer (parts_packed 0; to 22.05)
    by_type: tuple[RpcCount, ...] = ()
    by_user: tuple[RpcCount, ...] = ()
    queued: tuple[RpcCount, ...] = ()  # RPCs waiting for nodes, per type
    pending: tuple[PendingRpc, ...] = field(default=())
    rpc_queue: RpcQueueStats | None = None  # 24.11 on: None, RPCs are not queued

    def pack(self, w: Writer, version: int) -> None:
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            if self.counters is None:
                raise EncodeError("RESPONSE_STATS_INFO of 26.05 always carries the counters")
        else:
            w.u32(1 if self.counters is not None else 0)
        if self.counters is not None:
            self.counters.pack(w, version)
        w.u32(len(self.by_type))
        w.u16_array([c.key for c in self.by_type])
        w.u32_array([_u32(c.count) for c in self.by_type])
        w.u64_array([c.total_usec for c in self.by_type])
        if version >= SLURM_24_11_PROTOCOL_VERSION:
            q = self.rpc_queue
            w.u8(1 if q is not None else 0)
            if q is not None:
                w.u16_array(q.queued)
                w.u64_array(q.dropped)
                w.u16_array(q.cycle_last)
                w.u16_array(q.cycle_max)
        w.u32(len(self.by_user))
        w.u32_array([c.key for c in self.by_user])
        w.u32_array([_u32(c.count) for c in self.by_user])
        w.u64_array([c.total_usec for c in self.by_user])
        w.u32_array([c.key for c in self.queued])
        w.u32_array([_u32(c.count) for c in self.queued])
        w.u32_array([p.msg_type for p in self.pending])
        w.string_array([p.hostlist for p in self.pending])

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            counters: ControllerCounters | None = ControllerCounters.unpack(r, version)
        else:
            counters = ControllerCounters.unpack(r, version) if r.u32() else None
        r.u32()  # rpc_type_size: the arrays carry their own counts
        type_ids, type_counts, type_times = r.u16_array(), r.u32_array(), r.u64_array()
        rpc_queue = None
        if version >= SLURM_24_11_PROTOCOL_VERSION and r.u8():
            rpc_queue = RpcQueueStats(
                tuple(r.u16_array()), tuple(r.u64_array()), tuple(r.u16_array()), tuple(r.u16_array())
            )
        r.u32()
        user_ids, user_counts, user_times = r.u32_array(), r.u32_array(), r.u64_array()
        queue_types, queue_counts = r.u32_array(), r.u32_array()
        dump_types, dump_hosts = r.u32_array(), r.string_array()
        if len(queue_types) != len(queue_counts) or len(dump_types) != len(dump_hosts):
            raise DecodeError("RESPONSE_STATS_INFO: pending RPC arrays of different lengths")
        return cls(
            counters,
            _rows(type_ids, type_counts, type_times),
            _rows(user_ids, user_counts, user_times),
            tuple(RpcCount(t, c, 0) for t, c in zip(queue_types, queue_counts, strict=True)),
            tuple(PendingRpc(t, h) for t, h in zip(dump_types, dump_hosts, strict=True)),
            rpc_queue,
        )


def _rows(keys: list[int], counts: list[int], times: list[int]) -> tuple[RpcCount, ...]:
    if not len(keys) == len(counts) == len(times):
        raise DecodeError("RESPONSE_STATS_INFO: RPC statistics arrays of different lengths")
    return tuple(RpcCount(k, c, t) for k, c, t in zip(keys, counts, times, strict=True))


def _u32(v: int) -> int:
    """A counter as slurmctld's uint32 holds it (it wraps)."""
    return v & 0xFFFFFFFF
