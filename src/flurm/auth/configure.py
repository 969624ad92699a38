"""Which authenticator slurm.conf asks for: AuthType, then AuthAltTypes, as slurmctld's auth_g_init.

``SLURM_SACK_KEY`` or ``SLURM_SACK_JWKS`` in the environment makes AuthType auth/slurm whatever slurm.conf
says (auth_g_init does so). AuthAltTypes are loaded by slurmctld and slurmdbd only; flurm is a slurmctld.
An alternative type flurm cannot verify (auth/jwt, auth/none) is left out with a warning: its messages are
refused as unknown plugins.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping

from flurm.auth.authenticator import Authenticator, AuthSet, MungeAuthenticator
from flurm.auth.errors import AuthServiceError
from flurm.auth.slurm_auth import SlurmAuthenticator, load_keys
from flurm.config.slurmconf import SlurmConfig

log = logging.getLogger(__name__)

MUNGE = "auth/munge"
SLURM = "auth/slurm"


def _plugin_name(text: str) -> str:
    name = text.strip().lower()
    return name if name.startswith("auth/") else f"auth/{name}"


def auth_types(config: SlurmConfig, env: Mapping[str, str]) -> list[str]:
    """AuthType then each AuthAltTypes entry, normalised (``slurm`` -> ``auth/slurm``), without repeats."""
    primary = (
        SLURM if env.get("SLURM_SACK_KEY") or env.get("SLURM_SACK_JWKS") else _plugin_name(config.auth_type)
    )
    names = [primary]
    for alt in (config.raw.get("authalttypes") or "").split(","):
        if alt.strip() and _plugin_name(alt) not in names:
            names.append(_plugin_name(alt))
    return names


def authenticator_from_config(
    config: SlurmConfig,
    *,
    env: Mapping[str, str] | None = None,
    allow_replay: bool = True,
    clock: Callable[[], float] = time.time,
) -> Authenticator:
    """The authenticator of AuthType (an AuthSet when AuthAltTypes adds one flurm can verify). Raises
    AuthServiceError when AuthType is none flurm has, or auth/slurm's key cannot be used (SLURM's fatal)."""
    environ = os.environ if env is None else env
    params = (config.communication_parameters or "").lower()
    members: list[Authenticator] = []
    for i, name in enumerate(auth_types(config, environ)):
        if name == MUNGE:
            members.append(
                MungeAuthenticator.from_slurm_conf(
                    config.auth_info, config.communication_parameters, allow_replay=allow_replay
                )
            )
        elif name == SLURM:
            members.append(
                SlurmAuthenticator(
                    load_keys(config.path, environ, slurm_user_uid=config.slurm_user_uid),
                    cluster_name=config.cluster_name or None,
                    ttl=config.auth_ttl,
                    clock=clock,
                    block_null_hash="block_null_hash" in params,
                    block_zero_hash="block_zero_hash" in params,
                )
            )
        elif i == 0:
            raise AuthServiceError(f"cannot create auth context for {name}")
        else:
            log.warning(
                "AuthAltTypes=%s: flurm verifies no such credentials; their messages are refused", name
            )
    return members[0] if len(members) == 1 else AuthSet(members)


def sack_enabled(config: SlurmConfig, env: Mapping[str, str] | None = None) -> bool:
    """Whether slurmctld would serve a sack socket (auth_slurm.c ``_run_sack_maybe``): auth/slurm is
    loaded and AuthInfo does not say disable_sack."""
    environ = os.environ if env is None else env
    if SLURM not in auth_types(config, environ):
        return False
    return "disable_sack" not in (config.auth_info or "")
