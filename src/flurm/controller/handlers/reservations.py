"""Advanced reservations: scontrol show/create/update/delete reservation, sinfo -T."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flurm.controller import reservations
from flurm.protocol.constants import MsgType, SlurmRC
from flurm.protocol.messages.reservations import (
    ReservationDesc,
    ReservationInfoRequest,
    ReservationInfoResponse,
    ReservationName,
)
from flurm.rpc.transport import Reply, Request, rc_reply

if TYPE_CHECKING:
    from flurm.controller.engine import Controller


def reservation_info(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, ReservationInfoRequest)
    cluster = ctl.cluster
    book = cluster.reservations
    if req.body.last_update and req.body.last_update - 1 >= book.last_update:
        return rc_reply(SlurmRC.SLURM_NO_CHANGE_IN_DATA)
    records = tuple(reservations.record(r, cluster) for r in book.items.values())
    return Reply(MsgType.RESPONSE_RESERVATION_INFO, ReservationInfoResponse(ctl.now(), records))


async def create_reservation(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, ReservationDesc)
    name = await reservations.create(ctl, req.body, req.uid)
    return Reply(MsgType.RESPONSE_CREATE_RESERVATION, ReservationName(name))


async def update_reservation(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, ReservationDesc)
    await reservations.update(ctl, req.body, req.uid)
    return rc_reply(0)


async def delete_reservation(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, ReservationName)
    await reservations.delete(ctl, req.body.name, req.uid)
    return rc_reply(0)


HANDLERS = {
    MsgType.REQUEST_RESERVATION_INFO: reservation_info,
    MsgType.REQUEST_CREATE_RESERVATION: create_reservation,
    MsgType.REQUEST_UPDATE_RESERVATION: update_reservation,
    MsgType.REQUEST_DELETE_RESERVATION: delete_reservation,
}
