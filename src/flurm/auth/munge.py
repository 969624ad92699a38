"""MUNGE credentials through libmunge (Debian's libmunge2, ``libmunge.so.2``) and ctypes.

No munge/unmunge process is started: each call talks to munged over its unix socket from inside this process.

Thread safety: every :meth:`MungeContext.encode` / :meth:`MungeContext.decode` builds its own ``munge_ctx_t``
and destroys it before returning (a libmunge context must not be shared between threads; creating one is a
malloc). A :class:`MungeContext` only holds settings, so one instance may be used from any number of threads.
ctypes releases the GIL for the duration of the foreign call, so calls from a thread pool run in parallel.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import socket
import struct
import threading
import time
from dataclasses import dataclass
from enum import IntEnum

from flurm.protocol.constants import SlurmRC
from flurm.protocol.errors import FlurmError

LIBMUNGE = "libmunge.so.2"

# uid_t/gid_t value meaning "no restriction" (MUNGE_UID_ANY / MUNGE_GID_ANY = -1 as an unsigned 32-bit id)
MUNGE_ID_ANY = 0xFFFFFFFF


class MungeOpt(IntEnum):
    """munge_opt_t: the options of munge_ctx_set/munge_ctx_get."""

    CIPHER_TYPE = 0
    MAC_TYPE = 1
    ZIP_TYPE = 2
    REALM = 3
    TTL = 4
    ADDR4 = 5
    ENCODE_TIME = 6
    DECODE_TIME = 7
    SOCKET = 8
    UID_RESTRICTION = 9
    GID_RESTRICTION = 10


class MungeErr(IntEnum):
    """munge_err_t."""

    SUCCESS = 0
    SNAFU = 1
    BAD_ARG = 2
    BAD_LENGTH = 3
    OVERFLOW = 4
    NO_MEMORY = 5
    SOCKET = 6
    TIMEOUT = 7
    BAD_CRED = 8
    BAD_VERSION = 9
    BAD_CIPHER = 10
    BAD_MAC = 11
    BAD_ZIP = 12
    BAD_REALM = 13
    CRED_INVALID = 14
    CRED_EXPIRED = 15
    CRED_REWOUND = 16
    CRED_REPLAYED = 17
    CRED_UNAUTHORIZED = 18


# Errors for which munge_decode still returns the payload, uid and gid (munge.h): the credential is genuine,
# but too old, from the future, or already seen.
DECODED_DESPITE_ERROR = frozenset({MungeErr.CRED_EXPIRED, MungeErr.CRED_REWOUND, MungeErr.CRED_REPLAYED})


@dataclass(frozen=True, slots=True)
class MungeCredential:
    """What munge_decode reported about one credential."""

    uid: int  # of the process that encoded it
    gid: int
    payload: bytes
    encode_time: int  # seconds since the epoch
    decode_time: int  # seconds since the epoch
    ttl: int  # seconds
    origin_addr: str  # IPv4 address of the encoding host ("0.0.0.0" if unknown)
    uid_restriction: int | None  # None: any uid may decode it
    gid_restriction: int | None  # None: any gid may decode it
    cipher: int
    mac: int
    zip: int


class MungeError(FlurmError):
    """A libmunge call failed (the authenticator turns it into a CredentialError or AuthServiceError).

    ``code`` is the munge_err_t (an int outside :class:`MungeErr` stays an int); ``message`` is libmunge's
    text (munge_ctx_strerror, more detailed than munge_strerror). For CRED_EXPIRED/REWOUND/REPLAYED
    ``credential`` still holds what the credential said, as libmunge returns it anyway.
    """

    rc = SlurmRC.ESLURM_AUTH_CRED_INVALID

    def __init__(self, code: int, message: str, credential: MungeCredential | None = None) -> None:
        try:
            self.code: MungeErr | int = MungeErr(code)
        except ValueError:
            self.code = code
        self.message = message
        self.credential = credential
        name = self.code.name if isinstance(self.code, MungeErr) else str(code)
        super().__init__(f"munge error {code} ({name}): {message}")


class _Lib:
    """The libmunge and libc functions used, with their C signatures."""

    def __init__(self, name: str) -> None:
        lib = ctypes.CDLL(name, use_errno=True)
        libc_name = ctypes.util.find_library("c") or "libc.so.6"
        libc = ctypes.CDLL(libc_name)

        self.ctx_create = lib.munge_ctx_create
        self.ctx_create.argtypes = []
        self.ctx_create.restype = ctypes.c_void_p

        self.ctx_destroy = lib.munge_ctx_destroy
        self.ctx_destroy.argtypes = [ctypes.c_void_p]
        self.ctx_destroy.restype = None

        self.ctx_strerror = lib.munge_ctx_strerror
        self.ctx_strerror.argtypes = [ctypes.c_void_p]
        self.ctx_strerror.restype = ctypes.c_char_p

        # munge_ctx_set/get are variadic: (ctx, int opt, ...). ctypes passes the extra arguments with the
        # types given at the call, which is what the C varargs convention expects on Linux x86-64/aarch64.
        self.ctx_set = lib.munge_ctx_set
        self.ctx_set.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self.ctx_set.restype = ctypes.c_int

        self.ctx_get = lib.munge_ctx_get
        self.ctx_get.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self.ctx_get.restype = ctypes.c_int

        self.strerror = lib.munge_strerror
        self.strerror.argtypes = [ctypes.c_int]
        self.strerror.restype = ctypes.c_char_p

        self.encode = lib.munge_encode
        self.encode.argtypes = [
            ctypes.POINTER(ctypes.c_void_p),  # char **cred (malloc'd, NUL-terminated)
            ctypes.c_void_p,  # munge_ctx_t
            ctypes.c_void_p,  # const void *buf
            ctypes.c_int,  # int len
        ]
        self.encode.restype = ctypes.c_int

        self.decode = lib.munge_decode
        self.decode.argtypes = [
            ctypes.c_char_p,  # const char *cred
            ctypes.c_void_p,  # munge_ctx_t
            ctypes.POINTER(ctypes.c_void_p),  # void **buf (malloc'd)
            ctypes.POINTER(ctypes.c_int),  # int *len
            ctypes.POINTER(ctypes.c_uint32),  # uid_t *uid
            ctypes.POINTER(ctypes.c_uint32),  # gid_t *gid
        ]
        self.decode.restype = ctypes.c_int

        self.free = libc.free
        self.free.argtypes = [ctypes.c_void_p]
        self.free.restype = None


_lib_lock = threading.Lock()
_lib_cache: _Lib | None = None


def _load() -> _Lib:
    global _lib_cache
    if _lib_cache is None:
        with _lib_lock:
            if _lib_cache is None:
                try:
                    _lib_cache = _Lib(LIBMUNGE)
                except OSError as exc:
                    raise MungeError(MungeErr.SNAFU, f"cannot load {LIBMUNGE}: {exc}") from exc
    return _lib_cache


def munge_available() -> bool:
    """Whether libmunge can be loaded (munged itself may still be down)."""
    try:
        _load()
    except MungeError:
        return False
    return True


def munge_strerror(code: int) -> str:
    """munge_strerror: libmunge's short text for an error code."""
    text: bytes | None = _load().strerror(code)
    return text.decode(errors="replace") if text else f"munge error {code}"


