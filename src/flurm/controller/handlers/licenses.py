"""License information for ``scontrol show licenses``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flurm.protocol.constants import MsgType
from flurm.protocol.messages.licenses import LicenseInfoRequest, LicenseInfoResponse, LicenseRecord
from flurm.rpc.transport import Reply, Request
from flurm.state import licenses

if TYPE_CHECKING:
    from flurm.controller.engine import Controller


def license_info(ctl: Controller, req: Request) -> Reply:
    """Every configured license with what the running and completing jobs hold of it. Always the
    full list: slurmctld's "no change" answer would need the time of the last change, and the list is
    short."""
    assert isinstance(req.body, LicenseInfoRequest)
    cluster = ctl.cluster
    states = licenses.report(licenses.configured(cluster.config.licenses), cluster.jobs.values())
    records = tuple(LicenseRecord(s.name, s.total, s.used) for s in states)
    return Reply(MsgType.RESPONSE_LICENSE_INFO, LicenseInfoResponse(ctl.now(), records))


HANDLERS = {MsgType.REQUEST_LICENSE_INFO: license_info}
