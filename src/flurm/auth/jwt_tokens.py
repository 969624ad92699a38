"""SLURM's ``auth/jwt`` tokens: HS256 JWTs signed with the cluster's key file, naming one user.

As slurmctld 22.05 has them (plugins/auth/jwt): the key is the whole content of the file named by
``AuthAltParameters=jwt_key=<path>`` (default ``StateSaveLocation/jwt_hs256.key`` when ``AuthAltTypes``
lists auth/jwt); a token carries ``iat``, ``exp`` and ``sun`` (the user name; ``username`` is accepted
when ``sun`` is absent). ``max_token_lifespan=<s>`` and ``disable_token_creation`` in AuthAltParameters
restrict what ``scontrol token`` may get.

flurm also reads ``jwt_key=`` when AuthAltTypes does not list auth/jwt: a slurmctld built without the
jwt plugin (Debian's) cannot have it listed, yet flurm can issue and check tokens for its HTTP API.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from flurm.auth.errors import AuthError
from flurm.config.slurmconf import SlurmConfig

DEFAULT_KEY_FILE = "jwt_hs256.key"
DEFAULT_TOKEN_LIFESPAN = 1800  # seconds (read_config.h DEFAULT_AUTH_TOKEN_LIFESPAN)


class TokenError(AuthError):
    """A token that does not prove who its bearer is: malformed, forged, expired or nameless."""


def _param(params: str, name: str) -> str | None:
    """The value of ``name=`` in a comma-separated parameter string (SLURM finds it anywhere in it)."""
    start = params.lower().find(name.lower() + "=")
    if start < 0:
        return None
    value = params[start + len(name) + 1 :]
    return value.split(",", 1)[0]


def _leading_int(text: str) -> int:
    """C's atoi: the leading decimal digits (with a sign), 0 when there are none."""
    digits = ""
    for i, ch in enumerate(text.strip()):
        if ch.isdigit() or (i == 0 and ch in "+-"):
            digits += ch
        else:
            break
    try:
        return int(digits)
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """Who may get which token (AuthAltParameters): slurmctld applies it with or without a key."""

    max_lifespan: int = 0  # seconds; 0: no limit
    creation_disabled: bool = False  # only root and SlurmUser may get tokens

    @classmethod
    def from_config(cls, config: SlurmConfig) -> TokenPolicy:
        params = config.raw.get("authaltparameters") or ""
        lifespan_text = _param(params, "max_token_lifespan")
        max_lifespan = max(0, _leading_int(lifespan_text)) if lifespan_text is not None else 0
        return cls(max_lifespan, "disable_token_creation" in params)


@dataclass(frozen=True, slots=True)
class JwtAuthority:
    """The cluster's JWT key: it signs and verifies tokens."""

    key: bytes

    @classmethod
    def key_path(cls, config: SlurmConfig) -> str | None:
        params = config.raw.get("authaltparameters") or ""
        path = _param(params, "jwt_key")
        if path:
            return path
        types = (config.raw.get("authalttypes") or "").split(",")
        if "auth/jwt" in (t.strip().lower() for t in types):
            return os.path.join(config.state_save_location, DEFAULT_KEY_FILE)
        return None

    @classmethod
    def from_config(cls, config: SlurmConfig) -> JwtAuthority | None:
        """The authority slurm.conf configures, or None. Raises OSError when the key file cannot be used
        (slurmctld refuses to start then)."""
        path = cls.key_path(config)
        if path is None:
            return None
        key = Path(path).read_bytes()
        if not key.strip():
            raise OSError(f"the JWT key file {path} is empty")
        return cls(key)

    def issue(self, username: str, lifespan: int, now: int) -> str:
        claims: dict[str, Any] = {"iat": now, "exp": now + lifespan, "sun": username}
        return jwt.encode(claims, self.key, algorithm="HS256")

    def verify(self, token: str, now: int) -> str:
        """The user name the token was issued for; TokenError unless signed with the key and unexpired."""
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=["HS256"],
                options={"require": ["exp"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        exp = claims.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool):
            raise TokenError("invalid token: exp is not an integer")
        if exp < now:
            raise TokenError("token expired")
        name = claims.get("sun") or claims.get("username")
        if not isinstance(name, str) or not name:
            raise TokenError("invalid token: it names no user")
        return name
