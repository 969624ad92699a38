"""The error that crosses from the controller's logic to the wire: a SLURM return code.

Every flurm error derives from :class:`FlurmError` (defined in ``protocol.errors`` so that the codec's
errors can derive from it too) and carries the return code a client sees: :func:`rc_of` reads it.
"""

from __future__ import annotations

from flurm.protocol.constants import slurm_strerror
from flurm.protocol.errors import FlurmError, rc_of

__all__ = ["FlurmError", "SlurmError", "rc_of"]


class SlurmError(FlurmError):
    """A request was refused for a reason SLURM has a return code for.

    ``message`` (optional) travels in a RESPONSE_SLURM_RC_MSG and is printed by the client as
    ``error: <message>`` before the text of ``rc``.
    """

    def __init__(self, rc: int, message: str | None = None) -> None:
        super().__init__(message or slurm_strerror(rc), rc=rc)
        self.message = message
