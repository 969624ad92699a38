"""The job and step records slurmctld sends slurmdbd, and slurmdbd's answers to them (slurmdbd_pack.c of
22.05, 24.11 and 26.05; the accounting_storage/slurmdbd plugin fills them).

Each travels on the persistent connection as ``u16 DbdMsgType + body`` (persist.persist_msg):

* DBD_JOB_START 1425 (:class:`DbdJobStart`): a job became eligible, started, or changed in a way the
  database must hear; answered DBD_ID_RC 1426 (:class:`DbdIdRc`, the job's ``db_index``) when sent without
  a ``db_index``, else PERSIST_RC.
* DBD_JOB_COMPLETE 1424 (:class:`DbdJobComplete`), DBD_JOB_SUSPEND 1427 (:class:`DbdJobSuspend`),
  DBD_STEP_START 1442 (:class:`DbdStepStart`), DBD_STEP_COMPLETE 1441 (:class:`DbdStepComplete`, with the
  usage slurmd reported): answered PERSIST_RC.
* DBD_JOB_HEAVY 1498 (:class:`DbdJobHeavy`): the batch script and environment, when slurmdbd's DBD_ID_RC
  asked for them (AccountingStoreFlags=job_script,job_env).
* DBD_SEND_MULT_JOB_START 1472 (:class:`DbdMultJobStart`): the starts of jobs without a ``db_index``, batched
  by the plugin's db-index thread; answered DBD_GOT_MULT_JOB_START 1473 (:class:`DbdGotMultJobStart`, one
  DBD_ID_RC record per start, in order).
* DBD_SEND_MULT_MSG 1474 / DBD_GOT_MULT_MSG 1475 (:class:`DbdMultMsg`): the agent's queue sent in one go:
  a list of whole messages (``u16 type + body`` each, as packmem), and their answers in the same order.

A message is encoded with persist.persist_msg and decoded with :func:`decode_dbd_msg`.

A list message (slurmdbd_pack_list_msg) is ``u32 count`` (NO_VAL: no list) then the records, then
``u32 return_code``. Where releases differ (the job start, its completion, the step records through the
step id), one table per record says which release packs which field (``since``); the other bodies have one
layout in every release of versions.DBD_SPOKEN.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Self, TypeVar

from flurm.protocol.constants import (
    NO_VAL,
    NO_VAL64,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_23_11_PROTOCOL_VERSION,
    SLURM_24_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    SLURM_BATCH_SCRIPT,
)
from flurm.protocol.dbd_types import DbdMsgType
from flurm.protocol.messages.base import Body, Message
from flurm.protocol.messages.credential import StepId
from flurm.protocol.messages.layout import (
    STR,
    TIME,
    U8,
    U16,
    U32,
    U64,
    Entry,
    Span,
    VersionedLayout,
    before,
    since,
)
from flurm.protocol.messages.slurmd import JobAcctInfo, pack_jobacct, unpack_jobacct
from flurm.protocol.versions import DBD_NEWER, DBD_SPOKEN, check_dbd
from flurm.protocol.wire import DecodeError, Reader, Writer

__all__ = [
    "DBD_JOB_BODIES",
    "DbdGotMultJobStart",
    "DbdIdRc",
    "DbdJobComplete",
    "DbdJobHeavy",
    "DbdJobStart",
    "DbdJobSuspend",
    "DbdMultJobStart",
    "DbdMultMsg",
    "DbdStepComplete",
    "DbdStepStart",
    "decode_dbd_msg",
    "split_dbd_msg",
]

# dbd_id_rc_msg_t.flags: slurmdbd asks for the script / environment (slurmdbd_defs.h JOB_SEND_*)
JOB_SEND_ENV = 1 << 0
JOB_SEND_SCRIPT = 1 << 1

# The db_index slurmctld gives a job while its DBD_SEND_MULT_JOB_START is on the way (0: none asked yet).
DB_INDEX_PENDING = NO_VAL64

# The smallest record of each list, so a hostile count cannot outgrow the bytes that carry it.
_MIN_JOB_START = 41 * 4  # 41 fields of at least four bytes (strings as NULL)
_MIN_ID_RC = 24
_MIN_BUFFER = 4


def _encode_gate(version: int, what: str) -> None:
    check_dbd(version, what)


def _decode_gate(version: int, what: str) -> None:
    check_dbd(version, what)


class _InVersion:
    """A nested block of a versioned table, packed by its own codec in one release (a field kind)."""

    def __init__(self, pack: Callable[[Writer, object, int], None], unpack: Callable[[Reader, int], object],
                 version: int) -> None:  # fmt: skip
        self._pack, self._unpack, self.version = pack, unpack, version

    def pack(self, value: object) -> bytes:
        w = Writer()
        self._pack(w, value, self.version)
        return w.getvalue()

    def unpack(self, r: Reader) -> object:
        return self._unpack(r, self.version)


def _step_id_in(version: int) -> _InVersion:
    return _InVersion(lambda w, v, ver: v.pack(w, ver), StepId.unpack, version)  # type: ignore[attr-defined]


# slurm_step_id_t gained the job's u64 sluid in 24.11 (pack_step_id)
STEP_ID: tuple[Entry, ...] = (
    ("step_id", _step_id_in(SLURM_22_05_PROTOCOL_VERSION), before(SLURM_24_11_PROTOCOL_VERSION)),
    ("step_id", _step_id_in(SLURM_24_11_PROTOCOL_VERSION), since(SLURM_24_11_PROTOCOL_VERSION)),
)


@dataclass(frozen=True, slots=True)
class DbdJobStart(Message):
    """dbd_job_start_msg_t (_pack_job_start_msg, :data:`JOB_START`). Times are epoch seconds (0: not
    yet); ``node_inx`` is the node index list of ``nodes`` ("0-1"), computed by the sender. The fields
    after ``script_hash`` are those of newer releases."""

    NEWER_LAYOUTS = DBD_NEWER

    job_id: int
    submit_time: int
    account: str | None = None
    alloc_nodes: int = 0
    array_job_id: int = 0
    array_max_tasks: int = 0
    array_task_id: int = NO_VAL
    array_task_str: str | None = None
    array_task_pending: int = 0
    assoc_id: int = 0
    constraints: str | None = None
    container: str | None = None
    db_flags: int = 0
    db_index: int = 0
    eligible_time: int = 0
    gid: int = 0
    gres_used: str | None = None
    job_state: int = 0
    state_reason_prev: int = 0
    mcs_label: str | None = None
    name: str | None = None
    nodes: str | None = None
    node_inx: str | None = None
    het_job_id: int = 0
    het_job_offset: int = NO_VAL
    partition: str | None = None
    priority: int = 0
    qos_id: int = 0
    req_cpus: int = 0
    req_mem: int = 0
    resv_id: int = 0
    start_time: int = 0
    submit_line: str | None = None
    timelimit: int = NO_VAL
    tres_alloc_str: str | None = None
    tres_req_str: str | None = None
    uid: int = 0
    wckey: str | None = None
    work_dir: str | None = None
    env_hash: str | None = None
    script_hash: str | None = None
    licenses: str | None = None  # 24.05 on
    std_err: str | None = None
    std_in: str | None = None
    std_out: str | None = None
    qos_req: str | None = None  # 24.11 on
    restart_cnt: int = 0
    exclusive: int = 0  # 26.05 on
    oversubscribe: int = 0
    resv_req: str | None = None
    segment_size: int = 0
    sluid: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.raw(JOB_START.pack(self, version))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return JOB_START.unpacker(version)(cls, r)


_V2405, _V2411, _V2605 = (
    SLURM_24_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
)
JOB_START = VersionedLayout(
    DbdJobStart,
    (
        ("account", STR),
        ("alloc_nodes", U32),
        ("array_job_id", U32),
        ("array_max_tasks", U32),
        ("array_task_id", U32),
        ("array_task_str", STR),
        ("array_task_pending", U32),
        ("assoc_id", U32),
        ("constraints", STR),
        ("container", STR),
        ("db_flags", U32),
        ("db_index", U64),
        ("eligible_time", TIME),
        ("exclusive", U8, since(_V2605)),
        ("gid", U32),
        ("gres_used", STR),
        ("job_id", U32),
        ("job_state", U32),
        ("state_reason_prev", U32),
        ("licenses", STR, since(_V2405)),
        ("mcs_label", STR),
        ("name", STR),
        ("nodes", STR),
        ("node_inx", STR),
        ("het_job_id", U32),
        ("het_job_offset", U32),
        ("oversubscribe", U8, since(_V2605)),
        ("partition", STR),
        ("priority", U32),
        ("qos_id", U32),
        ("qos_req", STR, since(_V2411)),
        ("req_cpus", U32),
        ("req_mem", U64),
        ("restart_cnt", U16, since(_V2411)),
        ("resv_id", U32),
        ("resv_req", STR, since(_V2605)),
        ("segment_size", U16, since(_V2605)),
        ("sluid", U64, since(_V2605)),
        ("start_time", TIME),
        ("std_err", STR, since(_V2405)),
        ("std_in", STR, since(_V2405)),
        ("std_out", STR, since(_V2405)),
        ("submit_line", STR),
        ("submit_time", TIME),
        ("timelimit", U32),
        ("tres_alloc_str", STR),
        ("tres_req_str", STR),
        ("uid", U32),
        ("wckey", STR),
        ("work_dir", STR),
        ("env_hash", STR),
        ("script_hash", STR),
    ),
    DBD_SPOKEN,
)


@dataclass(frozen=True, slots=True)
class DbdIdRc(Message):
    """dbd_id_rc_msg_t [22.05]: u32 job_id, u64 db_index, u64 flags (JOB_SEND_*), u32 return_code."""

    NEWER_LAYOUTS = DBD_NEWER

    job_id: int
    db_index: int
    flags: int = 0
    return_code: int = 0

    def pack(self, w: Writer, version: int) -> None:
        _encode_gate(version, "DBD_ID_RC")
        w.u32(self.job_id)
        w.u64(self.db_index)
        w.u64(self.flags)
        w.u32(self.return_code)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        _decode_gate(version, "DBD_ID_RC")
        return cls(r.u32(), r.u64(), r.u64(), r.u32())


@dataclass(frozen=True, slots=True)
class DbdJobComplete(Message):
    """dbd_job_comp_msg_t: the job's end. ``job_state`` is the base state (JOB_COMPLETE, JOB_FAILED, ...),
    ``exit_code`` the wait status, ``derived_ec`` the highest step exit code."""

    NEWER_LAYOUTS = DBD_NEWER

    job_id: int
    db_index: int
    submit_time: int
    start_time: int
    end_time: int
    job_state: int
    exit_code: int = 0
    derived_ec: int = 0
    assoc_id: int = 0
    req_uid: int = 0
    nodes: str | None = None
    tres_alloc_str: str | None = None
    admin_comment: str | None = None
    comment: str | None = None
    system_comment: str | None = None
    extra: str | None = None  # 23.02 on
    failed_node: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.raw(JOB_COMPLETE.pack(self, version))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return JOB_COMPLETE.unpacker(version)(cls, r)


# extra and failed_node came with 23.02 (the oldest layout 24.11 still packs)
JOB_COMPLETE = VersionedLayout(
    DbdJobComplete,
    (
        ("admin_comment", STR),
        ("assoc_id", U32),
        ("comment", STR),
        ("db_index", U64),
        ("derived_ec", U32),
        ("end_time", TIME),
        ("exit_code", U32),
        ("extra", STR, since(SLURM_23_11_PROTOCOL_VERSION)),
        ("failed_node", STR, since(SLURM_23_11_PROTOCOL_VERSION)),
        ("job_id", U32),
        ("job_state", U32),
        ("nodes", STR),
        ("req_uid", U32),
        ("start_time", TIME),
        ("submit_time", TIME),
        ("system_comment", STR),
        ("tres_alloc_str", STR),
    ),
    DBD_SPOKEN,
)


@dataclass(frozen=True, slots=True)
class DbdJobSuspend(Message):
    """dbd_job_suspend_msg_t: u32 assoc_id, u64 db_index, u32 job_id, u32 job_state (JOB_SUSPENDED or
    JOB_RUNNING on resume), time submit_time, time suspend_time (when it was suspended or resumed)."""

    NEWER_LAYOUTS = DBD_NEWER

    job_id: int
    db_index: int
    job_state: int
    submit_time: int
    suspend_time: int
    assoc_id: int = 0

    def pack(self, w: Writer, version: int) -> None:
        _encode_gate(version, "DBD_JOB_SUSPEND")
        w.u32(self.assoc_id)
        w.u64(self.db_index)
        w.u32(self.job_id)
        w.u32(self.job_state)
        w.time(self.submit_time)
        w.time(self.suspend_time)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        _decode_gate(version, "DBD_JOB_SUSPEND")
        assoc_id, db_index, job_id, job_state = r.u32(), r.u64(), r.u32(), r.u32()
        submit_time, suspend_time = r.time(), r.time()
        return cls(job_id, db_index, job_state, submit_time, suspend_time, assoc_id)


@dataclass(frozen=True, slots=True)
class DbdStepStart(Message):
    """dbd_step_start_msg_t [21.08 on]. ``job_submit_time`` and ``db_index`` name the job in the database;
    ``req_cpufreq_*`` are NO_VAL when not asked for."""

    NEWER_LAYOUTS = DBD_NEWER

    step_id: StepId
    db_index: int
    job_submit_time: int
    start_time: int
    assoc_id: int = 0
    container: str | None = None
    name: str | None = None
    nodes: str | None = None
    node_inx: str | None = None
    node_cnt: int = 0
    req_cpufreq_min: int = NO_VAL
    req_cpufreq_max: int = NO_VAL
    req_cpufreq_gov: int = NO_VAL
    submit_line: str | None = None
    task_dist: int = 0
    total_tasks: int = 0
    tres_alloc_str: str | None = None
    cwd: str | None = None  # 26.05 on
    state: int = 0
    std_err: str | None = None
    std_in: str | None = None
    std_out: str | None = None
    time_limit: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.raw(STEP_START.pack(self, version))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return STEP_START.unpacker(version)(cls, r)


STEP_START = VersionedLayout(
    DbdStepStart,
    (
        ("assoc_id", U32),
        ("db_index", U64),
        ("container", STR),
        ("name", STR),
        ("nodes", STR),
        ("node_inx", STR),
        ("node_cnt", U32),
        ("start_time", TIME),
        ("job_submit_time", TIME),
        ("req_cpufreq_min", U32),
        ("req_cpufreq_max", U32),
        ("req_cpufreq_gov", U32),
        *STEP_ID,
        ("cwd", STR, since(_V2605)),
        ("state", U32, since(_V2605)),
        ("std_err", STR, since(_V2605)),
        ("std_in", STR, since(_V2605)),
        ("std_out", STR, since(_V2605)),
        ("submit_line", STR),
        ("task_dist", U32),
        ("time_limit", U32, since(_V2605)),
        ("total_tasks", U32),
        ("tres_alloc_str", STR),
    ),
    DBD_SPOKEN,
)


@dataclass(frozen=True, slots=True)
class DbdStepComplete(Message):
    """dbd_step_comp_msg_t: the step's end with the usage its slurmstepd gathered (``jobacct``, as in
    REQUEST_STEP_COMPLETE; None packs u8 0). ``state`` is a u16 (JOB_COMPLETE, JOB_FAILED, ...);
    ``job_tres_alloc_str`` is set only while the job's TRES string is still being computed."""

    NEWER_LAYOUTS = DBD_NEWER

    step_id: StepId
    db_index: int
    job_submit_time: int
    start_time: int
    end_time: int
    state: int
    exit_code: int = 0
    total_tasks: int = 0
    assoc_id: int = 0
    req_uid: int = 0
    jobacct: JobAcctInfo | None = None
    job_tres_alloc_str: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.raw(STEP_COMPLETE.pack(self, version))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return STEP_COMPLETE.unpacker(version)(cls, r)

    @property
    def is_batch(self) -> bool:
        return self.step_id.step_id == SLURM_BATCH_SCRIPT


