"""Configless SLURM: slurmd (``--conf-server``) and clients fetch their configuration files.

REQUEST_CONFIG 2015 carries u32 flags (CONFIG_REQUEST_SLURMD 0x1: a slurmd asks, and gets the
files slurmd needs; else a client's shorter list). RESPONSE_CONFIG 2016 (pack_config_response_msg,
21.08 and later): a list of config_file_t (packbool exists, packstr name, packstr content), then
the SlurmdSpoolDir (slurmd only). A list that is missing packs its count as NO_VAL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from flurm.protocol.constants import NO_VAL, MsgType
from flurm.protocol.messages.base import Message, register
from flurm.protocol.wire import DecodeError, Reader, Writer

CONFIG_REQUEST_SLURMD = 0x1


@register(MsgType.REQUEST_CONFIG)
@dataclass(frozen=True, slots=True)
class ConfigRequest(Message):
    """2015: u32 flags."""

    flags: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.u32(self.flags)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.u32())


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """One file: its name (relative to the configuration directory), whether it exists, its text."""

    name: str | None
    exists: bool = True
    content: str | None = None

    def pack(self, w: Writer) -> None:
        w.u8(1 if self.exists else 0)
        w.string(self.name)
        w.string(self.content)

    @classmethod
    def unpack(cls, r: Reader) -> ConfigFile:
        exists = bool(r.u8())
        return cls(r.string(), exists, r.string())


@register(MsgType.RESPONSE_CONFIG)
@dataclass(frozen=True, slots=True)
class ConfigResponse(Message):
    """2016 (also the body of REQUEST_RECONFIGURE_WITH_CONFIG 1004)."""

    files: tuple[ConfigFile, ...] | None = ()
    slurmd_spooldir: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        if self.files is None:
            w.u32(NO_VAL)
        else:
            w.u32(len(self.files))
            for f in self.files:
                f.pack(w)
        w.string(self.slurmd_spooldir)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        count = r.u32()
        files: tuple[ConfigFile, ...] | None = None
        if count != NO_VAL:
            if count > r.remaining:
                raise DecodeError(f"config file count {count} larger than the message")
            files = tuple(ConfigFile.unpack(r) for _ in range(count))
        return cls(files, r.string())


__all__ = ["CONFIG_REQUEST_SLURMD", "ConfigFile", "ConfigRequest", "ConfigResponse"]
