"""License information RPCs of SLURM 22.05: REQUEST_LICENSE_INFO 1021 and RESPONSE_LICENSE_INFO 1022
(slurm_protocol_pack.c _pack_license_info_request_msg, licenses.c get_all_license_info/_pack_license).

Who sends 1021: ``scontrol show licenses [NAME]`` (it filters by name itself, and prints "No
licenses configured in Slurm." for an empty list); ``squeue``/``sinfo`` do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from flurm.protocol.constants import SLURM_MIN_PROTOCOL_VERSION, MsgType
from flurm.protocol.messages.base import Message, register
from flurm.protocol.versions import check_layout
from flurm.protocol.wire import DecodeError, Reader, Writer

_MIN_LICENSE_RECORD = 4 + 4 + 4 + 4 + 1  # an empty name (u32 length 0) and the counts


@register(MsgType.REQUEST_LICENSE_INFO)
@dataclass(frozen=True, slots=True)
class LicenseInfoRequest(Message):
    """1021: time last_update, u16 show_flags. 8001 rc 1900 when nothing changed since last_update."""

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

    def pack(self, w: Writer, version: int) -> None:
        w.string(self.name)
        w.u32(self.total)
        w.u32(self.in_use)
        w.u32(self.reserved)
        w.u8(self.remote)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.string(), r.u32(), r.u32(), r.u32(), r.u8())


@register(MsgType.RESPONSE_LICENSE_INFO)
@dataclass(frozen=True, slots=True)
class LicenseInfoResponse(Message):
    """1022: u32 record count, time last_update, then the records."""

    last_update: int = 0
    licenses: tuple[LicenseRecord, ...] = ()

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_MIN_PROTOCOL_VERSION, "RESPONSE_LICENSE_INFO")
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
