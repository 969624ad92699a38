"""What flurm tells slurmdbd of reservations, associations included (slurmdbd charges a reservation's
idle time to them), against slurmctld 22.05's own records (tests/golden/dbd/22.05: r1 on compute-node-1
for user root, created, lengthened by an hour, deleted before it began)."""

from __future__ import annotations

import dataclasses
import functools
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_accounting_sink import ACCT, CONF, _controller
from test_assoc_policy import loaded, updated
from test_codec_dbd_conn import _all_sent

from flurm.accounting import resv_records
from flurm.accounting.client import SPOOL_VERSION, in_version
from flurm.accounting.sink import DbdAccounting
from flurm.controller.engine import Controller
from flurm.modes import TRAITS, Mode
from flurm.protocol.dbd_types import DbdMsgType
from flurm.protocol.messages.dbd_conn import DBD_CONN_BODIES, ReservationRec
from flurm.protocol.messages.dbd_jobs import decode_dbd_msg
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
        assert acct is not None and acct.resv_assocs_of is not None  # daemon.py wires it
        # slurmdbd's answers in the capture: root's association is 2
        acct.resv_assocs_of = functools.partial(resv_records.assocs, cache=loaded())
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
    # as sent to a 22.05 slurmdbd (the spool keeps the newest layout)
    sent = [in_version(r, SPOOL_VERSION, 0x2600) for r in acct.spool.head(10, 1 << 20)]
    assert sent == [add, mod, rm]


def test_a_reservation_s_associations_as_set_assoc_list_writes_them() -> None:
    cache = updated()
    root = Reservation("r", 1, 0, 60, users="root", user_ids=(0,))
    assert resv_records.assocs(root, cache) == ",2,"
    assert resv_records.assocs(dataclasses.replace(root, user_not=True), cache) == ",-2,"
    by_acct = Reservation("a", 2, 0, 60, accounts="root", account_list=("root",))
    assert resv_records.assocs(by_acct, cache) == ",1,"
    assert resv_records.assocs(Reservation("n", 3, 0, 60, users="x", user_ids=(4242,)), cache) is None
