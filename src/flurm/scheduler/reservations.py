"""What advanced reservations mean for one job's placement (slurmctld's job_test_resv and the reasons
node_scheduler.c derives from it).

* A job that asked for a reservation runs only inside it: on its nodes (less the nodes of another
  reservation overlapping in time, unless its own is MAINT), between its start and end. Before the
  start it waits with reason ``Reservation``.
* Any other job never uses the nodes of a reservation whose window meets the job's run
  [start, start + time limit). A MAINT reservation over all of its partition's nodes (or an
  ALL_NODES one, or a PART_NODES one of its partition) stops it with ``ReqNodeNotAvail, Reserved
  for maintenance``.

Pure: the caller passes the window; :func:`fence` says which nodes are off limits, or why the job
cannot start at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from flurm.protocol.constants import JobStateReason
from flurm.protocol.messages.reservations import ReserveFlag
from flurm.state.cluster import Cluster
from flurm.state.model import Job, Partition
from flurm.state.reservations import MAINT_DESC, may_use

F = ReserveFlag
R = JobStateReason
MAY_BE_RESERVED = "ReqNodeNotAvail, May be reserved for other job"


@dataclass(frozen=True, slots=True)
class Fence:
    """``exclude``: nodes the job may not use in the window. ``reason``/``desc``: the job cannot
    start now (its pending reason). ``resv``: the reservation the job runs in (None: none);
    ``overlap``: a reservation took nodes of the job's partition."""

    exclude: frozenset[str] = frozenset()
    reason: int = 0
    desc: str | None = None
    resv: str | None = None
    overlap: bool = False


OPEN = Fence()


def fence(job: Job, part: Partition, cluster: Cluster, start: int, end: int) -> Fence:
    """The reservation rules for ``job`` running in ``part`` over [start, end)."""
    book = cluster.reservations.items
    if job.reservation:
        return _inside(job, part, cluster, start, end)
    if not book:
        return OPEN
    exclude: set[str] = set()
    overlap = False
    part_nodes = set(part.nodes)
    for resv in book.values():
        if not resv.nodes or not resv.overlaps(start, end):
            continue
        if (
            resv.flags & F.ALL_NODES
            or (resv.flags & F.PART_NODES and resv.partition == part.name)
            or (resv.flags & F.MAINT and part_nodes <= set(resv.nodes))
        ):
            return Fence(reason=R.WAIT_NODE_NOT_AVAIL, desc=MAINT_DESC)
        exclude.update(resv.nodes)
        if not part_nodes.isdisjoint(resv.nodes):
            overlap = True
    return Fence(frozenset(exclude), overlap=overlap)


def _inside(job: Job, part: Partition, cluster: Cluster, start: int, end: int) -> Fence:
    book = cluster.reservations.items
    name = (job.reservation or "").split(",")[0]
    resv = book.get(name)
    if resv is None or not may_use(resv, job.user_id, job.account):
        return Fence(reason=R.WAIT_RESERVATION, resv=name)
    if resv.flags & F.FLEX:
        allowed = {n.name for n in cluster.node_list}
    elif start < resv.start_time or start > resv.end_time or not resv.nodes:
        return Fence(reason=R.WAIT_RESERVATION, resv=name)
    else:
        allowed = set(resv.nodes)
    overlap = False
    for other in book.values():
        if (
            resv.flags & F.MAINT
            or (resv.flags & F.OVERLAP and not other.flags & F.MAINT)
            or other is resv
            or not other.nodes
            or not other.overlaps(start, end)
        ):
            continue
        if not allowed.isdisjoint(other.nodes):
            overlap = True
            allowed.difference_update(other.nodes)
    if overlap and not allowed:
        return Fence(reason=R.WAIT_NODE_NOT_AVAIL, desc=MAINT_DESC, resv=name)
    return Fence(frozenset(n for n in part.nodes if n not in allowed), resv=name)


def resv_first(job: Job) -> int:
    """Sort key part: jobs in a reservation come before the others (sort_job_queue2)."""
    return 0 if job.reservation else 1
