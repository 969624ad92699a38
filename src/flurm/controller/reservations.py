"""Advanced reservations on the controller: create, update, delete (operators only, as slurmctld's
_slurm_rpc_resv_* handlers), the records clients see, and what time changes (once a second: the
RESERVED/MAINT flags of nodes in an active reservation, recurring reservations rolling forward,
ended ones going away). The rules themselves are state/reservations.py's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flurm.errors import SlurmError
from flurm.protocol.constants import NodeStateFlag, SlurmRC
from flurm.protocol.messages.reservations import ReservationDesc, ReservationRecord
from flurm.protocol.wire import Bitmap
from flurm.scheduler import scheduler
from flurm.state.cluster import Cluster
from flurm.state.model import Job
from flurm.state.reservations import Reservation, clear_for_removed

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

_NODE_FLAGS = NodeStateFlag.RES | NodeStateFlag.MAINT


def record(resv: Reservation, cluster: Cluster) -> ReservationRecord:
    """The reservation as _pack_resv packs it for clients."""
    index = {n.name: n.index for n in cluster.node_list}
    bitmap = Bitmap.from_indexes(len(cluster.node_list), (index[n] for n in resv.nodes if n in index))
    over = resv.record_overrides
    return ReservationRecord(
        name=resv.name,
        accounts=resv.accounts,
        burst_buffer=resv.burst_buffer,
        core_cnt=int(over.get("core_cnt", resv.core_cnt)),
        end_time=resv.end_time,
        features=resv.features,
        flags=resv.flags,
        licenses=resv.licenses,
        max_start_delay=resv.max_start_delay,
        node_cnt=len(resv.nodes),
        node_list=resv.node_list,
        partition=resv.partition,
        purge_comp_time=resv.purge_comp_time,
        resv_watts=resv.resv_watts,
        start_time=resv.start_time,
        tres_fmt_str=over.get("tres_fmt_str", f"cpu={resv.cpu_cnt}" if resv.cpu_cnt else None),
        users=resv.users,
        groups=resv.groups,
        node_bitmap=bitmap if resv.nodes else None,
        comment=resv.comment,
    )


def _after_change(ctl: Controller) -> None:
    ctl.cluster.reservations_changed()
    apply_node_flags(ctl.cluster, ctl.now())
    scheduler.request_pass(ctl.cluster)
    ctl.schedule_soon()


async def create(ctl: Controller, desc: ReservationDesc, uid: int) -> str:
    if not ctl.is_admin(uid):
        raise SlurmError(SlurmRC.ESLURM_USER_ID_MISSING)
    resv = ctl.cluster.reservations.create(desc, ctl.cluster, ctl.now())
    ctl.accounting.reservation_added(resv)  # _post_resv_create
    _after_change(ctl)
    await ctl.durable()
    return resv.name


async def update(ctl: Controller, desc: ReservationDesc, uid: int) -> None:
    if not ctl.is_admin(uid):
        # a user may only skip a recurring reservation, and only with SlurmctldParameters=user_resv_delete
        # and associations (which flurm has not): refused like slurmctld without them
        raise SlurmError(SlurmRC.ESLURM_USER_ID_MISSING)
    before = ctl.cluster.reservations.items.get(desc.name or "")
    resv = ctl.cluster.reservations.update(desc, ctl.cluster, ctl.now())
    ctl.accounting.reservation_modified(resv, before.start_time if before else resv.start_time)
    _after_change(ctl)
    await ctl.durable()


async def delete(ctl: Controller, name: str | None, uid: int) -> None:
    if not ctl.is_admin(uid):
        raise SlurmError(SlurmRC.ESLURM_USER_ID_MISSING)
    if not name:
        raise SlurmError(SlurmRC.ESLURM_INVALID_PARTITION_NAME)
    cluster = ctl.cluster
    resv = cluster.reservations.items.get(name)
    jobs = cluster.reservations.delete(name, cluster, ctl.now())
    assert resv is not None
    ctl.accounting.reservation_removed(resv)  # _post_resv_delete
    _release_jobs(cluster, resv, jobs)
    _after_change(ctl)
    await ctl.durable()


def _release_jobs(cluster: Cluster, resv: Reservation, jobs: list[Job]) -> None:
    for job in jobs:
        clear_for_removed(job, resv)
        cluster.job_changed(job)


def apply_node_flags(cluster: Cluster, now: int) -> bool:
    """set_node_maint_mode: RESERVED (and MAINT) on the nodes of active reservations, off elsewhere.
    True when a node changed."""
    wanted = cluster.reservations.node_flags(now)
    names = cluster.reservations.node_names(now)
    changed = False
    for node in cluster.node_list:
        bits, name = wanted.get(node.name, 0), names.get(node.name)
        if node.flags & _NODE_FLAGS != bits or node.resv_name != name:
            node.flags = (node.flags & ~_NODE_FLAGS) | bits
            node.resv_name = name
            changed = True
    if changed:
        cluster.last_node_update = now
    return changed


def tick(ctl: Controller, now: int) -> None:
    """What time alone changes (job_resv_check, set_node_maint_mode)."""
    cluster = ctl.cluster
    book = cluster.reservations
    if not book.items and not book.changed and not book.removed:
        return
    for resv, jobs in book.check(cluster, now):
        _release_jobs(cluster, resv, jobs)
    started = any(r.start_time == now for r in book.items.values())
    if apply_node_flags(cluster, now) or started:
        scheduler.request_pass(cluster)  # a reservation started or ended: jobs may start
    if book.changed or book.removed:
        cluster.reservations_changed()
