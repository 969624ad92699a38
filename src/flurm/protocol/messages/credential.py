"""The job credential of SLURM 22.05 (slurm_cred_t as packed by slurm_cred.c), and what it carries.

A credential travels inside REQUEST_BATCH_JOB_LAUNCH 4005 (after its own u16 cred_version),
kill_job_msg_t (6011/6009/6013/6016, when has_cred is 1), REQUEST_LAUNCH_PROLOG 6017 and the
step-create reply. On the wire it is the packed fields followed by ``packmem(signature)``; an
unsigned credential ends with a bare ``u32 0``.

Signing is not done here. :meth:`JobCredential.signed_payload` gives the exact bytes the
signature covers (munge_encode of them, payload-checked by slurmd against the bytes it received),
and :meth:`JobCredential.with_signature` attaches the result ("MUNGE:...:" plus its NUL).

Also here: the step id and the GRES state records that credentials and kill messages carry
(empty lists pack as ``u16 0``).

From 24.11 (cred_common.c cred_create) the credential also carries the job's node addresses, end and
start time, extra, oversubscribe, licenses and the switch plugin's step info; 26.05 adds exclusive and
qos. The step id carries the job's sluid from 24.11. A 24.11/26.05 slurmd still takes the batch,
prolog and kill credentials unsigned from its controller (slurmctld makes them with sign_it false);
it checks the signature of a step credential only.

With CredType=cred/slurm (24.11 on) every credential, batch, prolog and kill ones included, travels as
one packstr of a ``launch`` token (auth/slurm's JWT) whose payload is the packed credential: the
credential carries either the token it was decoded with (``token``) or a :class:`CredentialSealer`
that mints one from the packed fields of the version it is packed in (``sealer``; auth/slurm_auth.py).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Protocol, Self

from flurm.protocol.constants import (
    NO_VAL,
    NO_VAL16,
    PROTOCOL_VERSION,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
)
from flurm.protocol.frame import Address
from flurm.protocol.frame import _read_address as read_address
from flurm.protocol.frame import _write_address as write_address
from flurm.protocol.versions import NEWER, check_layout
from flurm.protocol.wire import Bitmap, DecodeError, EncodeError, Reader, Writer

GRES_MAGIC = 0x438A34D4


def _flag(r: Reader) -> bool:
    """A u8 "something follows" marker: SLURM treats any non-zero value as true."""
    return r.u8() != 0


def _bitmaps(r: Reader, n: int) -> tuple[Bitmap | None, ...]:
    if n > r.remaining // 4:
        raise DecodeError(f"{n} bitmaps do not fit in {r.remaining} bytes")
    return tuple(r.bitmap() for _ in range(n))


def _array_pair_u16_u32(r: Reader, n: int, what: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two arrays that SLURM sends only when a count n > 0 precedes them; each repeats n."""
    if n == 0:
        return (), ()
    first = r.u16_array()
    second = r.u32_array()
    if len(first) != n or len(second) != n:
        raise DecodeError(f"{what}: arrays of {len(first)}/{len(second)} elements, expected {n}")
    return tuple(first), tuple(second)


