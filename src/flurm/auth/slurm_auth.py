"""SLURM's ``auth/slurm`` (from 23.11): a credential is an HS256 JWT signed with the cluster's key.

What 24.11 and 26.05 do (plugins/auth/slurm: internal.c, util.c), and so flurm:

* The key: the whole content of ``slurm.key`` beside slurm.conf (``SLURM_SACK_KEY`` names another file), or,
  when ``slurm.jwks`` exists there (``SLURM_SACK_JWKS``), a JSON key set: ``{"keys": [{"kid", "kty": "oct",
  "alg": "HS256", "k": base64url, "use": "default"?, "exp"?}]}``. A token's ``kid`` header picks the key of a
  key set (none: the default key, ``use=default`` or the first); a single slurm.key ignores the kid. A key
  file readable, writable or executable by others is fatal, as SLURM's daemons make it.
* The token: header ``{"alg":"HS256","typ":"JWT"}`` (``kid`` added when the signing key has one), claims
  compact JSON with sorted keys (libjwt's output, byte for byte): ``iat``, ``exp`` (iat + AuthInfo ttl,
  default 60 s), ``ver`` (the maker's protocol version, never checked), ``ruid`` (who may verify it:
  4294967295 = anyone), ``context`` (``auth`` from a daemon, ``sack`` when a sack socket minted it for a
  client, ``launch``/``sbcast``/``net_aliases`` for the job credentials of cred/slurm), ``cluster``,
  ``uid``, ``gid``, ``host`` (short hostname), ``payload`` (standard base64 of the message hash; absent
  when empty), and the maker's extra claims (``id`` with use_client_ids, a job credential's fields).
  On the wire it is one packstr (with its NUL) after plugin id 103.
* Verifying (``decode_jwt`` + ``copy_jwt_grants_to_cred`` + ``verify_internal``): signature with the chosen
  key (a key set's key past its ``exp`` refuses), alg HS256, ``exp`` not before now, ``ruid`` anyone or the
  verifier's uid, integer ``iat``/``uid``/``gid``, a string ``host`` and ``context``; an auth credential's
  context is ``auth`` or ``sack``. The message hash in the payload is then checked as munge's.

Clients never hold the key (not even root's): they ask a sack socket (``sack.py``) for their token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import socket
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from flurm.auth.authenticator import Authenticator, Decoded, Identity
from flurm.auth.errors import AuthServiceError, CredentialError
from flurm.auth.hash import HashType, compute_hash
from flurm.protocol.constants import AUTH_PLUGIN_SLURM, PROTOCOL_VERSION

if TYPE_CHECKING:
    from flurm.protocol.messages.credential import JobCredential

log = logging.getLogger(__name__)

PLUGIN_TYPE = "auth/slurm"
SLURM_AUTH_UID_ANY = 0xFFFFFFFF  # ruid: any uid may verify the token
DEFAULT_TTL = 60  # seconds (auth_slurm.h DEFAULT_TTL), unless AuthInfo says ttl=
KEY_FILE = "slurm.key"
JWKS_FILE = "slurm.jwks"
MIN_JWKS_KEY_LENGTH = 16  # bytes: "key lacks sufficient entropy" below
AUTH_CONTEXTS = frozenset({"auth", "sack"})  # what verify_internal accepts as an auth credential
_UID_MAX = 0xFFFFFFFF


class SackKeyError(AuthServiceError):
    """The key file cannot be used: SLURM's daemons die with this text (``fatal: ...``)."""


# -- keys -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SackKey:
    key: bytes
    kid: str | None = None
    exp: int = 0  # a key set's key expires (seconds since the epoch); 0: never

    def __repr__(self) -> str:  # never the key itself in a log
        return f"SackKey(kid={self.kid!r}, exp={self.exp}, {len(self.key)} bytes)"


@dataclass(frozen=True, slots=True)
class SackKeys:
    """The keys a daemon holds: the default one signs; ``by_kid`` (a key set only) verifies by kid."""

    default: SackKey
    by_kid: Mapping[str, SackKey] | None = None  # None: one slurm.key, a token's kid is ignored

    def for_kid(self, kid: str | None) -> SackKey:
        if self.by_kid is None or kid is None:
            return self.default
        key = self.by_kid.get(kid)
        if key is None:
            raise CredentialError(f"decode_jwt: could not find kid={kid}")
        return key


