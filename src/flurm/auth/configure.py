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
from dataclasses import dataclass

from flurm.auth.authenticator import Authenticator, AuthSet, MungeAuthenticator
from flurm.auth.errors import AuthError, AuthServiceError
from flurm.auth.slurm_auth import LaunchSealer, SlurmAuthenticator, load_keys
from flurm.config.slurmconf import SlurmConfig
from flurm.protocol.constants import AUTH_PLUGIN_MUNGE, AUTH_PLUGIN_SLURM

log = logging.getLogger(__name__)

MUNGE = "auth/munge"
SLURM = "auth/slurm"
CRED_MUNGE = "cred/munge"
CRED_SLURM = "cred/slurm"


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


def _slurm_authenticator(
    config: SlurmConfig, environ: Mapping[str, str], clock: Callable[[], float]
) -> SlurmAuthenticator:
    params = (config.communication_parameters or "").lower()
    return SlurmAuthenticator(
        load_keys(config.path, environ, slurm_user_uid=config.slurm_user_uid),
        cluster_name=config.cluster_name or None,
        ttl=config.auth_ttl,
        clock=clock,
        block_null_hash="block_null_hash" in params,
        block_zero_hash="block_zero_hash" in params,
    )


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
    members: list[Authenticator] = []
    for i, name in enumerate(auth_types(config, environ)):
        if name == MUNGE:
            members.append(
                MungeAuthenticator.from_slurm_conf(
                    config.auth_info, config.communication_parameters, allow_replay=allow_replay
                )
            )
        elif name == SLURM:
            members.append(_slurm_authenticator(config, environ, clock))
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


def cred_plugin(config: SlurmConfig) -> str:
    """CredType as cred_g_init names its plugin: ``slurm`` (bare, ``cred/`` or ``auth/``) is auth/slurm's
    job credentials (cred/slurm), any other name cred/<name>. The default is cred/munge in every release,
    whatever AuthType says (read_config.c DEFAULT_CRED_TYPE)."""
    name = (config.cred_type or CRED_MUNGE).strip()
    if name.startswith(("auth/", "cred/")):
        name = name[5:]
    return CRED_SLURM if name == "slurm" else f"cred/{name}"


@dataclass(frozen=True, slots=True)
class JobCredentialSigner:
    """What signs job credentials (batch, prolog, kill and step ones): CredType's plugin, not AuthType's.

    cred/munge (``munge``): a step credential's signature is munge_encode of its packed fields, checked by
    slurmd with its own munged (so a munged is needed even when AuthType is auth/slurm); batch, prolog
    and kill credentials go unsigned. cred/slurm (``sealer``): every credential is a ``launch`` token.
    """

    plugin: str
    munge: Authenticator | None = None
    sealer: LaunchSealer | None = None


def job_credential_signer(
    config: SlurmConfig,
    auth: Authenticator,
    *,
    env: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
) -> JobCredentialSigner:
    """The one rule for who signs job credentials: CredType picks the plugin; its signer is AuthType's
    (or AuthAltTypes') authenticator of the same kind when there is one, else one of its own built from
    slurm.conf as that plugin builds it (cred/munge: AuthInfo's socket and ttl; cred/slurm: slurm.key).
    Raises AuthServiceError for a CredType flurm does not have (SLURM's daemons do not start)."""
    plugin = cred_plugin(config)
    if plugin == CRED_MUNGE:
        try:
            munge = auth.select(AUTH_PLUGIN_MUNGE)
        except AuthError:
            munge = MungeAuthenticator.from_slurm_conf(config.auth_info, config.communication_parameters)
        return JobCredentialSigner(plugin, munge=munge)
    if plugin == CRED_SLURM:
        try:
            slurm = auth.select(AUTH_PLUGIN_SLURM)
        except AuthError:
            slurm = _slurm_authenticator(config, os.environ if env is None else env, clock)
        if not isinstance(slurm, SlurmAuthenticator):
            raise AuthServiceError(f"cannot create cred context for {config.cred_type}")
        return JobCredentialSigner(plugin, sealer=LaunchSealer(slurm, config.slurmd_user_uid))
    raise AuthServiceError(f"cannot create cred context for {config.cred_type}")
