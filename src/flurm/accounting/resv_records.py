"""The reservation records slurmctld 22.05 sends slurmdbd (reservation.c _post_resv_create, _post_resv_update,
_post_resv_delete), built from flurm's Reservation. Pure: times are arguments.

The record's ``tres_str`` is the reservation's CPU count ("1=<cpus>"), ``node_inx`` the nodes' indexes in
slurmdbd's node list of the cluster, and ``assocs`` the ids of the associations it admits (",2,3,"), which
come from the association cache (None without one). A floating reservation (TIME_FLOAT) is not recorded.
"""

from __future__ import annotations

from flurm.accounting.records import AcctCluster
from flurm.protocol.messages.dbd_conn import ReservationRec
from flurm.state.reservations import Reservation

_TRES_CPU = 1


def _tres(resv: Reservation) -> str | None:
    return f"{_TRES_CPU}={resv.cpu_cnt}" if resv.cpu_cnt else None


def added(resv: Reservation, cluster: str, acct: AcctCluster, assocs: str | None = None) -> ReservationRec:
    """DBD_ADD_RESV: everything the reservation is."""
    return ReservationRec(
        cluster=cluster,
        id=resv.resv_id,
        time_start=resv.start_time,
        name=resv.name,
        assocs=assocs,
        flags=resv.flags,
        nodes=resv.node_list,
        node_inx=acct.node_inx(resv.nodes),
        time_end=resv.end_time,
        tres_str=_tres(resv),
    )


def modified(
    resv: Reservation, previous_start: int, cluster: str, acct: AcctCluster, assocs: str | None = None
) -> ReservationRec:
    """DBD_MODIFY_RESV: as added but without the name, with the start it had before (start_time_prev)."""
    return ReservationRec(
        cluster=cluster,
        id=resv.resv_id,
        time_start=resv.start_time,
        assocs=assocs,
        flags=resv.flags,
        nodes=resv.node_list,
        node_inx=acct.node_inx(resv.nodes),
        time_end=resv.end_time,
        time_start_prev=previous_start,
        tres_str=_tres(resv),
    )


def removed(resv: Reservation, cluster: str, now: int) -> ReservationRec:
    """DBD_REMOVE_RESV: the id, name and start; ``now`` as its end and as the stamp slurmdbd deletes a
    reservation that never started by."""
    return ReservationRec(
        cluster=cluster,
        id=resv.resv_id,
        time_start=resv.start_time,
        name=resv.name,
        time_end=now,
        time_start_prev=now,
        tres_str=_tres(resv),
    )
