"""Authentication: MUNGE credentials through libmunge, SLURM's message hash, and a fake for unit tests."""

from flurm.auth.authenticator import (
    ROOT,
    SLURM_AUTH_NOBODY,
    Authenticator,
    AuthInfo,
    Decoded,
    FakeAuthenticator,
    Identity,
    MungeAuthenticator,
    parse_auth_info,
    reply_uid_restriction,
)
from flurm.auth.errors import AuthError, AuthServiceError, CredentialError
from flurm.auth.hash import HashError, HashType, check_hash, compute_hash, k12_digest

__all__ = [
    "ROOT",
    "SLURM_AUTH_NOBODY",
    "AuthError",
    "AuthInfo",
    "AuthServiceError",
    "Authenticator",
    "CredentialError",
    "Decoded",
    "FakeAuthenticator",
    "HashError",
    "HashType",
    "Identity",
    "MungeAuthenticator",
    "check_hash",
    "compute_hash",
    "k12_digest",
    "parse_auth_info",
    "reply_uid_restriction",
]