_JOBACCT = {v: _InVersion(pack_jobacct, unpack_jobacct, v) for v in DBD_SPOKEN}  # type: ignore[arg-type]
STEP_COMPLETE = VersionedLayout(
    DbdStepComplete,
    (
        ("assoc_id", U32),
        ("db_index", U64),
        ("end_time", TIME),
        ("exit_code", U32),
        # jobacctinfo_pack's layout is one from 21.08 on; its TRES records follow the connection's version
        *(("jobacct", _JOBACCT[v], Span(v, v + 1)) for v in DBD_SPOKEN),
        ("job_submit_time", TIME),
        ("job_tres_alloc_str", STR),
        ("req_uid", U32),
        ("start_time", TIME),
        ("state", U16),
        *STEP_ID,
        ("total_tasks", U32),
    ),
    DBD_SPOKEN,
)


@dataclass(frozen=True, slots=True)
class DbdJobHeavy(Message):
    """dbd_job_heavy_msg_t [22.05]: str env ("NAME=value\\n" each), str env_hash, str script,
    str script_hash."""

    NEWER_LAYOUTS = DBD_NEWER

    env: str | None = None
    env_hash: str | None = None
    script: str | None = None
    script_hash: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        _encode_gate(version, "DBD_JOB_HEAVY")
        w.string(self.env)
        w.string(self.env_hash)
        w.string(self.script)
        w.string(self.script_hash)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        _decode_gate(version, "DBD_JOB_HEAVY")
        return cls(r.string(), r.string(), r.string(), r.string())


