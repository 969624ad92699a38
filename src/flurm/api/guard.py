"""Who an HTTP request comes from, decided from its headers before a byte of its body is read.

The guard is an ASGI middleware in front of the whole application: it resolves the credential (a JWT
as slurmrestd takes it, or the static API token; 401 for a bad one), refuses a request with a body that
has none (401, or 403 when the API has no credential configured at all), and only then reads the body,
up to a cap (413 beyond it, the rest left unread). The endpoints find the resolved :class:`Principal` in
the scope and decide what it may do.

Credentials, as slurmrestd's ``rest_auth/jwt`` takes them: ``X-SLURM-USER-TOKEN: <jwt>`` (with an
optional ``X-SLURM-USER-NAME``), or ``Authorization: Bearer <jwt>``. The token names its user (claim
``sun``); a different ``X-SLURM-USER-NAME`` is allowed only to root and SlurmUser, who then act as
that user. ``Authorization: Bearer <static token>`` (FLURM_API_TOKEN, --api-token-file) is the operator
credential of the migration endpoints; it names no user, so it cannot submit jobs.
"""

from __future__ import annotations

import hmac
import json
import pwd
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from flurm.auth.jwt_tokens import JwtAuthority, TokenError
from flurm.errors import FlurmError
from flurm.protocol.constants import SlurmRC

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SUBMIT_BODY_LIMIT = 8 * 1024 * 1024  # a script up to max_script_size's default (4 MB), escaped, and its env
BODY_LIMIT = 64 * 1024  # every other request body is a few small fields
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PRINCIPAL_KEY = "flurm.principal"


class Refusal(FlurmError):
    """A request not let through the API's guard, with the HTTP ``status`` it is answered with."""

    rc = SlurmRC.ESLURM_ACCESS_DENIED

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as. ``uid`` is None for the static API token, which names no user."""

    name: str
    uid: int | None
    operator: bool  # root or SlurmUser (or the static API token): may act for anyone


STATIC_TOKEN = Principal("api-token", None, True)


def body_limit(method: str, path: str) -> int:
    return SUBMIT_BODY_LIMIT if method == "POST" and path.rstrip("/") == "/api/jobs" else BODY_LIMIT


def lookup_uid(name: str) -> int | None:
    """The uid of a user name or number, as SLURM's uid_from_string; None when there is no such user."""
    try:
        return pwd.getpwuid(int(name)).pw_uid if name.isdigit() else pwd.getpwnam(name).pw_uid
    except (KeyError, ValueError, OverflowError):
        return None


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the API accepts: the static operator token, JWTs signed with the cluster's key, or both."""

    static_token: str | None
    authority: JwtAuthority | None
    is_operator: Callable[[int], bool]
    now: Callable[[], int]

    @property
    def configured(self) -> bool:
        return self.static_token is not None or self.authority is not None

    def identify(self, headers: dict[str, str]) -> Principal | None:
        """The request's principal; None when it carries no credential. Refusal for a bad one."""
        token = headers.get("x-slurm-user-token")
        if token is None and "authorization" in headers:
            scheme, _, value = headers["authorization"].partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise Refusal(401, "a bearer token is required (Authorization: Bearer <token>)")
            token = value.strip()
            if self.static_token is not None and hmac.compare_digest(
                token.encode("latin-1"), self.static_token.encode("utf-8", "surrogateescape")
            ):
                return STATIC_TOKEN
        if token is None:
            return None
        if self.authority is None:
            raise Refusal(401, "invalid token (no JWT key is configured: AuthAltParameters=jwt_key=...)")
        try:
            token_user = self.authority.verify(token, self.now())
        except TokenError as exc:
            raise Refusal(401, str(exc)) from None
        token_uid = lookup_uid(token_user)
        if token_uid is None:
            raise Refusal(401, f"the token's user {token_user!r} does not exist")
        acting = headers.get("x-slurm-user-name") or token_user
        if acting == token_user:
            return Principal(token_user, token_uid, self.is_operator(token_uid))
        if not self.is_operator(token_uid):
            raise Refusal(403, f"user {token_user} may not act as user {acting}")
        acting_uid = lookup_uid(acting)
        if acting_uid is None:
            raise Refusal(401, f"no user {acting!r}")
        return Principal(acting, acting_uid, self.is_operator(acting_uid))


def request_principal(scope: Scope) -> Principal | None:
    principal = scope.get(PRINCIPAL_KEY)
    return principal if isinstance(principal, Principal) else None


class RequestGuard:
    """ASGI middleware: credential from the headers, then the body with a cap, then the application."""

    def __init__(
        self,
        app: ASGIApp,
        credentials: Credentials,
        on_refusal: Callable[[int], None] | None = None,
    ) -> None:
        self.app = app
        self.credentials = credentials
        self.on_refusal = on_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            principal = self.credentials.identify(headers)
            if principal is None and scope["method"] not in SAFE_METHODS:
                if not self.credentials.configured:
                    raise Refusal(403, "writes are disabled: no API token or JWT key is configured")
                raise Refusal(401, "a credential is required (X-SLURM-USER-TOKEN, or Authorization: Bearer)")
            body = await self._read_body(scope, headers, receive)
        except Refusal as exc:
            await self._refuse(send, exc.status, exc.reason)
            return
        if body is None:
            return  # the client went away
        scope[PRINCIPAL_KEY] = principal
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _read_body(scope: Scope, headers: dict[str, str], receive: Receive) -> bytes | None:
        limit = body_limit(scope["method"], scope["path"])
        declared = headers.get("content-length")
        if declared is not None and not declared.isdigit():
            raise Refusal(400, "invalid Content-Length")
        if declared is not None and int(declared) > limit:
            raise Refusal(413, f"the request body is larger than {limit} bytes")
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > limit:
                raise Refusal(413, f"the request body is larger than {limit} bytes")
            if not message.get("more_body", False):
                return bytes(body)

    async def _refuse(self, send: Send, status: int, reason: str) -> None:
        if self.on_refusal is not None:
            self.on_refusal(status)
        payload = json.dumps({"error": reason}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),  # the unread body is not worth reading to keep the connection
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