class _Ctx:
    """One munge_ctx_t for the duration of a with-block."""

    __slots__ = ("handle", "lib")

    def __init__(self, lib: _Lib) -> None:
        self.lib = lib
        handle = lib.ctx_create()
        if not handle:
            raise MungeError(MungeErr.NO_MEMORY, "munge_ctx_create failed")
        self.handle: int = handle

    def __enter__(self) -> _Ctx:
        return self

    def __exit__(self, *exc: object) -> None:
        self.lib.ctx_destroy(self.handle)

    def error_text(self, code: int) -> str:
        text: bytes | None = self.lib.ctx_strerror(self.handle)
        if text:
            return text.decode(errors="replace")
        return munge_strerror(code)

    def set(self, opt: MungeOpt, value: ctypes.c_char_p | ctypes.c_int | ctypes.c_uint32) -> None:
        rc = self.lib.ctx_set(self.handle, opt, value)
        if rc != MungeErr.SUCCESS:
            raise MungeError(rc, f"munge_ctx_set({opt.name}): {self.error_text(rc)}")

    def get_int(self, opt: MungeOpt) -> int:
        value = ctypes.c_int(0)
        self.lib.ctx_get(self.handle, opt, ctypes.byref(value))
        return value.value

    def get_id(self, opt: MungeOpt) -> int | None:
        value = ctypes.c_uint32(MUNGE_ID_ANY)
        self.lib.ctx_get(self.handle, opt, ctypes.byref(value))
        return None if value.value == MUNGE_ID_ANY else value.value

    def get_time(self, opt: MungeOpt) -> int:
        value = ctypes.c_long(0)  # time_t
        self.lib.ctx_get(self.handle, opt, ctypes.byref(value))
        return value.value

    def get_addr4(self) -> str:
        value = ctypes.c_uint32(0)  # struct in_addr, network byte order in memory
        self.lib.ctx_get(self.handle, MungeOpt.ADDR4, ctypes.byref(value))
        return socket.inet_ntoa(struct.pack("=I", value.value))