# -- lists ---------------------------------------------------------------------------------------

T = TypeVar("T")


def _pack_list(w: Writer, items: tuple[T, ...] | None, pack_one: Callable[[T], None]) -> None:
    if items is None:
        w.u32(NO_VAL)
        return
    w.u32(len(items))
    for item in items:
        pack_one(item)


def _unpack_list(r: Reader, min_size: int, unpack_one: Callable[[], T], what: str) -> tuple[T, ...] | None:
    count = r.u32()
    if count == NO_VAL:
        return None
    # the return code follows the records: it must fit too
    if count * min_size > r.remaining - 4:
        raise DecodeError(f"{what}: {count} records do not fit in {r.remaining} bytes")
    return tuple(unpack_one() for _ in range(count))


def _rc_to_wire(rc: int) -> int:
    return rc & 0xFFFFFFFF


def _rc_from_wire(rc: int) -> int:
    return rc - (1 << 32) if rc >= 1 << 31 else rc


@dataclass(frozen=True, slots=True)
class DbdMultJobStart(Message):
    """DBD_SEND_MULT_JOB_START: a list of job starts (``None``: NO_VAL, no list), then u32 return_code."""

    NEWER_LAYOUTS = DBD_NEWER

    starts: tuple[DbdJobStart, ...] | None
    return_code: int = 0

    def pack(self, w: Writer, version: int) -> None:
        _pack_list(w, self.starts, lambda s: s.pack(w, version))
        w.u32(_rc_to_wire(self.return_code))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        starts = _unpack_list(
            r, _MIN_JOB_START, lambda: DbdJobStart.unpack(r, version), "DBD_SEND_MULT_JOB_START"
        )
        return cls(starts, _rc_from_wire(r.u32()))


