"""The auth error tree. Each error carries the SLURM return code SLURM itself records for the failure.

What the controller does with one (slurmctld 22.05, controller.c ``_service_connection``): it logs it and
**closes the connection without any reply**, whatever the rc. (slurmd instead answers RESPONSE_SLURM_RC with
the rc; that is a slurmd behaviour, not a controller one.)

Who broke the rule: :class:`CredentialError` and ``hash.HashError`` are the peer's fault;
:class:`AuthServiceError` is flurm's side (munged down, unreachable or failing), raised by signing and by
verifying alike.
"""

from __future__ import annotations

from flurm.protocol.constants import SlurmRC
from flurm.protocol.errors import FlurmError


class AuthError(FlurmError):
    """A message could not be authenticated, or a credential could not be made."""

    rc: int = SlurmRC.SLURM_PROTOCOL_AUTHENTICATION_ERROR


class CredentialError(AuthError):
    """The peer's credential is missing, malformed, or refused by munge (expired, rewound, replayed,
    unauthorized, invalid...). ``munge_code`` is the munge_err_t when munge refused it, else None.

    SLURM records SLURM_PROTOCOL_AUTHENTICATION_ERROR (1007) for all of these.
    """

    def __init__(self, message: str, *, munge_code: int | None = None, rc: int | None = None) -> None:
        super().__init__(message, rc=rc)
        self.munge_code = munge_code


class AuthServiceError(AuthError):
    """flurm's own munged failed (unreachable, out of memory, internal error): no credential was judged.

    SLURM logs "If munged is up, restart with --num-threads=10" and records ESLURM_AUTH_CRED_INVALID when it
    cannot sign; a receiver that cannot decode closes the connection as for a bad credential.
    """

    rc = SlurmRC.ESLURM_AUTH_CRED_INVALID

    def __init__(self, message: str, *, munge_code: int | None = None) -> None:
        super().__init__(message)
        self.munge_code = munge_code
