"""The reservation records slurmctld 22.05 sends slurmdbd (reservation.c _post_resv_create, _post_resv_update,
_post_resv_delete), built from flurm's Reservation. Pure: times are arguments.

The record's ``tres_str`` is the reservation's CPU count ("1=<cpus>"), ``node_inx`` the nodes' indexes in
slurmdbd's node list of the cluster, and ``assocs`` the ids of the associations it admits (",2,3,"), which
come from the association cache (None without one). A floating reservation (TIME_FLOAT) is not recorded.
"""

from __future__ import annotations

from flurm.accounting.assoc_cache import AssocCache
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


def assocs(resv: Reservation, cache: AssocCache) -> str | None:
    """The associations a reservation lets in (",2,3,") or keeps out (",-2,"), as _set_assoc_list
    writes them: with users and accounts, each user's association in each account; with users, all of
    each user's associations; with accounts, each account's own. Ones slurmdbd does not know are left
    out. slurmdbd's rollup charges a reservation's idle time to these."""
    allow: list[int] = []
    deny: list[int] = []
    users, accts = resv.user_ids, resv.account_list
    if users and accts and not (resv.user_not or resv.account_not):
        for uid in users:
            for acct in accts:
                a = cache.find(uid, acct, None)
                allow += [a.id] if a is not None else []
    else:
        (deny if resv.user_not else allow).extend(
            a.id for uid in users for a in cache.assocs.values() if a.uid == uid
        )
        (deny if resv.account_not else allow).extend(
            a.id for acct in accts for a in cache.assocs.values() if a.acct == acct and a.user is None
        )
    ids = [str(i) for i in allow] + [f"-{i}" for i in deny]
    return "," + ",".join(ids) + "," if ids else None
