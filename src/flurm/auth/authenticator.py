"""How the controller authenticates messages: the interface, its MUNGE implementation, a fake for unit tests.

Receiving (what slurmctld does in ``slurm_receive_msg``): decode the header credential, take uid/gid from it,
then check that its payload is the hash of this message's type and body. :meth:`Authenticator.verify` does
all of it and raises an :class:`~flurm.auth.errors.AuthError` otherwise; slurmctld then closes the connection
without a reply (see ``errors.py``).

Sending: :meth:`Authenticator.sign` makes the credential for a header (payload = the message hash).
For a reply, restrict it the way SLURM does with :func:`reply_uid_restriction`.

Job credentials (REQUEST_LAUNCH_TASKS etc.): CredType's signer (``configure.job_credential_signer``, which
need not be AuthType's); with cred/munge :meth:`Authenticator.sign_payload` signs the packed credential,
restricted to SlurmdUser's uid. On the wire the signature is packmem of the credential text *with* a trailing
NUL (``sign_payload(...) + b"\\0"``).

Every method blocks (libmunge talks to munged over a unix socket, and retries while munged is unreachable):
run them in a thread pool, or, on an event loop, only through :meth:`Authenticator.without_retries` and only
while munged answers quickly (the controller's ``transport.Signer`` does that).
"""

from __future__ import annotations

import copy
import os
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass

from flurm.auth.errors import AuthError, AuthServiceError, CredentialError
from flurm.auth.hash import HashType, check_hash, compute_hash
from flurm.auth.munge import MungeContext, MungeErr, MungeError
from flurm.protocol.constants import AUTH_PLUGIN_MUNGE, AUTH_PLUGIN_SLURM, PROTOCOL_VERSION

__all__ = [
    "ROOT",
    "SLURM_AUTH_NOBODY",
    "AuthError",
    "AuthInfo",
    "AuthSet",
    "Authenticator",
    "Decoded",
    "FakeAuthenticator",
    "Identity",
    "MungeAuthenticator",
    "parse_auth_info",
    "reply_uid_restriction",
]

# slurm_auth.h: the uid SLURM restricts a reply to when the request's uid is unknown
SLURM_AUTH_NOBODY = 99

# slurm.h enum auth_plugin_type: the names SLURM logs an unknown or unconfigured plugin id by
AUTH_PLUGIN_NAMES = {
    100: "auth/none",
    AUTH_PLUGIN_MUNGE: "auth/munge",
    102: "auth/jwt",
    AUTH_PLUGIN_SLURM: "auth/slurm",
}

# munge errors that are flurm's side (its munged), not the peer's credential
_LOCAL_MUNGE_ERRORS = frozenset({MungeErr.SNAFU, MungeErr.NO_MEMORY, MungeErr.SOCKET, MungeErr.TIMEOUT})


@dataclass(frozen=True, slots=True)
class Identity:
    """Who sent a message, as the credential says (the uid/gid of the process that made it)."""

    uid: int
    gid: int