def key_paths(conf_path: str, env: Mapping[str, str]) -> tuple[str, str]:
    """(slurm.key, slurm.jwks) as init_internal finds them: the environment's, else beside slurm.conf."""
    conf_dir = os.path.dirname(conf_path) or "."
    key_file = env.get("SLURM_SACK_KEY") or os.path.join(conf_dir, KEY_FILE)
    jwks_file = env.get("SLURM_SACK_JWKS") or os.path.join(conf_dir, JWKS_FILE)
    return key_file, jwks_file


def check_key_permissions(path: str, slurm_user_uid: int) -> None:
    """internal.c ``_check_key_permissions``: fatal when the file is missing or open to others."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise SackKeyError(f"{PLUGIN_TYPE}: cannot stat '{path}': {exc.strerror}") from None
    if st.st_uid != 0 and slurm_user_uid and st.st_uid != slurm_user_uid:
        log.warning(
            "%s: '%s' owned by uid=%d, instead of SlurmUser(%d) or root",
            PLUGIN_TYPE,
            path,
            st.st_uid,
            slurm_user_uid,
        )
    if st.st_mode & stat.S_IRWXO:
        mode = stat.S_IMODE(st.st_mode) & 0o777
        raise SackKeyError(f"{PLUGIN_TYPE}: key file is insecure: '{path}' mode=0{mode:o}")


def parse_jwks(text: bytes, path: str) -> SackKeys:
    """A slurm.jwks key set (internal.c ``_read_keys_file``/``_build_key_list``); SackKeyError as SLURM's
    fatal() when a key is incomplete, not HS256/oct, shorter than 16 bytes, or kids/defaults repeat."""
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise SackKeyError(f"_read_keys_file: failed to deserialize keys file `{path}`") from None
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, list):
        raise SackKeyError("_read_keys_file: jwks file invalid")
    by_kid: dict[str, SackKey] = {}
    default: SackKey | None = None
    for entry in keys:
        if not isinstance(entry, dict):
            continue  # data_list_for_each hands over each element; a non-dict has no fields
        kid = entry.get("kid")
        if not isinstance(kid, str):
            raise SackKeyError("_build_key_list: failed to load kid field")
        if kid in by_kid:
            raise SackKeyError("_build_key_list: kid fields must be unique")
        for name, want in (("kty", "oct"), ("alg", "HS256")):
            value = entry.get(name)
            if not isinstance(value, str):
                raise SackKeyError(f"_build_key_list: failed to load {name} field")
            if value.lower() != want.lower():
                raise SackKeyError(f"_build_key_list: {name} field must be {want}")
        k = entry.get("k")
        if not isinstance(k, str):
            raise SackKeyError("_build_key_list: failed to load key field")
        try:
            raw = base64.urlsafe_b64decode(k + "=" * (-len(k) % 4))
        except (binascii.Error, ValueError):
            raise SackKeyError("_build_key_list: key failed to decode") from None
        if len(raw) < MIN_JWKS_KEY_LENGTH:
            raise SackKeyError("_build_key_list: key lacks sufficient entropy")
        exp = 0
        if "exp" in entry:
            try:
                exp = int(entry["exp"])  # data_get_int_converted: an integer or a numeric string
            except (TypeError, ValueError):
                raise SackKeyError("_build_key_list: invalid value for exp") from None
        key = SackKey(raw, kid, exp)
        use = entry.get("use")
        if isinstance(use, str) and use.lower() == "default":
            if default is not None:
                raise SackKeyError("_build_key_list: multiple default keys defined")
            default = key
        by_kid[kid] = key
    if not by_kid:
        raise SackKeyError("_read_keys_file: jwks file invalid")
    return SackKeys(default or next(iter(by_kid.values())), MappingProxyType(by_kid))


def load_keys(conf_path: str, env: Mapping[str, str] | None = None, *, slurm_user_uid: int = 0) -> SackKeys:
    """The keys of the cluster whose slurm.conf is ``conf_path``, as a SLURM daemon loads them at start."""
    key_file, jwks_file = key_paths(conf_path, os.environ if env is None else env)
    if os.path.exists(jwks_file):
        check_key_permissions(jwks_file, slurm_user_uid)
        try:
            text = _read(jwks_file)
        except OSError:
            raise SackKeyError(f"{PLUGIN_TYPE}: Could not load keys file ({jwks_file})") from None
        return parse_jwks(text, jwks_file)
    check_key_permissions(key_file, slurm_user_uid)
    try:
        key = _read(key_file)
    except OSError:
        key = b""
    if not key:  # an empty file cannot be mapped: create_mmap_buf fails
        raise SackKeyError(f"{PLUGIN_TYPE}: Could not load key file ({key_file})")
    return SackKeys(SackKey(key))


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


# -- tokens -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says (the claims SLURM reads; the rest in ``extra``)."""

    context: str
    uid: int
    gid: int
    host: str
    exp: int
    iat: int | None = None  # a token without one is accepted (its creation time is then unknown)
    ruid: int = SLURM_AUTH_UID_ANY
    ver: int | None = None
    cluster: str | None = None
    payload: bytes | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(obj: Mapping[str, Any]) -> bytes:
    # jansson's JSON_COMPACT | JSON_SORT_KEYS, UTF-8 as it is
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def _signature(key: bytes, signing_input: str) -> str:
    return _b64url(hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest())


