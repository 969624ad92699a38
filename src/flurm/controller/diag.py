"""What sdiag shows: the controller's counters, kept as slurmctld keeps its ``slurmctld_diag_stats``.

The RPC server reports every request it served (:meth:`DiagStats.observe_rpc`, its ``on_request``
hook), the scheduler every pass that ran a cycle (:meth:`DiagStats.observe_pass`), and the job
operations the jobs they submitted, started, completed, cancelled or saw fail (:meth:`DiagStats.count`).
A reset (``sdiag -r``) clears them as slurmctld's reset_stats(1) and _clear_rpc_stats() do; the
jobs pending and running are counted every 30 s by the controller's ticker (:meth:`DiagStats.tick`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flurm.protocol.messages.stats import ControllerCounters, RpcCount, StatsInfoResponse
from flurm.scheduler.scheduler import CycleCounts
from flurm.state.model import Job

ROOT_UID = 0
JOB_COUNT_INTERVAL = 30  # seconds between two counts of pending and running jobs (slurmctld's)
# rows kept per message type and per user (slurmctld's RPC_TYPE_SIZE, RPC_USER_SIZE): beyond them a
# request is not counted, so no caller can make the tables grow without bound
RPC_TYPE_SIZE = 200
RPC_USER_SIZE = 200


@dataclass(slots=True)
class _Row:
    count: int = 0
    usec: int = 0


@dataclass(slots=True)
class JobCounts:
    submitted: int = 0
    started: int = 0
    completed: int = 0
    canceled: int = 0
    failed: int = 0


@dataclass(slots=True)
class CycleStats:
    """The main scheduler's and the backfill scheduler's cycle counters (microseconds)."""

    last: int = 0
    max: int = 0
    total: int = 0
    count: int = 0
    depth_sum: int = 0
    queue_len: int = 0
    bf_backfilled_jobs: int = 0  # since the start (only an explicit reset clears it)
    bf_last_backfilled_jobs: int = 0
    bf_count: int = 0
    bf_total: int = 0
    bf_last: int = 0
    bf_max: int = 0
    bf_last_depth: int = 0
    bf_depth_sum: int = 0
    bf_queue_len: int = 0
    bf_queue_len_sum: int = 0
    bf_when_last: int = 0


def gettimeofday_latency() -> int:
    """Microseconds 1000 reads of the wall clock take (slurmctld measures gettimeofday the same way)."""
    started = time.perf_counter()
    for _ in range(1000):
        time.time()
    return int((time.perf_counter() - started) * 1e6)


class DiagStats:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.since = int(clock())
        self.jobs = JobCounts()
        self.cycles = CycleStats()
        self.latency = gettimeofday_latency()
        self._by_type: dict[int, _Row] = {}
        self._by_user: dict[int, _Row] = {ROOT_UID: _Row()}  # slurmctld keeps root's row first, always
        self.jobs_pending = 0
        self.jobs_running = 0
        self.job_states_ts = 0  # when they were counted (0: not yet)

    # -- what is reported --------------------------------------------------------------------------
    def observe_rpc(self, msg_type: int, uid: int, seconds: float, ok: bool) -> None:
        usec = int(seconds * 1e6)
        for table, key, size in (
            (self._by_type, msg_type, RPC_TYPE_SIZE),
            (self._by_user, uid, RPC_USER_SIZE),
        ):
            row = table.get(key)
            if row is None:
                if len(table) >= size:
                    continue
                row = table[key] = _Row()
            row.count += 1
            row.usec += usec

    def observe_pass(self, counts: CycleCounts, seconds: float) -> None:
        """A scheduling pass that ran a main cycle, a backfill cycle or both; ``seconds`` is the pass's."""
        c = self.cycles
        usec = int(seconds * 1e6)
        if counts.main:
            c.last = usec
            c.max = max(c.max, usec)
            c.total += usec
            c.count += 1
            c.depth_sum += counts.depth
            c.queue_len = counts.queue_len
        if counts.backfill:
            c.bf_count += 1
            c.bf_last = usec
            c.bf_max = max(c.bf_max, usec)
            c.bf_total += usec
            c.bf_last_depth = counts.bf_depth
            c.bf_depth_sum += counts.bf_depth
            c.bf_queue_len = counts.bf_queue_len
            c.bf_queue_len_sum += counts.bf_queue_len
            c.bf_when_last = int(self.clock())
            c.bf_backfilled_jobs += counts.backfilled
            c.bf_last_backfilled_jobs += counts.backfilled

    def count(self, what: str, n: int = 1) -> None:
        """A job event: ``submitted``, ``started``, ``completed``, ``canceled`` or ``failed``."""
        setattr(self.jobs, what, getattr(self.jobs, what) + n)

    def tick(self, now: int, jobs: Iterable[Job]) -> None:
        """Count the pending and running jobs again once JOB_COUNT_INTERVAL has passed (slurmctld
        counts them in its background loop, and sdiag shows that count with its time)."""
        if self.job_states_ts and now - self.job_states_ts < JOB_COUNT_INTERVAL:
            return
        pending = running = 0
        for job in jobs:
            if job.is_pending():
                pending += len(job.array_task_pending) if job.is_array_meta() else 1
            elif job.is_running():
                running += 1
        self.jobs_pending, self.jobs_running, self.job_states_ts = pending, running, now

    def reset(self) -> None:
        """``sdiag -r``: every counter, the backfilled jobs since the start too (slurmctld's
        reset_stats(1) and _clear_rpc_stats())."""
        self.since = int(self.clock())
        self.jobs = JobCounts()
        self.cycles = CycleStats()
        self._by_type = {}
        self._by_user = {ROOT_UID: _Row()}

    # -- the answer --------------------------------------------------------------------------------
    def response(self, server_threads: int) -> StatsInfoResponse:
        now = int(self.clock())
        c, j = self.cycles, self.jobs
        counters = ControllerCounters(
            req_time=now,
            req_time_start=self.since,
            server_thread_count=server_threads,
            gettimeofday_latency=self.latency,
            jobs_submitted=j.submitted,
            jobs_started=j.started,
            jobs_completed=j.completed,
            jobs_canceled=j.canceled,
            jobs_failed=j.failed,
            jobs_pending=self.jobs_pending,
            jobs_running=self.jobs_running,
            job_states_ts=self.job_states_ts,
            schedule_cycle_max=c.max,
            schedule_cycle_last=c.last,
            schedule_cycle_sum=c.total,
            schedule_cycle_counter=c.count,
            schedule_cycle_depth=c.depth_sum,
            schedule_queue_len=c.queue_len,
            bf_backfilled_jobs=c.bf_backfilled_jobs,
            bf_last_backfilled_jobs=c.bf_last_backfilled_jobs,
            bf_cycle_counter=c.bf_count,
            bf_cycle_sum=c.bf_total,
            bf_cycle_last=c.bf_last,
            bf_last_depth=c.bf_last_depth,
            bf_last_depth_try=c.bf_last_depth,
            bf_queue_len=c.bf_queue_len,
            bf_cycle_max=c.bf_max,
            bf_when_last_cycle=c.bf_when_last,
            bf_depth_sum=c.bf_depth_sum,
            bf_depth_try_sum=c.bf_depth_sum,
            bf_queue_len_sum=c.bf_queue_len_sum,
        )
        return StatsInfoResponse(counters, *self.rpc_rows())

    def reset_response(self) -> StatsInfoResponse:
        """The answer to a reset: no counters, the (just cleared) RPC rows."""
        return StatsInfoResponse(None, *self.rpc_rows())

    def rpc_rows(self) -> tuple[tuple[RpcCount, ...], tuple[RpcCount, ...]]:
        """Per message type and per user, in the order first seen (root first), as slurmctld packs them."""
        return (
            tuple(RpcCount(k, r.count, r.usec) for k, r in self._by_type.items()),
            tuple(RpcCount(k, r.count, r.usec) for k, r in self._by_user.items()),
        )
