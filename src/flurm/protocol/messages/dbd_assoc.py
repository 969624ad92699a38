"""The read side of accounting: what slurmctld asks slurmdbd at start (DBD_GET_TRES, DBD_GET_QOS,
DBD_GET_USERS, DBD_GET_ASSOCS), what slurmdbd answers (DBD_GOT_*), and ACCOUNTING_UPDATE_MSG, the list of
changes slurmdbd sends the controller when sacctmgr commits one (slurmdb_pack.c, slurmdbd_pack.c).

A record's layout is data: an ordered tuple of (field, kind) that one reader and one writer walk, so the
field order on the wire is written once. A DBD request carries one condition record; a DBD_GOT_* reply a
list of records (u32 count, NO_VAL for no list) and a u32 return code. ACCOUNTING_UPDATE_MSG is an ordinary
SLURM message (header, credential); the DBD messages travel on the persistent connection (persist.py).
The layouts of 22.05 (and 21.08's, which they equal), 24.11 and 26.05 are known, one table per record: an
entry may carry the Span of releases it is on the wire in (layout.since, layout.before); from 24.11 a
condition may be NULL, a u8 0 (:func:`COND`). Another version is refused.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any, ClassVar, Self

from flurm.protocol.constants import (
    NO_VAL,
    SLURM_21_08_PROTOCOL_VERSION,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_23_02_PROTOCOL_VERSION,
    SLURM_24_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_25_11_PROTOCOL_VERSION,
    MsgType,
)
from flurm.protocol.dbd_types import DbdMsgType
from flurm.protocol.messages.base import Message, register
from flurm.protocol.messages.layout import Span, before, since
from flurm.protocol.messages.reports import read_optional_strings, write_optional_strings
from flurm.protocol.versions import DBD_NEWER
from flurm.protocol.wire import Bitmap, DecodeError, EncodeError, Reader, Writer

QOS_FLAG_NOTSET = 0x10000000
_F64 = struct.Struct(">d")


class UpdateType(IntEnum):
    """slurmdb_update_type_t (slurmdb.h)."""

    SLURMDB_UPDATE_NOTSET = 0
    SLURMDB_ADD_USER = 1
    SLURMDB_ADD_ASSOC = 2
    SLURMDB_ADD_COORD = 3
    SLURMDB_MODIFY_USER = 4
    SLURMDB_MODIFY_ASSOC = 5
    SLURMDB_REMOVE_USER = 6
    SLURMDB_REMOVE_ASSOC = 7
    SLURMDB_REMOVE_COORD = 8
    SLURMDB_ADD_QOS = 9
    SLURMDB_REMOVE_QOS = 10
    SLURMDB_MODIFY_QOS = 11
    SLURMDB_ADD_WCKEY = 12
    SLURMDB_REMOVE_WCKEY = 13
    SLURMDB_MODIFY_WCKEY = 14
    SLURMDB_ADD_CLUSTER = 15
    SLURMDB_REMOVE_CLUSTER = 16
    SLURMDB_REMOVE_ASSOC_USAGE = 17
    SLURMDB_ADD_RES = 18
    SLURMDB_REMOVE_RES = 19
    SLURMDB_MODIFY_RES = 20
    SLURMDB_REMOVE_QOS_USAGE = 21
    SLURMDB_ADD_TRES = 22
    SLURMDB_UPDATE_FEDS = 23


# -- kinds: how one field is read and written ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Kind:
    read: Callable[[Reader, int], Any]
    write: Callable[[Writer, Any, int], None]


U16 = Kind(lambda r, v: r.u16(), lambda w, x, v: w.u16(x))
U32 = Kind(lambda r, v: r.u32(), lambda w, x, v: w.u32(x))
U64 = Kind(lambda r, v: r.u64(), lambda w, x, v: w.u64(x))
TIME = Kind(lambda r, v: r.time(), lambda w, x, v: w.time(x))
STR = Kind(lambda r, v: r.string(), lambda w, x, v: w.string(x))
# a char* List: u32 count (NO_VAL: no list) and the strings (_pack_list_of_str)
STRS = Kind(lambda r, v: read_optional_strings(r), lambda w, x, v: write_optional_strings(w, x))
BITMAP = Kind(lambda r, v: r.bitmap(), lambda w, x, v: w.bitmap(x))
# packdouble's 8 bytes kept as they came (value * 1e6 as an IEEE double): a decoded and re-encoded
# NO_VAL64 or 0.1 would not give the same bytes back; ``double()`` turns it into the value.
RAWDOUBLE = Kind(lambda r, v: _F64.unpack(r.bytes(8))[0], lambda w, x, v: w.raw(_F64.pack(x)))


def double(raw: float) -> float:
    """The value of a RAWDOUBLE field."""
    return raw / 1_000_000.0


def _read_list(r: Reader, version: int, cls: type[Record]) -> tuple[Any, ...] | None:
    count = r.u32()
    if count == NO_VAL:
        return None
    if count * 4 > r.remaining:  # every record takes at least 4 bytes
        raise DecodeError(f"{cls.__name__} list: count {count} does not fit in {r.remaining} bytes")
    return tuple(cls.unpack(r, version) for _ in range(count))


def _write_list(w: Writer, items: tuple[Record, ...] | None, version: int) -> None:
    """slurm_pack_list: u32 count (NO_VAL: no list) and the records."""
    if items is None:
        w.u32(NO_VAL)
        return
    w.u32(len(items))
    for item in items:
        item.pack(w, version)


def LIST(cls: type[Record]) -> Kind:
    return Kind(lambda r, v: _read_list(r, v, cls), lambda w, x, v: _write_list(w, x, v))


def REC(cls: type[Record]) -> Kind:
    return Kind(lambda r, v: cls.unpack(r, v), lambda w, x, v: x.pack(w, v))


def _read_optional(r: Reader, version: int, cls: type[Record]) -> Record | None:
    return None if r.u32() == NO_VAL else cls.unpack(r, version)


def _write_optional(w: Writer, rec: Record | None, version: int) -> None:
    if rec is None:
        w.u32(NO_VAL)
        return
    w.u32(0)  # (anything but NO_VAL: a record follows)
    rec.pack(w, version)


def _read_cond(r: Reader, version: int, cls: type[Record]) -> Record | None:
    if version < SLURM_24_11_PROTOCOL_VERSION:
        return cls.unpack(r, version)
    present = r.u8()
    if present > 1:
        raise DecodeError(f"{cls.__name__}: NULL marker {present}")
    return cls.unpack(r, version) if present else None


def _write_cond(w: Writer, rec: Record | None, version: int, cls: type[Record]) -> None:
    if version < SLURM_24_11_PROTOCOL_VERSION:
        (rec or cls()).pack(w, version)  # NULL packs as the condition's defaults
    elif rec is None:
        w.u8(0)
    else:
        w.u8(1)
        rec.pack(w, version)


def COND(cls: type[Record]) -> Kind:
    """A condition that may be NULL (None): from 24.11 a u8 0, or 1 and the condition (packbool); before,
    NULL packs as the condition with its defaults."""
    return Kind(lambda r, v: _read_cond(r, v, cls), lambda w, x, v: _write_cond(w, x, v, cls))


def _read_marker(r: Reader, version: int) -> None:
    if r.u8() != 1:
        raise DecodeError("a record in a list marked NULL")


# packbool(1) before a record that may be NULL (from 25.11 the user record): never NULL in a list
MARKER = Kind(_read_marker, lambda w, x, v: w.u8(1))


def OPTIONAL(cls: type[Record]) -> Kind:
    """A pointer to one record: u32 NO_VAL for none, else a marker and the record."""
    return Kind(lambda r, v: _read_optional(r, v, cls), lambda w, x, v: _write_optional(w, x, v))


def _check_version(version: int, what: str) -> None:
    if not (SLURM_21_08_PROTOCOL_VERSION <= version <= SLURM_22_05_PROTOCOL_VERSION or version in DBD_NEWER):
        raise DecodeError(f"{what}: layout of protocol version {version:#06x} is not known")


Entry = tuple[str, Kind] | tuple[str, Kind, Span]


class Record(Message):
    """A slurmdb record or condition: LAYOUT names every dataclass field in wire order, each in the releases
    its Span says (all when it has none); a field a release does not pack decodes to its default. The name
    "" is no field: a MARKER."""

    NEWER_LAYOUTS = DBD_NEWER
    LAYOUT: ClassVar[tuple[Entry, ...]] = ()

    @classmethod
    def _layout(cls, version: int) -> list[tuple[str, Kind]]:
        return [(e[0], e[1]) for e in cls.LAYOUT if len(e) == 2 or version in e[2]]

    def pack(self, w: Writer, version: int) -> None:
        for name, kind in self._layout(version):
            try:
                kind.write(w, getattr(self, name) if name else None, version)
            except (struct.error, TypeError, AttributeError) as e:
                raise EncodeError(f"{type(self).__name__}.{name}: {e}") from None

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        _check_version(version, cls.__name__)
        values = {name: kind.read(r, version) for name, kind in cls._layout(version)}
        values.pop("", None)
        return cls(**values)

    @classmethod
    def check_layout(cls) -> None:
        """The LAYOUT names every dataclass field and nothing else (a unit test calls it)."""
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        if names != {e[0] for e in cls.LAYOUT} - {""}:
            raise AssertionError(f"{cls.__name__}: fields {names} != layout")


# -- records (slurmdb_pack.c) -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TresRec(Record):
    """slurmdb_tres_rec_t: one trackable resource (id 1 cpu, 2 mem, 3 energy, 4 node, 5 billing, ...)."""

    alloc_secs: int = 0
    count: int = 0
    id: int = 0
    name: str | None = None
    type: str | None = None

    LAYOUT = (("alloc_secs", U64), ("count", U64), ("id", U32), ("name", STR), ("type", STR))


@dataclass(frozen=True, slots=True)
class AccountingRec(Record):
    alloc_secs: int = 0
    tres_rec: TresRec = TresRec()
    id: int = 0
    period_start: int = 0
    id_alt: int = 0  # 24.11 on

    LAYOUT = (
        ("alloc_secs", U64),
        ("tres_rec", REC(TresRec)),
        ("id", U32),
        ("id_alt", U32, since(SLURM_24_11_PROTOCOL_VERSION)),
        ("period_start", TIME),
    )


_V2302, _V2405, _V2411, _V2511 = (
    SLURM_23_02_PROTOCOL_VERSION,
    SLURM_24_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_25_11_PROTOCOL_VERSION,
)


@dataclass(frozen=True, slots=True)
class AssocRec(Record):
    """slurmdb_assoc_rec_t: an association (cluster, account, user, partition) and its limits. The limits
    are NO_VAL or INFINITE when unset or cleared; TRES limits are "id=count,..." strings."""

    accounting_list: tuple[AccountingRec, ...] | None = None
    acct: str | None = None
    cluster: str | None = None
    def_qos_id: int = NO_VAL
    flags: int = 0
    shares_raw: int = NO_VAL
    grp_tres_mins: str | None = None
    grp_tres_run_mins: str | None = None
    grp_tres: str | None = None
    grp_jobs: int = NO_VAL
    grp_jobs_accrue: int = NO_VAL
    grp_submit_jobs: int = NO_VAL
    grp_wall: int = NO_VAL
    id: int = 0
    is_def: int = 0
    lft: int = 0
    max_tres_mins_pj: str | None = None
    max_tres_run_mins: str | None = None
    max_tres_pj: str | None = None
    max_tres_pn: str | None = None
    max_jobs: int = NO_VAL
    max_jobs_accrue: int = NO_VAL
    min_prio_thresh: int = NO_VAL
    max_submit_jobs: int = NO_VAL
    max_wall_pj: int = NO_VAL
    parent_acct: str | None = None
    parent_id: int = 0
    partition: str | None = None
    priority: int = NO_VAL
    qos_list: tuple[str, ...] | None = None
    rgt: int = 0
    uid: int = 0
    user: str | None = None
    comment: str | None = None  # 24.05 on
    lineage: str | None = None  # 24.05 on, for lft and rgt

    LAYOUT = (
        ("accounting_list", LIST(AccountingRec)),
        ("acct", STR),
        ("cluster", STR),
        ("comment", STR, since(_V2405)),
        ("def_qos_id", U32),
        ("flags", U16, before(_V2405)),
        ("flags", U32, since(_V2405)),
        ("shares_raw", U32),
        ("grp_tres_mins", STR),
        ("grp_tres_run_mins", STR),
        ("grp_tres", STR),
        ("grp_jobs", U32),
        ("grp_jobs_accrue", U32),
        ("grp_submit_jobs", U32),
        ("grp_wall", U32),
        ("id", U32),
        ("is_def", U16),
        ("lft", U32, before(_V2405)),
        ("lineage", STR, since(_V2405)),
        ("max_tres_mins_pj", STR),
        ("max_tres_run_mins", STR),
        ("max_tres_pj", STR),
        ("max_tres_pn", STR),
        ("max_jobs", U32),
        ("max_jobs_accrue", U32),
        ("min_prio_thresh", U32),
        ("max_submit_jobs", U32),
        ("max_wall_pj", U32),
        ("parent_acct", STR),
        ("parent_id", U32),
        ("partition", STR),
        ("priority", U32),
        ("qos_list", STRS),
        ("rgt", U32, before(_V2405)),
        ("uid", U32),
        ("user", STR),
    )


@dataclass(frozen=True, slots=True)
class CoordRec(Record):
    name: str | None = None
    direct: int = 0

    LAYOUT = (("name", STR), ("direct", U16))


@dataclass(frozen=True, slots=True)
class WckeyRec(Record):
    accounting_list: tuple[AccountingRec, ...] | None = None
    cluster: str | None = None
    flags: int = 0
    id: int = NO_VAL
    is_def: int = 0
    name: str | None = None
    uid: int = NO_VAL
    user: str | None = None

    LAYOUT = (
        ("accounting_list", LIST(AccountingRec)),
        ("cluster", STR),
        ("flags", U32),
        ("id", U32),
        ("is_def", U16),
        ("name", STR),
        ("uid", U32),
        ("user", STR),
    )


@dataclass(frozen=True, slots=True)
class UserRec(Record):
    """slurmdb_user_rec_t: admin level (1 none, 2 operator, 3 administrator), default account, the
    accounts it coordinates."""

    admin_level: int = 0
    assoc_list: tuple[AssocRec, ...] | None = None
    coord_accts: tuple[CoordRec, ...] | None = None
    default_acct: str | None = None
    default_wckey: str | None = None
    flags: int = 0
    name: str | None = None
    old_name: str | None = None
    uid: int = NO_VAL
    wckey_list: tuple[WckeyRec, ...] | None = None
    def_qos_id: int = 0  # 25.11 on

    LAYOUT = (
        ("", MARKER, since(_V2511)),
        ("admin_level", U16),
        ("assoc_list", LIST(AssocRec)),
        ("coord_accts", LIST(CoordRec)),
        ("def_qos_id", U32, since(_V2511)),
        ("default_acct", STR),
        ("default_wckey", STR),
        ("flags", U32),
        ("name", STR),
        ("old_name", STR),
        ("uid", U32),
        ("wckey_list", LIST(WckeyRec)),
    )


_NO_VAL64_DOUBLE = float(0xFFFFFFFFFFFFFFFE)


@dataclass(frozen=True, slots=True)
class QosRec(Record):
    """slurmdb_qos_rec_t: ``_pa`` per account, ``_pu`` per user, ``_pj`` per job; the three doubles are
    kept raw (:func:`double`)."""

    description: str | None = None
    id: int = 0
    flags: int = QOS_FLAG_NOTSET
    grace_time: int = NO_VAL
    grp_tres_mins: str | None = None
    grp_tres_run_mins: str | None = None
    grp_tres: str | None = None
    grp_jobs: int = NO_VAL
    grp_jobs_accrue: int = NO_VAL
    grp_submit_jobs: int = NO_VAL
    grp_wall: int = NO_VAL
    max_tres_mins_pj: str | None = None
    max_tres_run_mins_pa: str | None = None
    max_tres_run_mins_pu: str | None = None
    max_tres_pa: str | None = None
    max_tres_pj: str | None = None
    max_tres_pn: str | None = None
    max_tres_pu: str | None = None
    max_jobs_pa: int = NO_VAL
    max_jobs_pu: int = NO_VAL
    max_jobs_accrue_pa: int = NO_VAL
    max_jobs_accrue_pu: int = NO_VAL
    min_prio_thresh: int = NO_VAL
    max_submit_jobs_pa: int = NO_VAL
    max_submit_jobs_pu: int = NO_VAL
    max_wall_pj: int = NO_VAL
    min_tres_pj: str | None = None
    name: str | None = None
    preempt_bitstr: Bitmap | None = None
    preempt_list: tuple[str, ...] | None = None
    preempt_mode: int = 0
    preempt_exempt_time: int = 0
    priority: int = 0
    usage_factor: float = _NO_VAL64_DOUBLE * 1_000_000.0
    usage_thres: float = _NO_VAL64_DOUBLE * 1_000_000.0
    limit_factor: float = _NO_VAL64_DOUBLE * 1_000_000.0

    LAYOUT = (
        ("description", STR),
        ("id", U32),
        ("flags", U32),
        ("grace_time", U32),
        ("grp_tres_mins", STR),
        ("grp_tres_run_mins", STR),
        ("grp_tres", STR),
        ("grp_jobs", U32),
        ("grp_jobs_accrue", U32),
        ("grp_submit_jobs", U32),
        ("grp_wall", U32),
        ("max_tres_mins_pj", STR),
        ("max_tres_run_mins_pa", STR),
        ("max_tres_run_mins_pu", STR),
        ("max_tres_pa", STR),
        ("max_tres_pj", STR),
        ("max_tres_pn", STR),
        ("max_tres_pu", STR),
        ("max_jobs_pa", U32),
        ("max_jobs_pu", U32),
        ("max_jobs_accrue_pa", U32),
        ("max_jobs_accrue_pu", U32),
        ("min_prio_thresh", U32),
        ("max_submit_jobs_pa", U32),
        ("max_submit_jobs_pu", U32),
        ("max_wall_pj", U32),
        ("min_tres_pj", STR),
        ("name", STR),
        ("preempt_bitstr", BITMAP),
        ("preempt_list", STRS),
        ("preempt_mode", U16),
        ("preempt_exempt_time", U32),
        ("priority", U32),
        ("usage_factor", RAWDOUBLE),
        ("usage_thres", RAWDOUBLE),
        ("limit_factor", RAWDOUBLE),
    )


@dataclass(frozen=True, slots=True)
class ClusResRec(Record):
    cluster: str | None = None
    percent_allowed: int = 0xFFFE

    allowed: int = 0  # 23.02 on, for percent_allowed

    LAYOUT = (
        ("cluster", STR),
        ("percent_allowed", U16, before(_V2302)),
        ("allowed", U32, since(_V2302)),
    )


@dataclass(frozen=True, slots=True)
class ResRec(Record):
    """slurmdb_res_rec_t: a resource (license) sacctmgr manages; flurm takes its updates, uses none."""

    clus_res_list: tuple[ClusResRec, ...] | None = None
    clus_res_rec: ClusResRec | None = None
    count: int = NO_VAL
    description: str | None = None
    flags: int = 0
    id: int = NO_VAL
    manager: str | None = None
    name: str | None = None
    percent_used: int = 0
    server: str | None = None
    type: int = 0
    allocated: int = 0  # 23.02 on, for percent_used
    last_consumed: int = 0
    last_update: int = 0

    LAYOUT = (
        ("clus_res_list", LIST(ClusResRec)),
        ("clus_res_rec", OPTIONAL(ClusResRec)),
        ("count", U32),
        ("description", STR),
        ("flags", U32),
        ("id", U32),
        ("manager", STR),
        ("name", STR),
        ("percent_used", U16, before(_V2302)),
        ("allocated", U32, since(_V2302)),
        ("last_consumed", U32, since(_V2302)),
        ("server", STR),
        ("type", U32),
        ("last_update", TIME, since(_V2302)),
    )


# -- conditions: what a DBD_GET_* asks for ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TresCond(Record):
    count: int = NO_VAL
    format_list: tuple[str, ...] | None = None
    id_list: tuple[str, ...] | None = None
    name_list: tuple[str, ...] | None = None
    type_list: tuple[str, ...] | None = None
    with_deleted: int = 0

    LAYOUT = (
        ("count", U64),
        ("format_list", STRS),
        ("id_list", STRS),
        ("name_list", STRS),
        ("type_list", STRS),
        ("with_deleted", U16),
    )


@dataclass(frozen=True, slots=True)
class AssocCond(Record):
    """slurmdb_assoc_cond_t; all defaults pack as SLURM packs a NULL condition."""

    acct_list: tuple[str, ...] | None = None
    cluster_list: tuple[str, ...] | None = None
    def_qos_id_list: tuple[str, ...] | None = None
    format_list: tuple[str, ...] | None = None
    id_list: tuple[str, ...] | None = None
    only_defs: int = 0
    partition_list: tuple[str, ...] | None = None
    parent_acct_list: tuple[str, ...] | None = None
    qos_list: tuple[str, ...] | None = None
    usage_end: int = 0
    usage_start: int = 0
    user_list: tuple[str, ...] | None = None
    with_usage: int = 0
    with_deleted: int = 0
    with_raw_qos: int = 0
    with_sub_accts: int = 0
    without_parent_info: int = 0
    without_parent_limits: int = 0
    flags: int = 0  # 24.11 on: ASSOC_COND_FLAG_*, for only_defs and the with(out)_* of before

    LAYOUT = (
        ("acct_list", STRS),
        ("cluster_list", STRS),
        ("def_qos_id_list", STRS),
        ("flags", U32, since(_V2411)),
        ("format_list", STRS),
        ("id_list", STRS),
        ("only_defs", U16, before(_V2411)),
        ("partition_list", STRS),
        ("parent_acct_list", STRS),
        ("qos_list", STRS),
        ("usage_end", TIME),
        ("usage_start", TIME),
        ("user_list", STRS),
        ("with_usage", U16, before(_V2411)),
        ("with_deleted", U16, before(_V2411)),
        ("with_raw_qos", U16, before(_V2411)),
        ("with_sub_accts", U16, before(_V2411)),
        ("without_parent_info", U16, before(_V2411)),
        ("without_parent_limits", U16, before(_V2411)),
    )


@dataclass(frozen=True, slots=True)
class UserCond(Record):
    admin_level: int = 0
    assoc_cond: AssocCond | None = None
    def_acct_list: tuple[str, ...] | None = None
    def_wckey_list: tuple[str, ...] | None = None
    with_assocs: int = 0
    with_coords: int = 0
    with_deleted: int = 0
    with_wckeys: int = 0

    LAYOUT = (
        ("admin_level", U16),
        ("assoc_cond", COND(AssocCond)),
        ("def_acct_list", STRS),
        ("def_wckey_list", STRS),
        ("with_assocs", U16),
        ("with_coords", U16),
        ("with_deleted", U16),
        ("with_wckeys", U16),
    )


@dataclass(frozen=True, slots=True)
class QosCond(Record):
    description_list: tuple[str, ...] | None = None
    format_list: tuple[str, ...] | None = None
    id_list: tuple[str, ...] | None = None
    name_list: tuple[str, ...] | None = None
    preempt_mode: int = 0
    with_deleted: int = 0
    flags: int = 0  # 24.11 on: QOS_COND_FLAG_*, for with_deleted

    LAYOUT = (
        ("description_list", STRS),
        ("flags", U16, since(_V2411)),
        ("format_list", STRS),
        ("id_list", STRS),
        ("name_list", STRS),
        ("preempt_mode", U16),
        ("with_deleted", U16, before(_V2411)),
    )


# -- DBD messages -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GetTres(Record):
    """DBD_GET_TRES 1486."""

    cond: TresCond = TresCond()
    LAYOUT = (("cond", REC(TresCond)),)


@dataclass(frozen=True, slots=True)
class GetQos(Record):
    """DBD_GET_QOS 1448."""

    cond: QosCond | None = None  # NULL: every QOS
    LAYOUT = (("cond", COND(QosCond)),)


@dataclass(frozen=True, slots=True)
class GetUsers(Record):
    """DBD_GET_USERS 1415."""

    cond: UserCond = UserCond()
    LAYOUT = (("cond", REC(UserCond)),)


@dataclass(frozen=True, slots=True)
class GetAssocs(Record):
    """DBD_GET_ASSOCS 1410."""

    cond: AssocCond | None = None
    LAYOUT = (("cond", COND(AssocCond)),)


@dataclass(frozen=True, slots=True)
class GotTres(Record):
    """DBD_GOT_TRES 1487: the records and a return code (dbd_list_msg_t)."""

    items: tuple[TresRec, ...] | None = ()
    return_code: int = 0
    LAYOUT = (("items", LIST(TresRec)), ("return_code", U32))


@dataclass(frozen=True, slots=True)
class AddTres(Record):
    """DBD_ADD_TRES 1485: TRES slurmdbd does not have yet (slurmctld's _init_tres: the type and name of
    each, no id), answered by a PERSIST_RC. Packed as a dbd_list_msg_t."""

    items: tuple[TresRec, ...] | None = ()
    return_code: int = 0
    LAYOUT = (("items", LIST(TresRec)), ("return_code", U32))


@dataclass(frozen=True, slots=True)
class GotQos(Record):
    """DBD_GOT_QOS 1449."""

    items: tuple[QosRec, ...] | None = ()
    return_code: int = 0
    LAYOUT = (("items", LIST(QosRec)), ("return_code", U32))


@dataclass(frozen=True, slots=True)
class GotUsers(Record):
    """DBD_GOT_USERS 1423."""

    items: tuple[UserRec, ...] | None = ()
    return_code: int = 0
    LAYOUT = (("items", LIST(UserRec)), ("return_code", U32))


@dataclass(frozen=True, slots=True)
class GotAssocs(Record):
    """DBD_GOT_ASSOCS 1417."""

    items: tuple[AssocRec, ...] | None = ()
    return_code: int = 0
    LAYOUT = (("items", LIST(AssocRec)), ("return_code", U32))


DBD_BODIES: dict[DbdMsgType, type[Record]] = {
    DbdMsgType.DBD_ADD_TRES: AddTres,
    DbdMsgType.DBD_GET_TRES: GetTres,
    DbdMsgType.DBD_GET_QOS: GetQos,
    DbdMsgType.DBD_GET_USERS: GetUsers,
    DbdMsgType.DBD_GET_ASSOCS: GetAssocs,
    DbdMsgType.DBD_GOT_TRES: GotTres,
    DbdMsgType.DBD_GOT_QOS: GotQos,
    DbdMsgType.DBD_GOT_USERS: GotUsers,
    DbdMsgType.DBD_GOT_ASSOCS: GotAssocs,
}
_DBD_TYPES = {cls: t for t, cls in DBD_BODIES.items()}
_BY_NUMBER: dict[int, type[Record]] = {int(t): cls for t, cls in DBD_BODIES.items()}


def decode_dbd(msg_type: int, body: bytes, version: int) -> Record:
    """One of these DBD messages' body (the bytes after its u16 type); every byte must be consumed."""
    cls = _BY_NUMBER.get(msg_type)
    if cls is None:
        raise DecodeError(f"DBD message type {msg_type} is not one of the association codec's")
    r = Reader(body)
    out = cls.unpack(r, version)
    r.expect_end(cls.__name__)
    return out


