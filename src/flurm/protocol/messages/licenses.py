"""License information RPCs of SLURM 22.05: REQUEST_LICENSE_INFO 1021 and RESPONSE_LICENSE_INFO 1022
(slurm_protocol_pack.c _pack_license_info_request_msg, licenses.c get_all_license_info/_pack_license).

Who sends 1021: ``scontrol show licenses [NAME]`` (it filters by name itself, and prints "No
licenses configured in Slurm." for an empty list); ``squeue``/``sinfo`` do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from flurm.protocol.constants import (
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    SLURM_MIN_PROTOCOL_VERSION,
    MsgType,
)
from flurm.protocol.messages.base import Message, register
from flurm.protocol.messages.layout import STR, TIME, U8, U32, VersionedLayout, since
from flurm.protocol.versions import NEWER, SERVED, check_layout
from flurm.protocol.wire import DecodeError, Reader, Writer

_MIN_LICENSE_RECORD = 4 + 4 + 4 + 4 + 1  # an empty name (u32 length 0) and the counts


@register(MsgType.REQUEST_LICENSE_INFO)
@dataclass(frozen=True, slots=True)
class LicenseInfoRequest(Message):
    """1021: time last_update, u16 show_flags. 8001 rc 1900 when nothing changed since last_update."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)  # alike in every release

    last_update: int = 0
    show_flags: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.time(self.last_update)
        w.u16(self.show_flags)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.time(), r.u16())


@dataclass(frozen=True, slots=True)
class LicenseRecord:
    """One license: str name, u32 total, u32 in use, u32 reserved (by reservations), u8 remote
    (0 local from slurm.conf, 1/2 from the accounting database). Clients compute Free themselves."""

    name: str | None = None
    total: int = 0
    in_use: int = 0
    reserved: int = 0
    remote: int = 0
    # 24.11 on (remote licenses' consumption as last read from the database, and when)
    last_consumed: int = 0
    last_deficit: int = 0
    last_update: int = 0
    # 26.05 on
    mode: int = 0
    nodes: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.raw(LICENSE_RECORD.pack(self, version))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return LICENSE_RECORD.unpacker(version)(cls, r)


# _pack_license of 22.05, 24.11 and 26.05
LICENSE_RECORD = VersionedLayout(
    LicenseRecord,
    (
        ("name", STR),
        ("total", U32),
        ("in_use", U32),
        ("reserved", U32),
        ("remote", U8),
        ("last_consumed", U32, since(SLURM_24_11_PROTOCOL_VERSION)),
        ("last_deficit", U32, since(SLURM_24_11_PROTOCOL_VERSION)),
        ("last_update", TIME, since(SLURM_24_11_PROTOCOL_VERSION)),
        ("mode", U8, since(SLURM_26_05_PROTOCOL_VERSION)),
        ("nodes", STR, since(SLURM_26_05_PROTOCOL_VERSION)),
    ),
    SERVED,
)


@register(MsgType.RESPONSE_LICENSE_INFO)
@dataclass(frozen=True, slots=True)
class LicenseInfoResponse(Message):
    """1022: u32 record count, time last_update, then the records."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    last_update: int = 0
    licenses: tuple[LicenseRecord, ...] = ()

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_MIN_PROTOCOL_VERSION, "RESPONSE_LICENSE_INFO", NEWER)
        w.u32(len(self.licenses))
        w.time(self.last_update)
        for lic in self.licenses:
            lic.pack(w, version)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        count = r.u32()
        last_update = r.time()
        if count > r.remaining // _MIN_LICENSE_RECORD:
            raise DecodeError(f"RESPONSE_LICENSE_INFO: {count} records do not fit in {r.remaining} bytes")
        return cls(last_update, tuple(LicenseRecord.unpack(r, version) for _ in range(count)))
