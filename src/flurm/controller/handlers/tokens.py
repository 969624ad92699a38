"""REQUEST_AUTH_TOKEN (``scontrol token``): a JWT for the caller, or for anyone when root or SlurmUser asks.

slurmctld 22.05's rules (proc_req.c ``_slurm_rpc_auth_token``): a user gets a token only for themselves;
with ``disable_token_creation`` only root and SlurmUser get one; ``max_token_lifespan`` caps what the
others may ask for. Without a key the reply carries no token (scontrol: "Error fetching token").
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flurm.auth.jwt_tokens import DEFAULT_TOKEN_LIFESPAN, TokenPolicy
from flurm.protocol.constants import MsgType, SlurmRC
from flurm.protocol.messages.tokens import TokenRequest, TokenResponse
from flurm.rpc.transport import Reply, Request, rc_reply
from flurm.users import user_info

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

log = logging.getLogger("flurm.controller")


def auth_token(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, TokenRequest)
    policy = TokenPolicy.from_config(ctl.config)
    operator = ctl.is_admin(req.uid)
    if policy.creation_disabled and not operator:
        log.warning("token request by uid %d refused: token creation is disabled", req.uid)
        return rc_reply(SlurmRC.ESLURM_ACCESS_DENIED)
    caller = user_info(req.uid)
    wanted = req.body.username
    if wanted is not None and not operator and (caller is None or wanted != caller.name):
        log.warning("token request for a different user=%s by uid %d refused", wanted, req.uid)
        return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
    if wanted is None:
        if caller is None:
            log.warning("token request for a missing username by uid %d refused", req.uid)
            return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
        wanted = caller.name
    max_lifespan = policy.max_lifespan
    requested = req.body.lifespan - (1 << 32) if req.body.lifespan >= 1 << 31 else req.body.lifespan
    if requested:
        lifespan = requested
    elif max_lifespan:
        lifespan = min(DEFAULT_TOKEN_LIFESPAN, max_lifespan)
    else:
        lifespan = DEFAULT_TOKEN_LIFESPAN
    if not operator and max_lifespan and lifespan > max_lifespan:
        log.warning(
            "token lifespan %d for user %s refused: exceeds the limit of %d", lifespan, wanted, max_lifespan
        )
        return rc_reply(SlurmRC.ESLURM_INVALID_TIME_LIMIT)
    if ctl.jwt is None:
        log.warning("cannot issue a token for %s: no JWT key is configured", wanted)
        return Reply(MsgType.RESPONSE_AUTH_TOKEN, TokenResponse(None))
    log.info("created token for %s for %d seconds", wanted, lifespan)
    return Reply(MsgType.RESPONSE_AUTH_TOKEN, TokenResponse(ctl.jwt.issue(wanted, lifespan, ctl.now())))


HANDLERS = {MsgType.REQUEST_AUTH_TOKEN: auth_token}