def encode_dbd(body: Record, version: int) -> tuple[DbdMsgType, bytes]:
    """The message type and the body bytes (persist.py frames them)."""
    _check_version(version, type(body).__name__)
    w = Writer()
    body.pack(w, version)
    return _DBD_TYPES[type(body)], w.getvalue()


# -- ACCOUNTING_UPDATE_MSG 10001 --------------------------------------------------------------------

_UPDATE_RECORDS: dict[UpdateType, type[Record] | None] = {
    **dict.fromkeys(
        (
            UpdateType.SLURMDB_MODIFY_USER,
            UpdateType.SLURMDB_ADD_USER,
            UpdateType.SLURMDB_REMOVE_USER,
            UpdateType.SLURMDB_ADD_COORD,
            UpdateType.SLURMDB_REMOVE_COORD,
        ),
        UserRec,
    ),
    **dict.fromkeys(
        (
            UpdateType.SLURMDB_ADD_ASSOC,
            UpdateType.SLURMDB_MODIFY_ASSOC,
            UpdateType.SLURMDB_REMOVE_ASSOC,
            UpdateType.SLURMDB_REMOVE_ASSOC_USAGE,
        ),
        AssocRec,
    ),
    **dict.fromkeys(
        (
            UpdateType.SLURMDB_ADD_QOS,
            UpdateType.SLURMDB_MODIFY_QOS,
            UpdateType.SLURMDB_REMOVE_QOS,
            UpdateType.SLURMDB_REMOVE_QOS_USAGE,
        ),
        QosRec,
    ),
    **dict.fromkeys(
        (UpdateType.SLURMDB_ADD_WCKEY, UpdateType.SLURMDB_MODIFY_WCKEY, UpdateType.SLURMDB_REMOVE_WCKEY),
        WckeyRec,
    ),
    UpdateType.SLURMDB_ADD_TRES: TresRec,
    **dict.fromkeys(
        (UpdateType.SLURMDB_ADD_RES, UpdateType.SLURMDB_MODIFY_RES, UpdateType.SLURMDB_REMOVE_RES), ResRec
    ),
    # nothing follows the type of these
    UpdateType.SLURMDB_ADD_CLUSTER: None,
    UpdateType.SLURMDB_REMOVE_CLUSTER: None,
}


