"""Pieces shared by the job message bodies: the select plugin data."""

from __future__ import annotations

import struct

from flurm.protocol.wire import DecodeError, EncodeError, Reader

_U32 = struct.Struct(">I")

# select plugins whose per-job data is empty on the wire (cons_res, linear, cons_tres);
# the Cray variants pack a payload that flurm does not speak.
SELECT_PLUGIN_IDS = frozenset((101, 102, 109))


class SelectPluginCodec:
    """select_g_select_jobinfo_pack: u32 plugin id; no job payload for the supported plugins."""

    def pack(self, value: int) -> bytes:
        if value not in SELECT_PLUGIN_IDS:
            raise EncodeError(f"select plugin id {value!r} is not supported")
        return _U32.pack(value)

    def unpack(self, r: Reader) -> int:
        plugin_id = r.u32()
        if plugin_id not in SELECT_PLUGIN_IDS:
            raise DecodeError(f"select plugin id {plugin_id} is not supported")
        return plugin_id

    def skip(self, data: bytes, pos: int, end: int) -> int:
        return pos + 4


SELECT_PLUGIN = SelectPluginCodec()