@dataclass(frozen=True, slots=True)
class DbdGotMultJobStart(Message):
    """DBD_GOT_MULT_JOB_START: one DBD_ID_RC record per start received, in order, then u32 return_code."""

    NEWER_LAYOUTS = DBD_NEWER

    ids: tuple[DbdIdRc, ...] | None
    return_code: int = 0

    def pack(self, w: Writer, version: int) -> None:
        _pack_list(w, self.ids, lambda i: i.pack(w, version))
        w.u32(_rc_to_wire(self.return_code))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        ids = _unpack_list(r, _MIN_ID_RC, lambda: DbdIdRc.unpack(r, version), "DBD_GOT_MULT_JOB_START")
        return cls(ids, _rc_from_wire(r.u32()))


@dataclass(frozen=True, slots=True)
class DbdMultMsg(Message):
    """DBD_SEND_MULT_MSG and DBD_GOT_MULT_MSG: whole messages (``u16 type + body``, each packmem'd), then
    u32 return_code. slurmdbd answers each message of a SEND in order in the GOT (PERSIST_RC, DBD_ID_RC,
    ...); decode one with :func:`decode_dbd_msg` or :func:`split_dbd_msg`."""

    NEWER_LAYOUTS = DBD_NEWER

    messages: tuple[bytes, ...] | None
    return_code: int = 0

    def pack(self, w: Writer, version: int) -> None:
        _encode_gate(version, "DBD_*_MULT_MSG")
        _pack_list(w, self.messages, w.mem)
        w.u32(_rc_to_wire(self.return_code))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        _decode_gate(version, "DBD_*_MULT_MSG")

        def one() -> bytes:
            msg = r.mem()
            if msg is None or len(msg) < 2:
                raise DecodeError("DBD_*_MULT_MSG: a message without its type")
            return msg

        return cls(_unpack_list(r, _MIN_BUFFER, one, "DBD_*_MULT_MSG"), _rc_from_wire(r.u32()))