@dataclass(frozen=True, slots=True)
class UpdateObject:
    """slurmdb_update_object_t: a kind of change and the records it applies to. Federations and
    statistics are not decoded: such an update is refused whole."""

    type: UpdateType
    objects: tuple[Any, ...] | None = ()

    def pack(self, w: Writer, version: int) -> None:
        if self.type not in _UPDATE_RECORDS:
            raise EncodeError(f"update type {self.type} is not known")
        w.u16(self.type)
        if _UPDATE_RECORDS[self.type] is None:
            return
        _write_list(w, self.objects, version)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> UpdateObject:
        raw = r.u16()
        try:
            kind = UpdateType(raw)
            rec = _UPDATE_RECORDS[kind]
        except (ValueError, KeyError):
            raise DecodeError(f"update object of type {raw} is not known") from None
        if rec is None:
            return cls(kind, None)
        return cls(kind, _read_list(r, version, rec))


@register(MsgType.ACCOUNTING_UPDATE_MSG)
@dataclass(frozen=True, slots=True)
class AccountingUpdate(Message):
    """10001: u32 count (not NO_VAL-able) and the update objects (their records in the sender's release)."""

    NEWER_LAYOUTS = DBD_NEWER
    updates: tuple[UpdateObject, ...] = ()

    def pack(self, w: Writer, version: int) -> None:
        w.u32(len(self.updates))
        for u in self.updates:
            u.pack(w, version)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        _check_version(version, cls.__name__)
        count = r.u32()
        if count * 2 > r.remaining:
            raise DecodeError(f"accounting update: count {count} does not fit in {r.remaining} bytes")
        return cls(tuple(UpdateObject.unpack(r, version) for _ in range(count)))
