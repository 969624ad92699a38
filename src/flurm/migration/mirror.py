"""The mirror: flurm's copy of slurmctld's jobs, nodes, partitions and reservations, kept in step by deltas.

Each pass asks slurmctld for jobs, nodes and partitions with the ``last_update`` of the previous
answer, so an unchanged table costs one small round trip. A changed table arrives whole (slurmctld
has no per-object delta); records equal to the ones seen before are skipped, new and changed ones are
converted, vanished ones removed. Passes run back to back with a short pause, and on demand (after a
write flurm forwarded, so that a client sees its own change at once).

Every answer is read in the source's release (SourceClient.release, learned before the first pass):
the job table is cut and decoded in that version's layout, as are nodes, partitions and reservations
(by the transport, in the version the reply came in). A table whose codec does not speak that release
fails the pass with SLURM_PROTOCOL_VERSION_ERROR's message naming it, never a guess.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flurm.migration.importer import (
    apply_node_record,
    apply_partition_record,
    job_from_record,
    partition_from_record,
    reservation_from_record,
)
from flurm.migration.source import SourceClient, SourceUnreachable, UnsupportedSource
from flurm.protocol.messages.job_info import decode_job_record, split_job_info
from flurm.protocol.messages.nodes import NodeRecord
from flurm.protocol.messages.partitions import PartitionRecord
from flurm.protocol.versions import VersionError

if TYPE_CHECKING:
    from flurm.controller.ports import ControllerPort

log = logging.getLogger("flurm.mirror")


@dataclass
class SyncStats:
    passes: int = 0
    full_imports: int = 0
    jobs_new: int = 0
    jobs_changed: int = 0
    jobs_vanished: int = 0
    nodes_changed: int = 0
    partitions_changed: int = 0
    last_pass_seconds: float = 0.0
    last_success: float = 0.0  # wall clock of the last pass that reached slurmctld
    # wall clock at which that pass sent its first request: what slurmctld had by then is mirrored
    last_success_began: float = 0.0
    last_error: str | None = None
    errors: int = 0
    history: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ImportCounts:
    jobs: int
    nodes: int
    partitions: int
    new: int
    changed: int
    vanished: int
    seconds: float


class Mirror:
    def __init__(
        self,
        ctl: ControllerPort,
        source: SourceClient,
        *,
        interval: float = 0.2,
    ) -> None:
        self.ctl = ctl
        self.cluster = ctl.cluster
        self.source = source
        self.interval = interval
        self.stats = SyncStats()
        self._job_update = 0
        self._node_update = 0
        self._part_update = 0
        self._resv_update = 0
        self._seen_jobs: dict[int, bytes] = {}  # each job's record as last seen
        self._seen_nodes: dict[str, NodeRecord] = {}
        self._seen_parts: dict[str, PartitionRecord] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self.highest_job_id = 0
        self.version: int | None = None  # the source's protocol version the last pass read

    # -- one pass ---------------------------------------------------------------------------------
    async def sync(self, *, full: bool = False) -> ImportCounts:
        """One pass; ``full`` ignores last_update and re-reads everything."""
        async with self._lock:
            return await self._sync(full)

    async def _sync(self, full: bool) -> ImportCounts:
        began = self.ctl.clock()
        started = time.perf_counter()
        if full:
            self._job_update = self._node_update = self._part_update = self._resv_update = 0
            self._seen_jobs.clear()
            self._seen_nodes.clear()
            self._seen_parts.clear()
        try:
            version = await self.source.release()
            if version != self.version:  # another release (first pass, or an upgraded source)
                self.version = version
                self._seen_jobs.clear()
                self._seen_nodes.clear()
                self._seen_parts.clear()
            parts = await self.source.partitions(self._part_update)
            nodes = await self.source.nodes(self._node_update)
            jobs = await self.source.jobs_raw(self._job_update)
            resvs = await self.source.reservations(self._resv_update)
        except (SourceUnreachable, UnsupportedSource, VersionError, OSError, TimeoutError) as exc:
            self.stats.errors += 1
            self.stats.last_error = str(exc)
            raise
        new = changed = vanished = 0
        if parts is not None:
            self._part_update = parts.last_update
            self._apply_partitions(parts.partitions)
        if nodes is not None:
            self._node_update = nodes.last_update
            self._apply_nodes(nodes.nodes)
        if resvs is not None:
            self._resv_update = resvs.last_update
            cluster = self.cluster
            cluster.reservations.replace_all(
                (reservation_from_record(r, cluster) for r in resvs.records), self.ctl.now()
            )
            cluster.reservations_changed()
        if jobs is not None:
            try:
                last_update, _, records = split_job_info(jobs, version)
            except VersionError as exc:  # no job codec of the source's release
                self.stats.errors += 1
                self.stats.last_error = str(exc)
                raise
            self._job_update = last_update
            new, changed, vanished = self._apply_jobs(records, version)
        elapsed = time.perf_counter() - started
        st = self.stats
        st.passes += 1
        st.full_imports += 1 if full else 0
        st.jobs_new += new
        st.jobs_changed += changed
        st.jobs_vanished += vanished
        st.last_pass_seconds = elapsed
        st.last_success = self.ctl.clock()
        st.last_success_began = began
        st.last_error = None
        return ImportCounts(
            len(self._seen_jobs),
            len(self._seen_nodes),
            len(self._seen_parts),
            new,
            changed,
            vanished,
            elapsed,
        )

    def _apply_jobs(self, records: list[tuple[int, bytes]], version: int) -> tuple[int, int, int]:
        """Records are compared as bytes; only new or changed ones are decoded and converted."""
        cluster = self.cluster
        new = changed = 0
        present: set[int] = set()
        for job_id, raw in records:
            present.add(job_id)
            if job_id > self.highest_job_id:
                self.highest_job_id = job_id
            if self._seen_jobs.get(job_id) == raw and job_id in cluster.jobs:
                continue
            self._seen_jobs[job_id] = raw
            job = job_from_record(decode_job_record(raw, version), cluster, version)
            if job_id in cluster.jobs:
                changed += 1
            else:
                new += 1
            cluster.jobs[job_id] = job
            cluster.job_changed(job, by_flurm=False)
        gone = [jid for jid in cluster.jobs if jid not in present]
        for jid in gone:
            cluster.remove_job(jid)
            self._seen_jobs.pop(jid, None)
        order = [job_id for job_id, _ in records]
        if list(cluster.jobs) != order:
            # keep slurmctld's record order (scontrol show job prints in it)
            cluster.jobs = {jid: cluster.jobs[jid] for jid in order}
        # ... and flurm answers in list_seq order: an array task split off later than its meta record
        # comes after it in slurmctld's list, whatever the job ids say
        for seq, job in enumerate(cluster.jobs.values(), 1):
            job.list_seq = seq
        return new, changed, len(gone)

    def _apply_nodes(self, recs: tuple[NodeRecord, ...]) -> None:
        for rec in recs:
            if not rec.name:
                continue
            if self._seen_nodes.get(rec.name) == rec:
                continue
            node = self.cluster.nodes.get(rec.name)
            if node is None:
                log.warning("slurmctld reports node %s, which is not in flurm's slurm.conf", rec.name)
                continue
            self._seen_nodes[rec.name] = rec
            apply_node_record(node, rec)
            self.stats.nodes_changed += 1
        self.cluster.last_node_update = self.ctl.now()

    def _apply_partitions(self, recs: tuple[PartitionRecord, ...]) -> None:
        cluster = self.cluster
        changed = False
        for rec in recs:
            if not rec.name or self._seen_parts.get(rec.name) == rec:
                continue
            self._seen_parts[rec.name] = rec
            part = cluster.partitions.get(rec.name)
            if part is None:
                cluster.partitions[rec.name] = partition_from_record(rec, cluster)
            else:
                apply_partition_record(part, rec, cluster)
            if rec.flags & 0x1:
                cluster.default_partition = rec.name
            self.stats.partitions_changed += 1
            changed = True
        cluster.last_part_update = self.ctl.now()
        if changed:
            # job records show partition limits (a job without its own time limit shows MaxTime)
            for job in cluster.jobs.values():
                job.touch()
            cluster.job_generation += 1

    # -- the loop ---------------------------------------------------------------------------------
    def poke(self) -> None:
        """Run a pass now (after a forwarded write)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sync()
            except (SourceUnreachable, OSError, TimeoutError) as exc:
                log.warning("mirror: slurmctld unreachable: %s", exc)
            except (UnsupportedSource, VersionError) as exc:
                log.error("mirror: cannot read slurmctld: %s", exc)
            except Exception:
                log.exception("mirror pass failed")
                self.stats.errors += 1
            # pause at least the interval, longer when a pass is expensive (big queues)
            pause = max(self.interval, self.stats.last_pass_seconds)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    def age(self) -> float | None:
        """Seconds since the last pass that reached slurmctld (None before the first)."""
        if not self.stats.last_success:
            return None
        return max(0.0, self.ctl.clock() - self.stats.last_success)

    def in_sync(self, max_age: float = 2.0) -> bool:
        age = self.age()
        return age is not None and age <= max_age and self.stats.last_error is None