def _array_pair_u64_u32(r: Reader, n: int, what: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if n == 0:
        return (), ()
    first = r.u64_array()
    second = r.u32_array()
    if len(first) != n or len(second) != n:
        raise DecodeError(f"{what}: arrays of {len(first)}/{len(second)} elements, expected {n}")
    return tuple(first), tuple(second)


def _pack_per_node_arrays(
    w: Writer, arrays: tuple[tuple[int, ...] | None, ...] | None, node_cnt: int, what: str
) -> None:
    """From 24.11: for each node a u8 "an array follows" and that node's u64 array (GRES per bit)."""
    if arrays is not None and len(arrays) != node_cnt:
        raise EncodeError(f"{what} needs one entry per node ({node_cnt}), got {len(arrays)}")
    for i in range(node_cnt):
        values = arrays[i] if arrays is not None else None
        if values is None:
            w.u8(0)
        else:
            w.u8(1)
            w.u64_array(values)


def _unpack_per_node_arrays(r: Reader, node_cnt: int) -> tuple[tuple[int, ...] | None, ...] | None:
    if node_cnt > r.remaining:
        raise DecodeError(f"{node_cnt} per-node GRES arrays do not fit in {r.remaining} bytes")
    arrays = tuple(tuple(r.u64_array()) if _flag(r) else None for _ in range(node_cnt))
    return arrays if any(a is not None for a in arrays) else None


def _same_length(what: str, *arrays: tuple[int, ...]) -> int:
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise EncodeError(f"{what}: arrays must have the same length, got {[len(a) for a in arrays]}")
    return n


# -- step id -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepId:
    """slurm_step_id_t (pack_step_id): [24.11 on: u64 sluid], u32 job_id, u32 step_id, u32 step_het_comp
    (NO_VAL unless a het step).

    step_id NO_VAL means "the whole job"; SLURM_BATCH_SCRIPT 0xfffffffb is the batch step,
    SLURM_EXTERN_CONT 0xfffffffc the extern step. ``sluid`` is the job's unique id (0: none; a 26.05
    slurmstepd then sets no SLURM_JOB_SLUID).
    """

    job_id: int
    step_id: int = NO_VAL
    step_het_comp: int = NO_VAL
    sluid: int = 0

    def pack(self, w: Writer, version: int) -> None:
        if version >= SLURM_24_11_PROTOCOL_VERSION:
            w.u64(self.sluid)
        w.u32(self.job_id)
        w.u32(self.step_id)
        w.u32(self.step_het_comp)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        sluid = r.u64() if version >= SLURM_24_11_PROTOCOL_VERSION else 0
        return cls(r.u32(), r.u32(), r.u32(), sluid)


def pack_job_step(w: Writer, job_id: int, step: StepId | None, version: int, step_id: int = NO_VAL) -> None:
    """A job named by its id, or from 26.05 by a whole step id (sluid included) where earlier releases
    send only the job id: ``step`` as a 26.05 peer sent it, else the job's with ``step_id``."""
    if version >= SLURM_26_05_PROTOCOL_VERSION:
        (step or StepId(job_id, step_id)).pack(w, version)
    else:
        w.u32(job_id)


def unpack_job_step(r: Reader, version: int) -> tuple[int, StepId | None]:
    """(job id, the step id as 26.05 sent it or None)."""
    if version >= SLURM_26_05_PROTOCOL_VERSION:
        step = StepId.unpack(r, version)
        return step.job_id, step
    return r.u32(), None


# -- GRES state records ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GresJobState:
    """One record of gres_job_state_pack (a job's GRES request and allocation)."""

    plugin_id: int
    cpus_per_gres: int = 0
    flags: int = 0
    gres_per_job: int = 0
    gres_per_node: int = 0
    gres_per_socket: int = 0
    gres_per_task: int = 0
    mem_per_gres: int = 0  # MiB
    ntasks_per_gres: int = 0
    total_gres: int = 0
    type_name: str | None = None
    node_cnt: int = 0
    gres_cnt_node_alloc: tuple[int, ...] | None = None
    gres_bit_alloc: tuple[Bitmap | None, ...] | None = None  # one per node
    gres_bit_step_alloc: tuple[Bitmap | None, ...] | None = None  # one per node
    gres_cnt_step_alloc: tuple[int, ...] | None = None  # one per node
    # from 24.11: per node, the count of each bit of gres_bit_alloc (shared GRES), else None
    gres_per_bit_alloc: tuple[tuple[int, ...] | None, ...] | None = None
    gres_per_bit_step_alloc: tuple[tuple[int, ...] | None, ...] | None = None

    def pack(self, w: Writer, version: int) -> None:
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        w.u32(GRES_MAGIC)
        w.u32(self.plugin_id)
        w.u16(self.cpus_per_gres)
        w.u16(self.flags)
        w.u64(self.gres_per_job)
        w.u64(self.gres_per_node)
        w.u64(self.gres_per_socket)
        w.u64(self.gres_per_task)
        w.u64(self.mem_per_gres)
        w.u16(self.ntasks_per_gres)
        w.u64(self.total_gres)
        w.string(self.type_name)
        w.u32(self.node_cnt)
        _pack_node_counts(w, self.gres_cnt_node_alloc, self.node_cnt)
        _pack_optional_bitmaps(w, self.gres_bit_alloc, self.node_cnt, "gres_bit_alloc")
        if newer:
            _pack_per_node_arrays(w, self.gres_per_bit_alloc, self.node_cnt, "gres_per_bit_alloc")
        _pack_optional_bitmaps(w, self.gres_bit_step_alloc, self.node_cnt, "gres_bit_step_alloc")
        if self.gres_cnt_step_alloc is None:
            w.u8(0)
        else:
            if len(self.gres_cnt_step_alloc) != self.node_cnt:
                raise EncodeError("gres_cnt_step_alloc needs one value per node")
            w.u8(1)
            for v in self.gres_cnt_step_alloc:
                w.u64(v)
        if newer:
            _pack_per_node_arrays(w, self.gres_per_bit_step_alloc, self.node_cnt, "gres_per_bit_step_alloc")

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        _expect_gres_magic(r)
        plugin_id = r.u32()
        cpus_per_gres, flags = r.u16(), r.u16()
        per_job, per_node, per_socket, per_task, mem = r.u64(), r.u64(), r.u64(), r.u64(), r.u64()
        ntasks_per_gres, total_gres, type_name = r.u16(), r.u64(), r.string()
        node_cnt = _node_cnt(r)
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        cnt_node_alloc = _node_counts(r, node_cnt)
        bit_alloc = _bitmaps(r, node_cnt) if _flag(r) else None
        per_bit_alloc = _unpack_per_node_arrays(r, node_cnt) if newer else None
        bit_step_alloc = _bitmaps(r, node_cnt) if _flag(r) else None
        cnt_step_alloc = None
        if _flag(r):
            if node_cnt > r.remaining // 8:
                raise DecodeError(f"gres_cnt_step_alloc: {node_cnt} values do not fit")
            cnt_step_alloc = tuple(r.u64() for _ in range(node_cnt))
        per_bit_step_alloc = _unpack_per_node_arrays(r, node_cnt) if newer else None
        return cls(
            plugin_id,
            cpus_per_gres,
            flags,
            per_job,
            per_node,
            per_socket,
            per_task,
            mem,
            ntasks_per_gres,
            total_gres,
            type_name,
            node_cnt,
            cnt_node_alloc,
            bit_alloc,
            bit_step_alloc,
            cnt_step_alloc,
            per_bit_alloc,
            per_bit_step_alloc,
        )


@dataclass(frozen=True, slots=True)
class GresStepState:
    """One record of gres_step_state_pack (a step's GRES request and allocation)."""

    plugin_id: int
    cpus_per_gres: int = 0
    flags: int = 0
    gres_per_step: int = 0
    gres_per_node: int = 0
    gres_per_socket: int = 0
    gres_per_task: int = 0
    mem_per_gres: int = 0  # MiB
    total_gres: int = 0
    node_cnt: int = 0
    node_in_use: Bitmap | None = None
    gres_cnt_node_alloc: tuple[int, ...] | None = None
    gres_bit_alloc: tuple[Bitmap | None, ...] | None = None  # one per node
    type_name: str | None = None  # from 24.11
    gres_per_bit_alloc: tuple[tuple[int, ...] | None, ...] | None = None  # from 24.11, as the job's

    def pack(self, w: Writer, version: int) -> None:
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        w.u32(GRES_MAGIC)
        w.u32(self.plugin_id)
        w.u16(self.cpus_per_gres)
        w.u16(self.flags)
        w.u64(self.gres_per_step)
        w.u64(self.gres_per_node)
        w.u64(self.gres_per_socket)
        w.u64(self.gres_per_task)
        w.u64(self.mem_per_gres)
        w.u64(self.total_gres)
        if newer:
            w.string(self.type_name)
        w.u32(self.node_cnt)
        w.bitmap(self.node_in_use)
        _pack_node_counts(w, self.gres_cnt_node_alloc, self.node_cnt)
        _pack_optional_bitmaps(w, self.gres_bit_alloc, self.node_cnt, "gres_bit_alloc")
        if newer:
            _pack_per_node_arrays(w, self.gres_per_bit_alloc, self.node_cnt, "gres_per_bit_alloc")

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        _expect_gres_magic(r)
        plugin_id = r.u32()
        cpus_per_gres, flags = r.u16(), r.u16()
        per_step, per_node, per_socket, per_task, mem, total = (r.u64() for _ in range(6))
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        type_name = r.string() if newer else None
        node_cnt = _node_cnt(r)
        node_in_use = r.bitmap()
        cnt_node_alloc = _node_counts(r, node_cnt)
        bit_alloc = _bitmaps(r, node_cnt) if _flag(r) else None
        per_bit_alloc = _unpack_per_node_arrays(r, node_cnt) if newer else None
        return cls(
            plugin_id,
            cpus_per_gres,
            flags,
            per_step,
            per_node,
            per_socket,
            per_task,
            mem,
            total,
            node_cnt,
            node_in_use,
            cnt_node_alloc,
            bit_alloc,
            type_name,
            per_bit_alloc,
        )


@dataclass(frozen=True, slots=True)
class GresEpilogInfo:
    """One record of gres_job_alloc_pack: a job's GRES allocation for the prolog/epilog environment."""

    plugin_id: int
    node_cnt: int = 0
    gres_cnt_node_alloc: tuple[int, ...] | None = None
    gres_bit_alloc: tuple[Bitmap | None, ...] | None = None  # one per node

    def pack(self, w: Writer, version: int) -> None:
        w.u32(GRES_MAGIC)
        w.u32(self.plugin_id)
        w.u32(self.node_cnt)
        _pack_node_counts(w, self.gres_cnt_node_alloc, self.node_cnt)
        _pack_optional_bitmaps(w, self.gres_bit_alloc, self.node_cnt, "gres_bit_alloc")

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        _expect_gres_magic(r)
        plugin_id = r.u32()
        node_cnt = _node_cnt(r)
        cnt_node_alloc = _node_counts(r, node_cnt)
        bit_alloc = _bitmaps(r, node_cnt) if _flag(r) else None
        return cls(plugin_id, node_cnt, cnt_node_alloc, bit_alloc)


@dataclass(frozen=True, slots=True)
class GresTopo:
    """One topology entry of a node's saved GRES state (24.11 on): which cores, which devices of the node,
    how many of them are allocated and available, and their type."""

    core_bitmap: Bitmap | None = None
    gres_bitmap: Bitmap | None = None
    res_core_bitmap: Bitmap | None = None
    cnt_alloc: int = 0
    cnt_avail: int = 0
    type_id: int = 0
    type_name: str | None = None


@dataclass(frozen=True, slots=True)
class GresNodeState:
    """One record of gres_node_state_pack, a node's GRES in slurmctld's saved node_state.

    22.05: u32 magic, u32 plugin_id, u64 gres_cnt_avail, u16 size of the allocation bitmap (0: none; the
    bitmap itself is rebuilt from the recovered jobs). 24.11 and 26.05 add u32 config_flags after the plugin
    id and, after the bitmap size, u16 topo_cnt, topo_cnt x (core, gres, reserved-core bitmaps), then u64
    arrays topo_gres_cnt_alloc and topo_gres_cnt_avail, a u32 array topo_type_id and a string array
    topo_type_name, each of topo_cnt entries."""

    plugin_id: int
    gres_cnt_avail: int = 0
    bitmap_size: int = 0
    config_flags: int = 0  # 24.11 on
    topo: tuple[GresTopo, ...] = ()  # 24.11 on

    def pack(self, w: Writer, version: int) -> None:
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        w.u32(GRES_MAGIC)
        w.u32(self.plugin_id)
        if newer:
            w.u32(self.config_flags)
        w.u64(self.gres_cnt_avail)
        w.u16(self.bitmap_size)
        if not newer:
            if self.topo or self.config_flags:
                raise EncodeError("a 22.05 node GRES state has no topology or flags")
            return
        if len(self.topo) > 0xFFFF:
            raise EncodeError(f"{len(self.topo)} GRES topology entries do not fit a u16")
        w.u16(len(self.topo))
        for t in self.topo:
            w.bitmap(t.core_bitmap)
            w.bitmap(t.gres_bitmap)
            w.bitmap(t.res_core_bitmap)
        w.u64_array([t.cnt_alloc for t in self.topo])
        w.u64_array([t.cnt_avail for t in self.topo])
        w.u32_array([t.type_id for t in self.topo])
        w.u32(len(self.topo))
        for t in self.topo:
            w.string(t.type_name)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        _expect_gres_magic(r)
        plugin_id = r.u32()
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        flags = r.u32() if newer else 0
        avail, bitmap_size = r.u64(), r.u16()
        if not newer:
            return cls(plugin_id, avail, bitmap_size)
        topo_cnt = r.u16()
        if topo_cnt > r.remaining // 12:  # three bitmaps of at least a u32 each
            raise DecodeError(f"{topo_cnt} GRES topology entries do not fit in {r.remaining} bytes")
        maps = [(r.bitmap(), r.bitmap(), r.bitmap()) for _ in range(topo_cnt)]
        cnt_alloc, cnt_avail, type_ids = r.u64_array(), r.u64_array(), r.u32_array()
        n_names = r.u32()
        if n_names > r.remaining // 4:
            raise DecodeError(f"{n_names} GRES topology type names do not fit in {r.remaining} bytes")
        names = [r.string() for _ in range(n_names)]
        if not len(cnt_alloc) == len(cnt_avail) == len(type_ids) == len(names) == topo_cnt:
            raise DecodeError(
                f"GRES topology arrays of {len(cnt_alloc)}/{len(cnt_avail)}/{len(type_ids)}/{len(names)} "
                f"entries, expected {topo_cnt}"
            )
        topo = tuple(
            GresTopo(m[0], m[1], m[2], a, v, i, n)
            for m, a, v, i, n in zip(maps, cnt_alloc, cnt_avail, type_ids, names, strict=True)
        )
        return cls(plugin_id, avail, bitmap_size, flags, topo)


def unpack_gres_node_states(r: Reader, version: int) -> tuple[GresNodeState, ...]:
    """A node's saved GRES list: u16 count, then that many GresNodeState records."""
    count = r.u16()
    if count > r.remaining // 18:  # the smallest record (22.05) has 18 bytes
        raise DecodeError(f"{count} node GRES records do not fit in {r.remaining} bytes")
    return tuple(GresNodeState.unpack(r, version) for _ in range(count))


def pack_gres_node_states(w: Writer, states: tuple[GresNodeState, ...], version: int) -> None:
    if len(states) > 0xFFFF:
        raise EncodeError(f"{len(states)} node GRES records do not fit a u16 count")
    w.u16(len(states))
    for s in states:
        s.pack(w, version)


def _expect_gres_magic(r: Reader) -> None:
    magic = r.u32()
    if magic != GRES_MAGIC:
        raise DecodeError(f"GRES record magic {magic:#x} is not {GRES_MAGIC:#x}")


def _node_cnt(r: Reader) -> int:
    n = r.u32()
    if n > NO_VAL:
        raise DecodeError(f"GRES record node_cnt {n:#x} is invalid")
    return n


def _node_counts(r: Reader, node_cnt: int) -> tuple[int, ...] | None:
    """gres_cnt_node_alloc: u8 "follows", then a u64 array, one count per node (slurmd indexes it by node)."""
    if not _flag(r):
        return None
    counts = tuple(r.u64_array())
    if len(counts) != node_cnt:
        raise DecodeError(f"gres_cnt_node_alloc has {len(counts)} values for {node_cnt} nodes")
    return counts


def _pack_node_counts(w: Writer, values: tuple[int, ...] | None, node_cnt: int) -> None:
    if values is not None and len(values) != node_cnt:
        raise EncodeError(f"gres_cnt_node_alloc needs one value per node ({node_cnt}), got {len(values)}")
    _pack_optional_u64_array(w, values)


def _pack_optional_u64_array(w: Writer, values: tuple[int, ...] | None) -> None:
    if values is None:
        w.u8(0)
    else:
        w.u8(1)
        w.u64_array(values)


def _pack_optional_bitmaps(
    w: Writer, maps: tuple[Bitmap | None, ...] | None, node_cnt: int, what: str
) -> None:
    if maps is None:
        w.u8(0)
        return
    if len(maps) != node_cnt:
        raise EncodeError(f"{what} needs one bitmap per node ({node_cnt}), got {len(maps)}")
    w.u8(1)
    for m in maps:
        w.bitmap(m)


def pack_gres_list(
    w: Writer,
    records: tuple[GresJobState, ...] | tuple[GresStepState, ...] | tuple[GresEpilogInfo, ...],
    version: int,
) -> None:
    """u16 record count, then the records (an empty or absent list is just ``u16 0``)."""
    if len(records) > 0xFFFF:
        raise EncodeError(f"{len(records)} GRES records do not fit a u16 count")
    w.u16(len(records))
    for rec in records:
        rec.pack(w, version)


def pack_gres_prep_list(w: Writer, records: tuple[GresEpilogInfo, ...], version: int) -> None:
    """The GRES of a kill or prolog message: a u16 counted list up to 24.11; from 26.05 a slurm_pack_list
    (u32 count, NO_VAL for none, as slurmctld sends a job without GRES)."""
    if version < SLURM_26_05_PROTOCOL_VERSION:
        pack_gres_list(w, records, version)
    elif not records:
        w.u32(NO_VAL)
    else:
        w.u32(len(records))
        for rec in records:
            rec.pack(w, version)


def unpack_gres_prep_list(r: Reader, version: int) -> tuple[GresEpilogInfo, ...]:
    if version < SLURM_26_05_PROTOCOL_VERSION:
        return unpack_gres_epilog_infos(r, version)
    n = r.u32()
    if n == NO_VAL:
        return ()
    if n > r.remaining // 13:
        raise DecodeError(f"GRES prep list: {n} records do not fit in {r.remaining} bytes")
    return tuple(GresEpilogInfo.unpack(r, version) for _ in range(n))


def _gres_count(r: Reader, smallest: int, what: str) -> int:
    """A u16 record count, refused when even records of ``smallest`` bytes could not fit what is left."""
    n = r.u16()
    if n * smallest > r.remaining:
        raise DecodeError(f"{what}: {n} records do not fit in {r.remaining} bytes")
    return n


def unpack_gres_job_states(r: Reader, version: int) -> tuple[GresJobState, ...]:
    # the smallest job record (22.05, no arrays) has 74 bytes
    return tuple(GresJobState.unpack(r, version) for _ in range(_gres_count(r, 74, "job GRES")))


def unpack_gres_step_states(r: Reader, version: int) -> tuple[GresStepState, ...]:
    # the smallest step record (22.05, no arrays) has 70 bytes
    return tuple(GresStepState.unpack(r, version) for _ in range(_gres_count(r, 70, "step GRES")))


def unpack_gres_epilog_infos(r: Reader, version: int) -> tuple[GresEpilogInfo, ...]:
    # magic, plugin id, node count and two u8 flags: 14 bytes at least
    return tuple(GresEpilogInfo.unpack(r, version) for _ in range(_gres_count(r, 14, "GRES prep")))


# -- the credential --------------------------------------------------------------------------------


class CredentialSealer(Protocol):
    """Mints cred/slurm's launch token of ``cred`` whose fields packed in ``version`` are ``packed``."""

    def __call__(self, cred: JobCredential, packed: bytes, version: int) -> bytes: ...


_TOKEN_START = b"eyJ"  # base64url of '{"': a JWT's header
_TOKEN = re.compile(rb"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\0")


def _launch_token_follows(r: Reader, version: int) -> bool:
    """Whether a cred/slurm token (a packstr of a JWT) comes next, not cred/munge's packed fields. Only
    24.11 on has cred/slurm; there the fields start with a u64 sluid and a u32 job id, which are not a
    length followed by that many bytes of a JWS compact token and its NUL."""
    if version < SLURM_24_11_PROTOCOL_VERSION or r.remaining < 8:
        return False
    data, start, end = r.view()
    if bytes(data[start + 4 : start + 7]) != _TOKEN_START:
        return False
    n = int.from_bytes(data[start : start + 4], "big")
    return n <= end - start - 4 and _TOKEN.fullmatch(bytes(data[start + 4 : start + 4 + n])) is not None


@dataclass(frozen=True, slots=True)
class JobCredential:
    """slurm_cred_arg_t as packed by SLURM 22.05, plus its creation time and signature.

    What slurmstepd needs even when unsigned (batch, kill and prolog credentials are unsigned in
    22.05): pw_name/pw_dir/pw_shell and a non-empty ``gids``; ``job_hostlist`` containing the node;
    at least one entry in the core arrays (cores_per_socket/sockets_per_node/sock_core_rep_count)
    and in ``job_mem_alloc``. The core bitmaps span the job's nodes (sum of sockets*cores over
    the job's hosts), bit i = core i in node order. ``ctime`` is the creation time (seconds);
    slurmd rejects credentials older than cred_expire (120 s) and those of revoked jobs.
    """

    step_id: StepId
    uid: int
    gid: int
    pw_name: str | None = None
    pw_gecos: str | None = None
    pw_dir: str | None = None
    pw_shell: str | None = None
    gids: tuple[int, ...] = ()
    gr_names: tuple[str, ...] = ()  # empty, or one per gid (LaunchParameters=enable_nss_slurm)
    job_gres: tuple[GresJobState, ...] = ()
    step_gres: tuple[GresStepState, ...] = ()
    job_core_spec: int = NO_VAL16
    job_account: str | None = None
    job_alias_list: str | None = None
    job_comment: str | None = None
    job_constraints: str | None = None
    job_partition: str | None = None
    job_reservation: str | None = None
    job_restart_cnt: int = 0
    job_std_err: str | None = None
    job_std_in: str | None = None
    job_std_out: str | None = None
    step_hostlist: str | None = None
    x11: int = 0
    ctime: int = 0  # seconds since the epoch
    job_core_bitmap: Bitmap | None = None  # its size goes on the wire as the total core count
    step_core_bitmap: Bitmap | None = None
    cores_per_socket: tuple[int, ...] = ()  # core arrays: one entry per group of identical nodes
    sockets_per_node: tuple[int, ...] = ()
    sock_core_rep_count: tuple[int, ...] = ()
    cpu_array: tuple[int, ...] = ()  # CPUs per node, run-length encoded with cpu_array_reps
    cpu_array_reps: tuple[int, ...] = ()
    job_nhosts: int = 0
    job_ntasks: int = 0
    job_hostlist: str | None = None
    job_mem_alloc: tuple[int, ...] = ()  # MiB per node, run-length encoded with the rep counts
    job_mem_alloc_rep_count: tuple[int, ...] = ()
    step_mem_alloc: tuple[int, ...] = ()
    step_mem_alloc_rep_count: tuple[int, ...] = ()
    selinux_context: str | None = None
    signature: bytes | None = None  # munge credential text incl. its NUL; None = unsigned
    # from 24.11 (slurmstepd sets SLURM_JOB_START_TIME, SLURM_JOB_END_TIME, SLURM_JOB_LICENSES from them)
    job_node_addrs: tuple[Address, ...] = ()  # cloud/dynamic or remote jobs only; else none
    job_end_time: int = 0
    job_extra: str | None = None
    job_oversubscribe: int = 0
    job_start_time: int = 0
    job_licenses: str | None = None
    switch_step: bytes = b""  # the switch plugin's step info (nothing without a switch plugin)
    # from 26.05
    job_exclusive: int = 0
    job_qos: str | None = None
    # cred/slurm: the launch token that carries this credential on the wire (as decoded), or what mints
    # it at pack time (not compared: the same credential sealed by another key is the same credential)
    token: bytes | None = None
    sealer: CredentialSealer | None = field(default=None, compare=False, repr=False)

    # -- the bytes a signature covers ---------------------------------------------------------
    def pack_fields(self, w: Writer, version: int) -> None:
        """The packed credential without the trailing signature."""
        check_layout(version, SLURM_22_05_PROTOCOL_VERSION, "job credential", NEWER)
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        v26 = version >= SLURM_26_05_PROTOCOL_VERSION
        if self.gr_names and len(self.gr_names) != len(self.gids):
            raise EncodeError("gr_names must be empty or have one name per gid")
        self.step_id.pack(w, version)
        w.u32(self.uid)
        w.u32(self.gid)
        w.string(self.pw_name)
        w.string(self.pw_gecos)
        w.string(self.pw_dir)
        w.string(self.pw_shell)
        w.u32_array(self.gids)
        w.string_array(self.gr_names)
        pack_gres_list(w, self.job_gres, version)
        pack_gres_list(w, self.step_gres, version)
        w.u16(self.job_core_spec)
        w.string(self.job_account)
        if newer:
            w.u32(len(self.job_node_addrs))
            for addr in self.job_node_addrs:
                write_address(w, addr)
        w.string(self.job_alias_list)
        w.string(self.job_comment)
        w.string(self.job_constraints)
        if newer:
            w.time(self.job_end_time)
            w.string(self.job_extra)
            if v26:
                w.u16(self.job_exclusive)
            w.u16(self.job_oversubscribe)
        w.string(self.job_partition)
        if v26:
            w.string(self.job_qos)
        w.string(self.job_reservation)
        w.u16(self.job_restart_cnt)
        if newer:
            w.time(self.job_start_time)
        w.string(self.job_std_err)
        w.string(self.job_std_in)
        w.string(self.job_std_out)
        w.string(self.step_hostlist)
        w.u16(self.x11)
        w.time(self.ctime)
        w.u32(self.job_core_bitmap.size if self.job_core_bitmap is not None else 0)
        w.bitmap(self.job_core_bitmap)
        w.bitmap(self.step_core_bitmap)
        n = _same_length(
            "core arrays", self.cores_per_socket, self.sockets_per_node, self.sock_core_rep_count
        )
        w.u16(n)
        if n:
            w.u16_array(self.cores_per_socket)
            w.u16_array(self.sockets_per_node)
            w.u32_array(self.sock_core_rep_count)
        n = _same_length("cpu arrays", self.cpu_array, self.cpu_array_reps)
        w.u32(n)
        if n:
            w.u16_array(self.cpu_array)
            w.u32_array(self.cpu_array_reps)
        w.u32(self.job_nhosts)
        w.u32(self.job_ntasks)
        w.string(self.job_hostlist)
        if newer:
            w.string(self.job_licenses)
        n = _same_length("job memory arrays", self.job_mem_alloc, self.job_mem_alloc_rep_count)
        w.u32(n)
        if n:
            w.u64_array(self.job_mem_alloc)
            w.u32_array(self.job_mem_alloc_rep_count)
        n = _same_length("step memory arrays", self.step_mem_alloc, self.step_mem_alloc_rep_count)
        w.u32(n)
        if n:
            w.u64_array(self.step_mem_alloc)
            w.u32_array(self.step_mem_alloc_rep_count)
        w.string(self.selinux_context)
        if newer:
            # switch_g_pack_stepinfo: u32 length, then the plugin's bytes (none without a switch plugin)
            w.u32(len(self.switch_step))
            w.raw(self.switch_step)

    def signed_payload(self, version: int = PROTOCOL_VERSION) -> bytes:
        """Exactly the bytes munge must sign (and that slurmd compares with the decoded payload)."""
        w = Writer()
        self.pack_fields(w, version)
        return w.getvalue()

    def with_signature(self, signature: bytes | None) -> JobCredential:
        """A copy carrying this signature (the munge credential, NUL included, as slurmctld sends it)."""
        return dataclasses.replace(self, signature=signature)

    def sealed_by(self, sealer: CredentialSealer | None) -> JobCredential:
        """A copy packed as cred/slurm's launch token that ``sealer`` mints (None: cred/munge's form)."""
        return dataclasses.replace(self, sealer=sealer, token=None, signature=None)

    # -- the wire form ------------------------------------------------------------------------
    def pack(self, w: Writer, version: int) -> None:
        token = self.token
        if token is None and self.sealer is not None:
            token = self.sealer(self, self.signed_payload(version), version)
        if token is not None:
            w.mem(token + b"\0")  # packstr of the token, in place of fields and signature
            return
        self.pack_fields(w, version)
        w.mem(self.signature)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        check_layout(version, SLURM_22_05_PROTOCOL_VERSION, "job credential", NEWER)
        if _launch_token_follows(r, version):
            raw = r.mem() or b""
            if not raw.endswith(b"\0"):
                raise DecodeError("credential: launch token without its NUL")
            token = raw[:-1]
            fields = cls._unpack_fields(Reader(_token_payload(token)), version)
            return dataclasses.replace(fields, token=token)
        return cls._unpack_fields(r, version, signed=True)

    @classmethod
    def _unpack_fields(cls, r: Reader, version: int, *, signed: bool = False) -> Self:
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        v26 = version >= SLURM_26_05_PROTOCOL_VERSION
        step_id = StepId.unpack(r, version)
        uid, gid = r.u32(), r.u32()
        pw_name, pw_gecos, pw_dir, pw_shell = r.string(), r.string(), r.string(), r.string()
        gids = tuple(r.u32_array())
        gr_names = tuple(r.string_array())
        if gr_names and len(gr_names) != len(gids):
            raise DecodeError(f"credential: {len(gr_names)} gr_names for {len(gids)} gids")
        job_gres = unpack_gres_job_states(r, version)
        step_gres = unpack_gres_step_states(r, version)
        job_core_spec = r.u16()
        account = r.string()
        node_addrs: tuple[Address, ...] = ()
        if newer:
            n_addrs = r.u32()
            if n_addrs > r.remaining // 2:
                raise DecodeError(f"credential: {n_addrs} node addresses do not fit in {r.remaining} bytes")
            node_addrs = tuple(read_address(r) for _ in range(n_addrs))
        alias_list, comment, constraints = r.string(), r.string(), r.string()
        end_time, extra, exclusive, oversubscribe = 0, None, 0, 0
        if newer:
            end_time, extra = r.time(), r.string()
            exclusive = r.u16() if v26 else 0
            oversubscribe = r.u16()
        partition = r.string()
        qos = r.string() if v26 else None
        reservation = r.string()
        restart_cnt = r.u16()
        start_time = r.time() if newer else 0
        std_err, std_in, std_out = r.string(), r.string(), r.string()
        step_hostlist = r.string()
        x11 = r.u16()
        ctime = r.time()
        tot_core_cnt = r.u32()
        job_core_bitmap = r.bitmap()
        step_core_bitmap = r.bitmap()
        expected = job_core_bitmap.size if job_core_bitmap is not None else 0
        if tot_core_cnt != expected:
            raise DecodeError(
                f"credential: core count {tot_core_cnt} but job_core_bitmap has {expected} bits"
            )
        n = r.u16()
        cores_per_socket: tuple[int, ...] = ()
        sockets_per_node: tuple[int, ...] = ()
        sock_core_rep_count: tuple[int, ...] = ()
        if n:
            cores_per_socket = tuple(r.u16_array())
            sockets_per_node = tuple(r.u16_array())
            sock_core_rep_count = tuple(r.u32_array())
            if not len(cores_per_socket) == len(sockets_per_node) == len(sock_core_rep_count) == n:
                raise DecodeError(f"credential: core arrays do not have {n} elements")
        cpu_array, cpu_array_reps = _array_pair_u16_u32(r, r.u32(), "credential cpu arrays")
        job_nhosts, job_ntasks, job_hostlist = r.u32(), r.u32(), r.string()
        licenses = r.string() if newer else None
        job_mem, job_mem_reps = _array_pair_u64_u32(r, r.u32(), "credential job memory")
        step_mem, step_mem_reps = _array_pair_u64_u32(r, r.u32(), "credential step memory")
        selinux_context = r.string()
        switch_step = b""
        if newer:
            switch_len = r.u32()
            if switch_len > r.remaining:
                raise DecodeError(f"credential: switch step info of {switch_len} bytes does not fit")
            switch_step = r.bytes(switch_len)
        signature = r.mem() if signed else None
        return cls(
            step_id=step_id,
            uid=uid,
            gid=gid,
            pw_name=pw_name,
            pw_gecos=pw_gecos,
            pw_dir=pw_dir,
            pw_shell=pw_shell,
            gids=gids,
            gr_names=gr_names,
            job_gres=job_gres,
            step_gres=step_gres,
            job_core_spec=job_core_spec,
            job_account=account,
            job_alias_list=alias_list,
            job_comment=comment,
            job_constraints=constraints,
            job_partition=partition,
            job_reservation=reservation,
            job_restart_cnt=restart_cnt,
            job_std_err=std_err,
            job_std_in=std_in,
            job_std_out=std_out,
            step_hostlist=step_hostlist,
            x11=x11,
            ctime=ctime,
            job_core_bitmap=job_core_bitmap,
            step_core_bitmap=step_core_bitmap,
            cores_per_socket=cores_per_socket,
            sockets_per_node=sockets_per_node,
            sock_core_rep_count=sock_core_rep_count,
            cpu_array=cpu_array,
            cpu_array_reps=cpu_array_reps,
            job_nhosts=job_nhosts,
            job_ntasks=job_ntasks,
            job_hostlist=job_hostlist,
            job_mem_alloc=job_mem,
            job_mem_alloc_rep_count=job_mem_reps,
            step_mem_alloc=step_mem,
            step_mem_alloc_rep_count=step_mem_reps,
            selinux_context=selinux_context,
            signature=signature,
            job_node_addrs=node_addrs,
            job_end_time=end_time,
            job_extra=extra,
            job_oversubscribe=oversubscribe,
            job_start_time=start_time,
            job_licenses=licenses,
            switch_step=switch_step,
            job_exclusive=exclusive,
            job_qos=qos,
        )

    def encode(self, version: int = PROTOCOL_VERSION) -> bytes:
        w = Writer()
        self.pack(w, version)
        return w.getvalue()

    @classmethod
    def decode(cls, data: bytes, version: int = PROTOCOL_VERSION) -> Self:
        r = Reader(data)
        cred = cls.unpack(r, version)
        r.expect_end("job credential")
        return cred


def _token_payload(token: bytes) -> bytes:
    """The packed credential inside a launch token, read without its key (slurmd verifies it; flurm
    only relays or inspects such a credential)."""
    try:
        part = token.split(b".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4)))
        return base64.b64decode(claims["payload"], validate=True)
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise DecodeError(f"credential: unreadable launch token ({exc})") from None


__all__ = [
    "GRES_MAGIC",
    "CredentialSealer",
    "GresEpilogInfo",
    "GresJobState",
    "GresNodeState",
    "GresStepState",
    "GresTopo",
    "JobCredential",
    "StepId",
    "pack_gres_list",
    "pack_gres_node_states",
    "pack_gres_prep_list",
    "unpack_gres_epilog_infos",
    "unpack_gres_job_states",
    "unpack_gres_node_states",
    "unpack_gres_prep_list",
    "unpack_gres_step_states",
]