class MungeContext:
    """Settings for talking to one munged; :meth:`encode` and :meth:`decode` are safe from any thread.

    ``socket_path`` None means libmunge's default socket (/run/munge/munge.socket.2). ``ttl`` None means
    munged's default (300 s); it is the credential's lifetime, applied by the decoding munged.
    On EMUNGE_SOCKET (munged down or too busy) a call is retried ``socket_retries`` times,
    ``retry_delay`` seconds apart, like SLURM's auth/munge (20 x 0.1 s).
    """

    def __init__(
        self,
        socket_path: str | None = None,
        ttl: int | None = None,
        *,
        socket_retries: int = 20,
        retry_delay: float = 0.1,
    ) -> None:
        if ttl is not None and ttl < -1:
            raise ValueError(f"munge ttl must be >= -1 (-1 = munged's maximum), not {ttl}")
        self.socket_path = socket_path
        self.ttl = ttl
        self.socket_retries = socket_retries
        self.retry_delay = retry_delay
        self._lib = _load()
        self._socket_arg = socket_path.encode() if socket_path is not None else None

    def __repr__(self) -> str:
        return f"MungeContext(socket_path={self.socket_path!r}, ttl={self.ttl!r})"

    def _setup(self, ctx: _Ctx) -> None:
        if self._socket_arg is not None:
            ctx.set(MungeOpt.SOCKET, ctypes.c_char_p(self._socket_arg))

    def encode(self, payload: bytes = b"", uid_restriction: int | None = None) -> bytes:
        """A new credential ("MUNGE:...:", ASCII, without NUL) carrying ``payload``.

        With ``uid_restriction`` only that uid may decode it (root included, unless munged was built to let
        root decode everything).
        """
        if uid_restriction is not None and not 0 <= uid_restriction <= MUNGE_ID_ANY:
            raise ValueError(f"uid_restriction out of range: {uid_restriction}")
        lib = self._lib
        attempt = 0
        while True:
            with _Ctx(lib) as ctx:
                self._setup(ctx)
                if self.ttl is not None:
                    ctx.set(MungeOpt.TTL, ctypes.c_int(self.ttl))
                if uid_restriction is not None:
                    ctx.set(MungeOpt.UID_RESTRICTION, ctypes.c_uint32(uid_restriction))
                out = ctypes.c_void_p()
                rc = lib.encode(ctypes.byref(out), ctx.handle, payload or None, len(payload))
                if rc == MungeErr.SUCCESS and out.value:
                    try:
                        return ctypes.string_at(out.value)
                    finally:
                        lib.free(out.value)
                if out.value:
                    lib.free(out.value)
                message = ctx.error_text(rc)
            if rc == MungeErr.SOCKET and attempt < self.socket_retries:
                attempt += 1
                time.sleep(self.retry_delay)
                continue
            raise MungeError(rc, message)

    def decode(self, cred: bytes) -> MungeCredential:
        """Validate ``cred`` with munged and return what it carries.

        Raises :class:`MungeError`; for CRED_EXPIRED, CRED_REWOUND and CRED_REPLAYED the error's
        ``credential`` is filled in (the caller decides whether e.g. a replay is acceptable).
        """
        if not cred or b"\0" in cred:
            # libmunge would read up to the first NUL and ignore the rest; refuse instead.
            raise MungeError(MungeErr.BAD_CRED, "credential is empty or contains a NUL byte")
        lib = self._lib
        attempt = 0
        while True:
            with _Ctx(lib) as ctx:
                self._setup(ctx)
                buf = ctypes.c_void_p()
                length = ctypes.c_int(0)
                uid = ctypes.c_uint32(MUNGE_ID_ANY)
                gid = ctypes.c_uint32(MUNGE_ID_ANY)
                rc = lib.decode(
                    cred,
                    ctx.handle,
                    ctypes.byref(buf),
                    ctypes.byref(length),
                    ctypes.byref(uid),
                    ctypes.byref(gid),
                )
                payload = b""
                if buf.value:
                    try:
                        payload = ctypes.string_at(buf.value, length.value)
                    finally:
                        lib.free(buf.value)
                if rc == MungeErr.SUCCESS or rc in DECODED_DESPITE_ERROR:
                    result = MungeCredential(
                        uid=uid.value,
                        gid=gid.value,
                        payload=payload,
                        encode_time=ctx.get_time(MungeOpt.ENCODE_TIME),
                        decode_time=ctx.get_time(MungeOpt.DECODE_TIME),
                        ttl=ctx.get_int(MungeOpt.TTL),
                        origin_addr=ctx.get_addr4(),
                        uid_restriction=ctx.get_id(MungeOpt.UID_RESTRICTION),
                        gid_restriction=ctx.get_id(MungeOpt.GID_RESTRICTION),
                        cipher=ctx.get_int(MungeOpt.CIPHER_TYPE),
                        mac=ctx.get_int(MungeOpt.MAC_TYPE),
                        zip=ctx.get_int(MungeOpt.ZIP_TYPE),
                    )
                    if rc == MungeErr.SUCCESS:
                        return result
                    raise MungeError(rc, ctx.error_text(rc), result)
                message = ctx.error_text(rc)
            if rc == MungeErr.SOCKET and attempt < self.socket_retries:
                attempt += 1
                time.sleep(self.retry_delay)
                continue
            raise MungeError(rc, message)