ROOT = Identity(0, 0)
# The sender of a reply that came without a credential (SLURM_NO_AUTH_CRED, 24.11 on) on a connection flurm
# opened: trusted as that connection's peer, and nobody in particular.
CONNECTION_PEER = Identity(-1, -1)


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded credential: the sender and the payload it carries."""

    identity: Identity
    payload: bytes
    replayed: bool = False  # munge had seen it before (tolerated when allow_replay)


def reply_uid_restriction(requester: Identity | None, slurm_user_id: int, slurmd_user_id: int) -> int | None:
    """The uid restriction SLURM puts on the credential of a reply (slurm_protocol_api.c ``_resp_msg_setup``,
    used by slurm_send_rc_msg/slurm_send_msg).

    Replies to SlurmUser or SlurmdUser are unrestricted (None); a reply to anybody else can be decoded only by
    the requester's uid; with no authenticated requester, only by "nobody" (99). slurmctld's data replies
    (proc_req.c ``response_init``) restrict to the requester's uid even for SlurmUser (live: a
    RESPONSE_PARTITION_INFO to root carried UID_RESTRICTION 0, a RESPONSE_SLURM_RC to root none). Clients
    accept either, as long as they can decode it: they never check who signed a reply.
    """
    if requester is None:
        return SLURM_AUTH_NOBODY
    if requester.uid in (slurm_user_id, slurmd_user_id):
        return None
    return requester.uid


class Authenticator(ABC):
    """Signs and verifies SLURM message credentials. Subclasses provide :meth:`encode` and :meth:`decode`.

    ``allow_replay``: accept a credential munge reports as replayed. SLURM built with MULTIPLE_SLURMD
    (Debian's build is) accepts replays in auth/munge; other builds refuse them.
    ``block_null_hash`` / ``block_zero_hash``: the CommunicationParameters of the same names.
    ``plugin_id``: the auth plugin id its credentials travel under in a header.
    """

    plugin_id: int = AUTH_PLUGIN_MUNGE

    def __init__(
        self, *, allow_replay: bool = True, block_null_hash: bool = False, block_zero_hash: bool = False
    ) -> None:
        self.allow_replay = allow_replay
        self.block_null_hash = block_null_hash
        self.block_zero_hash = block_zero_hash

    @abstractmethod
    def encode(self, payload: bytes, uid_restriction: int | None = None) -> bytes:
        """A new credential carrying ``payload``. Raises AuthServiceError."""

    @abstractmethod
    def decode(self, credential: bytes) -> Decoded:
        """Decode a credential. Raises CredentialError (bad credential) or AuthServiceError (our side)."""

    def select(self, plugin: int | None) -> Authenticator:
        """The authenticator for credentials of auth plugin ``plugin`` (None: this one's own). A plugin
        not configured refuses the message, as auth_g_unpack does."""
        if plugin is None or plugin == self.plugin_id:
            return self
        name = AUTH_PLUGIN_NAMES.get(plugin, "unknown")
        raise CredentialError(f"auth_g_unpack: authentication plugin {name}({plugin}) not found")

    def sign(
        self,
        msg_type: int,
        body: bytes,
        *,
        uid_restriction: int | None = None,
        hash_type: HashType = HashType.K12,
        version: int = PROTOCOL_VERSION,
        plugin: int | None = None,
    ) -> bytes:
        """The credential for the header of a message of ``msg_type`` with ``body`` (no trailing NUL),
        made by auth plugin ``plugin`` (None: this authenticator's own, i.e. AuthType's)."""
        auth = self.select(plugin)
        if auth is not self:
            return auth.sign(
                msg_type, body, uid_restriction=uid_restriction, hash_type=hash_type, version=version
            )
        payload = compute_hash(msg_type, body, hash_type=hash_type, version=version)
        return self.encode(payload, uid_restriction)

    def verify(
        self,
        msg_type: int,
        body: bytes,
        credential: bytes | None,
        *,
        version: int = PROTOCOL_VERSION,
        plugin: int | None = None,
    ) -> Identity:
        """Authenticate a received message: decode its credential (of auth plugin ``plugin``, None: this
        one's own) and check the hash of its body."""
        if credential is None:
            raise CredentialError("message carries no credential", munge_code=MungeErr.BAD_ARG)
        decoded = self.select(plugin).decode(credential)
        check_hash(
            decoded.payload,
            msg_type,
            body,
            version=version,
            block_null_hash=self.block_null_hash,
            block_zero_hash=self.block_zero_hash,
        )
        return decoded.identity

    def sign_payload(self, payload: bytes, uid_restriction: int | None) -> bytes:
        """A credential over arbitrary bytes, e.g. the job credential signature restricted to SlurmdUser."""
        return self.encode(payload, uid_restriction)

    def without_retries(self) -> Authenticator:
        """The same authenticator, except that it fails at once (AuthServiceError) when its service is
        unreachable instead of retrying; for calls made where sleeping is not allowed (the event loop)."""
        return self


class AuthSet(Authenticator):
    """AuthType followed by AuthAltTypes, as slurmctld loads them: a received credential is verified by
    the member of its plugin id, flurm's own credentials are made by the first (AuthType's) unless a
    plugin is named (a reply goes in the plugin of its request)."""

    def __init__(self, members: list[Authenticator]) -> None:
        if not members:
            raise ValueError("an AuthSet needs AuthType's authenticator")
        first = members[0]
        super().__init__(
            allow_replay=first.allow_replay,
            block_null_hash=first.block_null_hash,
            block_zero_hash=first.block_zero_hash,
        )
        self.members = members
        self.plugin_id = first.plugin_id

    def __repr__(self) -> str:
        return f"AuthSet({self.members!r})"

    def select(self, plugin: int | None) -> Authenticator:
        if plugin is None:
            return self.members[0]
        for member in self.members:
            if member.plugin_id == plugin:
                return member
        return super().select(plugin)  # refuses

    def sign(
        self,
        msg_type: int,
        body: bytes,
        *,
        uid_restriction: int | None = None,
        hash_type: HashType = HashType.K12,
        version: int = PROTOCOL_VERSION,
        plugin: int | None = None,
    ) -> bytes:
        return self.select(plugin).sign(
            msg_type, body, uid_restriction=uid_restriction, hash_type=hash_type, version=version
        )

    def encode(self, payload: bytes, uid_restriction: int | None = None) -> bytes:
        return self.members[0].encode(payload, uid_restriction)

    def decode(self, credential: bytes) -> Decoded:
        return self.members[0].decode(credential)

    def without_retries(self) -> AuthSet:
        return AuthSet([member.without_retries() for member in self.members])


@dataclass(frozen=True, slots=True)
class AuthInfo:
    """The parts of slurm.conf ``AuthInfo`` that auth/munge reads."""

    socket: str | None = None
    ttl: int | None = None  # seconds; None: munged's default
    cred_expire: int | None = None  # seconds; job credential lifetime (cred/munge, slurmd side)


def parse_auth_info(text: str | None) -> AuthInfo:
    """Parse ``AuthInfo`` the way SLURM does: ``socket=PATH,ttl=SECS,cred_expire=SECS``, or a bare socket path
    (the old format, any value without "=")."""
    if not text:
        return AuthInfo()
    if "=" not in text:
        return AuthInfo(socket=text)
    fields: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if sep:
            fields[key.strip().lower()] = value.strip()

    def seconds(name: str) -> int | None:
        raw = fields.get(name)
        if raw is None:
            return None
        m = re.match(r"\d+", raw)  # SLURM uses atoi(): leading digits, anything else is 0
        value = int(m.group()) if m else 0
        return value or None

    socket = fields.get("socket") or None
    return AuthInfo(socket=socket, ttl=seconds("ttl"), cred_expire=seconds("cred_expire"))


class MungeAuthenticator(Authenticator):
    """Credentials from a real munged through libmunge.

    ``socket_path``/``ttl`` come from slurm.conf's AuthInfo (see :meth:`from_slurm_conf`).
    """

    def __init__(
        self,
        socket_path: str | None = None,
        ttl: int | None = None,
        *,
        allow_replay: bool = True,
        block_null_hash: bool = False,
        block_zero_hash: bool = False,
        socket_retries: int = 20,
        retry_delay: float = 0.1,
    ) -> None:
        super().__init__(
            allow_replay=allow_replay, block_null_hash=block_null_hash, block_zero_hash=block_zero_hash
        )
        self.context = MungeContext(socket_path, ttl, socket_retries=socket_retries, retry_delay=retry_delay)

    @classmethod
    def from_slurm_conf(
        cls,
        auth_info: str | None,
        communication_parameters: str | None = None,
        *,
        allow_replay: bool = True,
        socket_retries: int = 20,
        retry_delay: float = 0.1,
    ) -> MungeAuthenticator:
        """Build from slurm.conf's ``AuthInfo`` and ``CommunicationParameters`` values (as SLURM reads them:
        block_null_hash/block_zero_hash are found by case-insensitive substring)."""
        info = parse_auth_info(auth_info)
        params = (communication_parameters or "").lower()
        return cls(
            info.socket,
            info.ttl,
            block_null_hash="block_null_hash" in params,
            block_zero_hash="block_zero_hash" in params,
            allow_replay=allow_replay,
            socket_retries=socket_retries,
            retry_delay=retry_delay,
        )

    def __repr__(self) -> str:
        return f"MungeAuthenticator({self.context.socket_path!r}, ttl={self.context.ttl!r})"

    def without_retries(self) -> MungeAuthenticator:
        quick = copy.copy(self)
        quick.context = MungeContext(
            self.context.socket_path, self.context.ttl, socket_retries=0, retry_delay=0
        )
        return quick

    def encode(self, payload: bytes, uid_restriction: int | None = None) -> bytes:
        try:
            return self.context.encode(payload, uid_restriction)
        except MungeError as exc:
            raise AuthServiceError(f"munge encode failed: {exc.message}", munge_code=exc.code) from exc

    def decode(self, credential: bytes) -> Decoded:
        try:
            cred = self.context.decode(credential)
        except MungeError as exc:
            if exc.code == MungeErr.CRED_REPLAYED and self.allow_replay and exc.credential is not None:
                c = exc.credential
                return Decoded(Identity(c.uid, c.gid), c.payload, replayed=True)
            if exc.code in _LOCAL_MUNGE_ERRORS:
                raise AuthServiceError(f"munge decode failed: {exc.message}", munge_code=exc.code) from exc
            name = exc.code.name if isinstance(exc.code, MungeErr) else str(exc.code)
            message = f"munge decode failed: {exc.message} ({name})"
            raise CredentialError(message, munge_code=exc.code) from exc
        return Decoded(Identity(cred.uid, cred.gid), cred.payload)

    def self_test(self) -> None:
        """Check munged is reachable, decodes what it encodes, and refuses a credential restricted to another
        uid. SLURM's auth/munge makes the last check at daemon start: a munged built to let root decode every
        credential would let any root process read restricted credentials. Raises AuthError."""
        probe = b"flurm-self-test"
        decoded = self.decode(self.encode(probe))
        if decoded.payload != probe or decoded.identity.uid != os.getuid():
            raise AuthServiceError("munged round trip returned a different payload or uid")
        other = (os.getuid() + 1) & 0xFFFFFFFF
        try:
            self.decode(self.encode(b"", uid_restriction=other))
        except CredentialError as exc:
            if exc.munge_code == MungeErr.CRED_UNAUTHORIZED:
                return
            raise
        raise AuthServiceError("munged lets this uid decode credentials restricted to another uid")


class FakeAuthenticator(Authenticator):
    """Deterministic credentials for unit tests, with the same checks as the real thing.

    A credential is ``b"FAKE:<uid>:<gid>:<restriction>:<hex payload>"`` (restriction ``*`` = any). It is made
    in the name of ``identity`` and, like munge, may only be decoded by ``identity.uid`` when restricted (root
    included). There is no expiry and, as equal messages give equal credentials, no replay detection.
    """

    PREFIX = b"FAKE:"

    def __init__(
        self,
        identity: Identity = ROOT,
        *,
        block_null_hash: bool = False,
        block_zero_hash: bool = False,
    ) -> None:
        super().__init__(allow_replay=True, block_null_hash=block_null_hash, block_zero_hash=block_zero_hash)
        self.identity = identity

    def __repr__(self) -> str:
        return f"FakeAuthenticator({self.identity!r})"

    def encode(self, payload: bytes, uid_restriction: int | None = None) -> bytes:
        restriction = "*" if uid_restriction is None else str(uid_restriction)
        text = f"{self.identity.uid}:{self.identity.gid}:{restriction}:{payload.hex()}"
        return self.PREFIX + text.encode()

    def decode(self, credential: bytes) -> Decoded:
        if not credential.startswith(self.PREFIX):
            raise CredentialError("not a fake credential", munge_code=MungeErr.BAD_CRED)
        parts = credential[len(self.PREFIX) :].split(b":")
        try:
            uid_s, gid_s, restriction_s, payload_s = (p.decode("ascii") for p in parts)
            if not (uid_s.isdigit() and gid_s.isdigit()):
                raise ValueError("uid/gid")
            uid, gid = int(uid_s), int(gid_s)
            restriction = None if restriction_s == "*" else int(restriction_s)
            payload = bytes.fromhex(payload_s)
        except ValueError as exc:  # includes UnicodeDecodeError and a wrong field count
            raise CredentialError(f"malformed fake credential: {exc}", munge_code=MungeErr.BAD_CRED) from exc
        if restriction is not None and restriction != self.identity.uid:
            raise CredentialError(
                f"credential restricted to uid {restriction}, decoder is uid {self.identity.uid}",
                munge_code=MungeErr.CRED_UNAUTHORIZED,
            )
        return Decoded(Identity(uid, gid), payload)
