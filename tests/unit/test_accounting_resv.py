"""What flurm tells slurmdbd of reservations, and which association, QOS and reservation a job's records
name, against slurmctld 22.05's own records (tests/golden/dbd/22.05: r1 on compute-node-1 for user root,
created, lengthened by an hour, deleted before it began)."""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_accounting_sink import ACCT, CONF, _controller
from test_assoc_policy import NOBODY, STRANGER, job, loaded, updated
from test_codec_dbd_conn import _all_sent

from flurm.accounting import records
from flurm.accounting.policy import Policy
from flurm.accounting.sink import DbdAccounting
from flurm.controller.engine import Controller
from flurm.modes import TRAITS, Mode
from flurm.protocol.dbd_types import DbdMsgType
from flurm.protocol.messages.dbd_conn import DBD_CONN_BODIES, ReservationRec
from flurm.protocol.messages.dbd_jobs import DbdJobStart, decode_dbd_msg
from flurm.state.model import Job
from flurm.state.reservations import Reservation

RESV_TYPES = (DbdMsgType.DBD_ADD_RESV, DbdMsgType.DBD_MODIFY_RESV, DbdMsgType.DBD_REMOVE_RESV)


def golden_resvs() -> list[tuple[int, bytes]]:
    """slurmctld's reservation records, out of the DBD_SEND_MULT_MSG batches that carry them."""
    return [
        (struct.unpack_from(">H", m)[0], m)
        for m in _all_sent()
        if struct.unpack_from(">H", m)[0] in RESV_TYPES
    ]


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[tuple[Controller, DbdAccounting]]:
    for daemon, ctl in _controller(tmp_path, CONF + ACCT):
        acct = daemon.accounting
        assert acct is not None and acct.cache is not None  # loaded whatever is enforced
        acct.cache = loaded()  # slurmdbd's answers in the capture: root's association is 2
        acct.follow_mode(TRAITS[Mode.STANDALONE])
        yield ctl, acct


def test_reservation_records_are_slurmctld_s_byte_for_byte(fed: tuple[Controller, DbdAccounting]) -> None:
    _, acct = fed
    (add_t, add), (mod_t, mod), (rm_t, rm) = golden_resvs()
    assert (add_t, mod_t, rm_t) == RESV_TYPES
    first = decode_dbd_msg(add, 0x2600, DBD_CONN_BODIES)[1]
    gone = decode_dbd_msg(rm, 0x2600, DBD_CONN_BODIES)[1]
    longer = decode_dbd_msg(mod, 0x2600, DBD_CONN_BODIES)[1]
    assert isinstance(first, ReservationRec) and isinstance(gone, ReservationRec)
    assert isinstance(longer, ReservationRec)
    resv = Reservation(
        "r1", 1, first.time_start, first.time_end, flags=first.flags, nodes=("compute-node-1",),
        node_list="compute-node-1", users="root", user_ids=(0,), cpu_cnt=2,
    )  # fmt: skip
    acct.reservation_added(resv)
    acct.reservation_modified(dataclasses.replace(resv, end_time=longer.time_end), resv.start_time)
    acct.ctl.now = lambda: gone.time_end  # type: ignore[method-assign]  # the moment of the delete
    acct.reservation_removed(resv)
    assert acct.spool.head(10, 1 << 20) == [add, mod, rm]


def test_a_reservation_s_associations_as_set_assoc_list_writes_them() -> None:
    cache = updated()
    root = Reservation("r", 1, 0, 60, users="root", user_ids=(0,))
    assert records.resv_assocs(root, cache) == ",2,"
    assert records.resv_assocs(dataclasses.replace(root, user_not=True), cache) == ",-2,"
    by_acct = Reservation("a", 2, 0, 60, accounts="root", account_list=("root",))
    assert records.resv_assocs(by_acct, cache) == ",1,"
    assert records.resv_assocs(Reservation("n", 3, 0, 60, users="x", user_ids=(4242,)), cache) is None
    assert records.resv_tres(Reservation("c", 4, 0, 60, cpu_cnt=6)) == "1=6"


def jobs(acct: DbdAccounting) -> list[tuple[int, object]]:
    return [decode_dbd_msg(m, 0x2600) for m in acct.spool.head(1000, 1 << 30)]


def test_job_records_name_its_association_qos_and_reservation(fed: tuple[Controller, DbdAccounting]) -> None:
    ctl, acct = fed
    ctl.cluster.reservations.items["r1"] = Reservation("r1", 7, 0, 60)
    j = Job(5, "j", 0, 0, "debug", account="root", qos="normal", reservation="r1")
    acct.job_eligible(j)
    t, start = jobs(acct)[-1]
    assert t == DbdMsgType.DBD_JOB_START and isinstance(start, DbdJobStart)
    assert (start.assoc_id, start.qos_id, start.resv_id) == (2, 1, 7)
    # a user slurmdbd does not know: no association, as slurmctld records it
    acct.job_eligible(Job(6, "j", 4242, 4242, "debug"))
    last = jobs(acct)[-1][1]
    assert isinstance(last, DbdJobStart) and (last.assoc_id, last.qos_id, last.resv_id) == (0, 0, 0)


def test_without_enforcement_a_job_is_still_charged_to_its_association() -> None:
    """slurmctld fills the account and QOS from the association whatever AccountingStorageEnforce
    says; it refuses nothing for it."""
    p = Policy(updated(), 0)
    j = job(NOBODY)
    p.submit(j, [])
    assert (j.account, j.qos) == ("child", "normal")
    stranger = job(STRANGER)
    p.submit(stranger, [])
    assert (stranger.account, stranger.qos) == (None, None)
