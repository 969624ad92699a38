"""The root of flurm's exception tree: every error flurm raises carries the SLURM return code a client sees.

It lives in ``protocol/`` (the lowest room) so that every room, the codec included, can derive from it.
The tree::

    FlurmError (rc SLURM_ERROR)
      WireError (protocol.wire): DecodeError (VersionError, FrameTooLarge), EncodeError
      SlurmError (flurm.errors): a request refused with a given rc
      AuthError (auth.errors): CredentialError, AuthServiceError, HashError, TokenError; MungeError
      ConfigError, HostlistError, TimeFormatError, BadValue (config)
      TransitionError (modes), StoreError, TaskSetError (state), DependencyError (scheduler)
      SourceUnreachable, TakeoverError (migration), ApiError, Refusal (api)

A handler that fails answers ``exc.rc`` for a FlurmError and SLURM_ERROR for anything else.
"""

from __future__ import annotations

from flurm.protocol.constants import SlurmRC


class FlurmError(Exception):
    """Base of every flurm error. ``rc`` is the SLURM return code a reply about it carries: each class
    has its own, and ``rc=`` overrides it for one error."""

    rc: int = SlurmRC.SLURM_ERROR

    def __init__(self, *args: object, rc: int | None = None) -> None:
        super().__init__(*args)
        if rc is not None:
            self.rc = int(rc)


def rc_of(exc: BaseException) -> int:
    """The SLURM return code a failure with ``exc`` is reported as."""
    return int(exc.rc) if isinstance(exc, FlurmError) else int(SlurmRC.SLURM_ERROR)
