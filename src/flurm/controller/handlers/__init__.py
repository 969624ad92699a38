"""Request handlers, one module per family; HANDLERS maps a message type to its handler.

A handler takes the controller and the request and returns the reply (or None when the message
gets none). It decodes nothing and encodes nothing itself: protocol/ did and will.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flurm.controller.handlers import (
    admin,
    admin_ctl,
    config,
    configless,
    diag,
    dynamic,
    job_lookups,
    jobctl,
    jobs,
    licenses,
    nodes,
    priority,
    reservations,
    slurmd,
    steps,
    tokens,
    unconfigured,
)

if TYPE_CHECKING:
    from flurm.controller.engine import Controller
    from flurm.rpc.transport import Request

HandlerFn = Callable[["Controller", "Request"], Any]

HANDLERS: dict[int, HandlerFn] = {}
# steps last: it takes 5005 and 5016
for _module in (
    admin,
    admin_ctl,
    config,
    configless,
    diag,
    jobs,
    licenses,
    nodes,
    priority,
    reservations,
    slurmd,
    tokens,
    jobctl,
    steps,
):
    HANDLERS.update(_module.HANDLERS)
for _module in (unconfigured, job_lookups, dynamic):  # types no other module takes
    HANDLERS.update(_module.HANDLERS)