# The body of each message type this module speaks.
DBD_JOB_BODIES: Mapping[DbdMsgType, type[Body]] = {
    DbdMsgType.DBD_JOB_START: DbdJobStart,
    DbdMsgType.DBD_ID_RC: DbdIdRc,
    DbdMsgType.DBD_JOB_COMPLETE: DbdJobComplete,
    DbdMsgType.DBD_JOB_SUSPEND: DbdJobSuspend,
    DbdMsgType.DBD_STEP_START: DbdStepStart,
    DbdMsgType.DBD_STEP_COMPLETE: DbdStepComplete,
    DbdMsgType.DBD_JOB_HEAVY: DbdJobHeavy,
    DbdMsgType.DBD_SEND_MULT_JOB_START: DbdMultJobStart,
    DbdMsgType.DBD_GOT_MULT_JOB_START: DbdGotMultJobStart,
    DbdMsgType.DBD_SEND_MULT_MSG: DbdMultMsg,
    DbdMsgType.DBD_GOT_MULT_MSG: DbdMultMsg,
}


def split_dbd_msg(msg: bytes) -> tuple[int, bytes]:
    """``u16 type + body`` -> (type, body)."""
    if len(msg) < 2:
        raise DecodeError(f"slurmdbd message of {len(msg)} bytes has no type")
    return int.from_bytes(msg[:2], "big"), msg[2:]


def decode_dbd_msg(
    msg: bytes, version: int, bodies: Mapping[DbdMsgType, type[Body]] = DBD_JOB_BODIES
) -> tuple[DbdMsgType, Body]:
    """One message of a persistent connection to slurmdbd (``u16 type + body``), every byte consumed."""
    msg_type, body = split_dbd_msg(msg)
    try:
        known = DbdMsgType(msg_type)
    except ValueError:
        raise DecodeError(f"slurmdbd message type {msg_type} is not known") from None
    cls = bodies.get(known)
    if cls is None:
        raise DecodeError(f"slurmdbd message {known.name} is not decoded here")
    r = Reader(body)
    decoded = cls.unpack(r, version)
    r.expect_end(known.name)
    return known, decoded