def encode_token(claims: TokenClaims, key: SackKey) -> bytes:
    """The token create_internal makes for ``claims`` (extra claims merged, as jwt_add_grants_json)."""
    grants: dict[str, Any] = {
        "iat": claims.iat,
        "exp": claims.exp,
        "ruid": claims.ruid,
        "context": claims.context,
    }
    if claims.ver is not None:
        grants["ver"] = claims.ver
    if claims.cluster:
        grants["cluster"] = claims.cluster
    grants.update(claims.extra)
    grants.update(uid=claims.uid, gid=claims.gid, host=claims.host)
    if claims.payload:
        grants["payload"] = base64.b64encode(claims.payload).decode("ascii")
    if claims.iat is None:
        del grants["iat"]
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if key.kid is not None:
        header["kid"] = key.kid
    signing_input = _b64url(_json(header)) + "." + _b64url(_json(grants))
    return (signing_input + "." + _signature(key.key, signing_input)).encode("ascii")


def _int_claim(grants: Mapping[str, Any], name: str) -> int | None:
    """libjwt's jwt_get_grant_int: None when absent; CredentialError when not a JSON integer (EINVAL)."""
    if name not in grants:
        return None
    value = grants[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise CredentialError(f"jwt_get_grant_int failure for {name}")
    return value


def _segment(text: str, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(_unb64url(text))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise CredentialError(f"jwt_decode failure: malformed {what}") from None
    if not isinstance(obj, dict):
        raise CredentialError(f"jwt_decode failure: {what} is not a JSON object")
    return obj


def read_token(token: bytes, keys: SackKeys, *, now: float, decoder_uid: int) -> TokenClaims:
    """Verify ``token`` as ``decode_jwt(verify=true)`` and ``copy_jwt_grants_to_cred`` do; the caller
    checks the context (an auth credential's is auth or sack, a job credential's its own).
    Raises CredentialError with SLURM's reason."""
    try:
        text = token.decode("ascii")
    except UnicodeDecodeError:
        raise CredentialError("jwt_decode failure: token is not ASCII") from None
    parts = text.split(".")
    if len(parts) != 3:
        raise CredentialError("jwt_decode failure: not a JWS compact token")
    header = _segment(parts[0], "header")
    kid = header.get("kid")
    key = keys.for_kid(kid if isinstance(kid, str) else None)
    if key.exp and key.exp < now:
        raise CredentialError(f"decode_jwt: token received for expired key kid={key.kid}")
    alg = header.get("alg")
    # SLURM's own check after libjwt's (a defence against alg "none"): HS256 only
    if not isinstance(alg, str) or alg.upper() != "HS256":
        raise CredentialError(f"decode_jwt: no support for alg={alg}")
    expected = _signature(key.key, parts[0] + "." + parts[1])
    if not hmac.compare_digest(expected.encode("ascii"), parts[2].encode("ascii")):
        raise CredentialError("jwt_decode (with key) failure: signature does not match")
    grants = _segment(parts[1], "claims")
    try:
        expiration = _int_claim(grants, "exp")
    except CredentialError:
        expiration = None
    if expiration is None or expiration < now:
        raise CredentialError(f"decode_jwt: token expired at {expiration if expiration is not None else -1}")
    ruid = _int_claim(grants, "ruid")
    if ruid is None or (ruid != SLURM_AUTH_UID_ANY and ruid != decoder_uid):
        raise CredentialError(
            f"decode_jwt: asked to verify token with r_uid={ruid} for uid={decoder_uid}, rejecting"
        )
    iat = _int_claim(grants, "iat")
    ids = {name: _int_claim(grants, name) for name in ("uid", "gid")}
    for name, value in ids.items():
        # SLURM would take a missing uid/gid as (uid_t)-1; a token that names nobody proves nobody
        if value is None or not 0 <= value <= _UID_MAX:
            raise CredentialError(f"jwt_get_grant_int failure for {name}")
    host = grants.get("host")
    if not isinstance(host, str):
        raise CredentialError("jwt_get_grant failure for host")
    context = grants.get("context")
    if not isinstance(context, str):
        raise CredentialError("jwt_get_grant failure for context")
    cluster = grants.get("cluster")
    payload: bytes | None = None
    encoded = grants.get("payload")
    if isinstance(encoded, str):
        try:
            payload = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise CredentialError(
                "copy_jwt_grants_to_cred: xbase64_decode failed to decode payload"
            ) from None
    known = {"iat", "exp", "ver", "ruid", "context", "cluster", "uid", "gid", "host", "payload"}
    ver = grants.get("ver")
    return TokenClaims(
        context=context,
        uid=ids["uid"] or 0,
        gid=ids["gid"] or 0,
        host=host,
        exp=expiration,
        iat=iat,
        ruid=ruid,
        ver=ver if isinstance(ver, int) and not isinstance(ver, bool) else None,
        cluster=cluster if isinstance(cluster, str) else None,
        payload=payload,
        extra=MappingProxyType({k: v for k, v in grants.items() if k not in known}),
    )


def identity_claim(
    name: str | None,
    gecos: str | None,
    home: str | None,
    shell: str | None,
    gids: Sequence[int],
    gr_names: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``id`` claim of a job credential (util.c ``identity_to_data``): the user's passwd fields (a
    missing one null) and group ids, by group name when the credential names its groups
    (LaunchParameters=enable_nss_slurm), else as a list."""
    claim: dict[str, Any] = {"name": name, "gecos": gecos, "dir": home, "shell": shell}
    if gr_names:
        claim["groups"] = dict(zip(gr_names, gids, strict=True))
    elif gids:
        claim["gids"] = list(gids)
    return claim


def short_hostname() -> str:
    """xshort_hostname: this host's name up to its first dot (the ``host`` claim)."""
    return socket.gethostname().split(".", 1)[0]


# -- the authenticator ------------------------------------------------------------------------------


class SlurmAuthenticator(Authenticator):
    """auth/slurm as a SLURM daemon runs it (``internal``): flurm holds the key, signs its own
    credentials (context ``auth``) and verifies those of daemons (``auth``) and of clients whose sack
    socket minted them (``sack``: flurm's own, sackd's, a slurmd's).

    ``uid``/``gid``: whom flurm's credentials name (its process's); ``decoder_uid``: the uid a
    restricted token must be restricted to (flurm's process's, as SLURM's ``getuid()``).
    """

    plugin_id = AUTH_PLUGIN_SLURM

    def __init__(
        self,
        keys: SackKeys,
        *,
        cluster_name: str | None = None,
        hostname: str | None = None,
        ttl: int = DEFAULT_TTL,
        uid: int | None = None,
        gid: int | None = None,
        decoder_uid: int | None = None,
        clock: Callable[[], float] = time.time,
        block_null_hash: bool = False,
        block_zero_hash: bool = False,
    ) -> None:
        super().__init__(allow_replay=True, block_null_hash=block_null_hash, block_zero_hash=block_zero_hash)
        self.keys = keys
        self.cluster_name = cluster_name
        self.hostname = hostname if hostname is not None else short_hostname()
        self.ttl = ttl or DEFAULT_TTL
        self.uid = os.getuid() if uid is None else uid
        self.gid = os.getgid() if gid is None else gid
        self.decoder_uid = os.getuid() if decoder_uid is None else decoder_uid
        self.clock = clock

    def __repr__(self) -> str:
        return f"SlurmAuthenticator(cluster={self.cluster_name!r}, host={self.hostname!r}, ttl={self.ttl})"

    def make_token(
        self,
        context: str,
        payload: bytes,
        uid_restriction: int | None,
        *,
        uid: int | None = None,
        gid: int | None = None,
        version: int = PROTOCOL_VERSION,
        extra: Mapping[str, Any] | None = None,
    ) -> bytes:
        """create_internal: a token of ``context`` naming ``uid``/``gid`` (default: flurm's own)."""
        now = int(self.clock())
        claims = TokenClaims(
            context=context,
            uid=self.uid if uid is None else uid,
            gid=self.gid if gid is None else gid,
            host=self.hostname,
            iat=now,
            exp=now + self.ttl,
            ruid=SLURM_AUTH_UID_ANY if uid_restriction is None else uid_restriction,
            ver=version,
            cluster=self.cluster_name,
            payload=payload or None,
            extra=MappingProxyType(dict(extra or {})),
        )
        return encode_token(claims, self.keys.default)

    def launch_credential(
        self,
        packed: bytes,
        uid: int,
        gid: int,
        identity: Mapping[str, Any],
        slurmd_user_uid: int,
        *,
        version: int = PROTOCOL_VERSION,
    ) -> bytes:
        """cred/slurm's job credential (cred_slurm.c ``cred_p_create``): a ``launch`` token naming the job's
        user, restricted to SlurmdUser, whose payload is the credential packed as cred/munge packs it
        (without a signature) and whose ``id`` claim is :func:`identity_claim`'s. On the wire it takes the
        place of packed credential and signature: one packstr of the token."""
        return self.make_token(
            "launch", packed, slurmd_user_uid, uid=uid, gid=gid, version=version, extra={"id": dict(identity)}
        )

    def read(self, token: bytes, *, decoder_uid: int | None = None) -> TokenClaims:
        """The verified claims of a token of any context (job credentials' callers check theirs)."""
        uid = self.decoder_uid if decoder_uid is None else decoder_uid
        return read_token(token, self.keys, now=self.clock(), decoder_uid=uid)

    def encode(self, payload: bytes, uid_restriction: int | None = None) -> bytes:
        return self.make_token("auth", payload, uid_restriction)

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
        if plugin is not None and plugin != self.plugin_id:
            return self.select(plugin).sign(
                msg_type, body, uid_restriction=uid_restriction, hash_type=hash_type, version=version
            )
        payload = compute_hash(msg_type, body, hash_type=hash_type, version=version)
        # ver: the protocol the token's reader speaks, as the release that made it would put its own
        return self.make_token("auth", payload, uid_restriction, version=version)

    def decode(self, credential: bytes) -> Decoded:
        claims = self.read(credential)
        if claims.context not in AUTH_CONTEXTS:
            raise CredentialError(
                f"verify_internal: token of context {claims.context!r} is no auth credential"
            )
        return Decoded(Identity(claims.uid, claims.gid), claims.payload or b"")


@dataclass(frozen=True, slots=True)
class LaunchSealer:
    """cred/slurm's job credentials (a :class:`~flurm.protocol.messages.credential.CredentialSealer`):
    every credential, batch, prolog and kill ones too (cred_p_create mints a token whether or not
    slurmctld asks for a signature), becomes a ``launch`` token of the job's user restricted to
    SlurmdUser, minted as it is packed (its payload is the credential in the peer's version)."""

    auth: SlurmAuthenticator
    slurmd_user_uid: int

    def __call__(self, cred: JobCredential, packed: bytes, version: int) -> bytes:
        identity = identity_claim(
            cred.pw_name, cred.pw_gecos, cred.pw_dir, cred.pw_shell, cred.gids, cred.gr_names
        )
        return self.auth.launch_credential(
            packed, cred.uid, cred.gid, identity, self.slurmd_user_uid, version=version
        )
