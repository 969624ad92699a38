"""The one error that crosses from the controller's logic to the wire: a SLURM return code."""

from __future__ import annotations

from flurm.protocol.constants import slurm_strerror


class SlurmError(Exception):
    """A request was refused for a reason SLURM has a return code for.

    ``message`` (optional) travels in a RESPONSE_SLURM_RC_MSG and is printed by the client as
    ``error: <message>`` before the text of ``rc``.
    """

    def __init__(self, rc: int, message: str | None = None) -> None:
        super().__init__(message or slurm_strerror(rc))
        self.rc = int(rc)
        self.message = message
