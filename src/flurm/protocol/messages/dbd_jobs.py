"""The job and step records slurmctld sends slurmdbd, and slurmdbd's answers to them (slurmdbd_pack.c of
22.05, protocol 0x2600; the accounting_storage/slurmdbd plugin fills them).

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
``u32 return_code``. These bodies have one layout from 22.05 to 22.05: flurm talks to slurmdbd 22.05 only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Self, TypeVar

from flurm.protocol.constants import NO_VAL, NO_VAL64, SLURM_BATCH_SCRIPT
from flurm.protocol.dbd_types import DbdMsgType
from flurm.protocol.messages.base import Body, Message
from flurm.protocol.messages.credential import StepId
from flurm.protocol.messages.slurmd import JobAcctInfo, pack_jobacct, unpack_jobacct
from flurm.protocol.versions import require_22_05_decode, require_22_05_encode
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
    require_22_05_encode(version, what)


def _decode_gate(version: int, what: str) -> None:
    require_22_05_decode(version, what)


@dataclass(frozen=True, slots=True)
class DbdJobStart(Message):
    """dbd_job_start_msg_t (_pack_job_start_msg [22.05]). Times are epoch seconds (0: not yet);
    ``node_inx`` is the node index list of ``nodes`` ("0-1"), computed by the sender."""

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

    def pack(self, w: Writer, version: int) -> None:
        _encode_gate(version, "DBD_JOB_START")
        w.string(self.account)
        w.u32(self.alloc_nodes)
        w.u32(self.array_job_id)
        w.u32(self.array_max_tasks)
        w.u32(self.array_task_id)
        w.string(self.array_task_str)
        w.u32(self.array_task_pending)
        w.u32(self.assoc_id)
        w.string(self.constraints)
        w.string(self.container)
        w.u32(self.db_flags)
        w.u64(self.db_index)
        w.time(self.eligible_time)
        w.u32(self.gid)
        w.string(self.gres_used)
        w.u32(self.job_id)
        w.u32(self.job_state)
        w.u32(self.state_reason_prev)
        w.string(self.mcs_label)
        w.string(self.name)
        w.string(self.nodes)
        w.string(self.node_inx)
        w.u32(self.het_job_id)
        w.u32(self.het_job_offset)
        w.string(self.partition)
        w.u32(self.priority)
        w.u32(self.qos_id)
        w.u32(self.req_cpus)
        w.u64(self.req_mem)
        w.u32(self.resv_id)
        w.time(self.start_time)
        w.string(self.submit_line)
        w.time(self.submit_time)
        w.u32(self.timelimit)
        w.string(self.tres_alloc_str)
        w.string(self.tres_req_str)
        w.u32(self.uid)
        w.string(self.wckey)
        w.string(self.work_dir)
        w.string(self.env_hash)
        w.string(self.script_hash)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        _decode_gate(version, "DBD_JOB_START")
        account, alloc_nodes = r.string(), r.u32()
        array_job_id, array_max_tasks, array_task_id = r.u32(), r.u32(), r.u32()
        array_task_str, array_task_pending = r.string(), r.u32()
        assoc_id, constraints, container = r.u32(), r.string(), r.string()
        db_flags, db_index, eligible_time = r.u32(), r.u64(), r.time()
        gid, gres_used = r.u32(), r.string()
        job_id, job_state, state_reason_prev = r.u32(), r.u32(), r.u32()
        mcs_label, name, nodes, node_inx = r.string(), r.string(), r.string(), r.string()
        het_job_id, het_job_offset, partition = r.u32(), r.u32(), r.string()
        priority, qos_id, req_cpus, req_mem, resv_id = r.u32(), r.u32(), r.u32(), r.u64(), r.u32()
        start_time, submit_line, submit_time, timelimit = r.time(), r.string(), r.time(), r.u32()
        tres_alloc_str, tres_req_str, uid = r.string(), r.string(), r.u32()
        wckey, work_dir, env_hash, script_hash = r.string(), r.string(), r.string(), r.string()
        return cls(
            job_id=job_id,
            submit_time=submit_time,
            account=account,
            alloc_nodes=alloc_nodes,
            array_job_id=array_job_id,
            array_max_tasks=array_max_tasks,
            array_task_id=array_task_id,
            array_task_str=array_task_str,
            array_task_pending=array_task_pending,
            assoc_id=assoc_id,
            constraints=constraints,
            container=container,
            db_flags=db_flags,
            db_index=db_index,
            eligible_time=eligible_time,
            gid=gid,
            gres_used=gres_used,
            job_state=job_state,
            state_reason_prev=state_reason_prev,
            mcs_label=mcs_label,
            name=name,
            nodes=nodes,
            node_inx=node_inx,
            het_job_id=het_job_id,
            het_job_offset=het_job_offset,
            partition=partition,
            priority=priority,
            qos_id=qos_id,
            req_cpus=req_cpus,
            req_mem=req_mem,
            resv_id=resv_id,
            start_time=start_time,
            submit_line=submit_line,
            timelimit=timelimit,
            tres_alloc_str=tres_alloc_str,
            tres_req_str=tres_req_str,
            uid=uid,
            wckey=wckey,
            work_dir=work_dir,
            env_hash=env_hash,
            script_hash=script_hash,
        )


@dataclass(frozen=True, slots=True)
class DbdIdRc(Message):
    """dbd_id_rc_msg_t [22.05]: u32 job_id, u64 db_index, u64 flags (JOB_SEND_*), u32 return_code."""

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

    def pack(self, w: Writer, version: int) -> None:
        _encode_gate(version, "DBD_JOB_COMPLETE")
        w.string(self.admin_comment)
        w.u32(self.assoc_id)
        w.string(self.comment)
        w.u64(self.db_index)
        w.u32(self.derived_ec)
        w.time(self.end_time)
        w.u32(self.exit_code)
        w.u32(self.job_id)
        w.u32(self.job_state)
        w.string(self.nodes)
        w.u32(self.req_uid)
        w.time(self.start_time)
        w.time(self.submit_time)
        w.string(self.system_comment)
        w.string(self.tres_alloc_str)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        _decode_gate(version, "DBD_JOB_COMPLETE")
        admin_comment, assoc_id, comment = r.string(), r.u32(), r.string()
        db_index, derived_ec, end_time, exit_code = r.u64(), r.u32(), r.time(), r.u32()
        job_id, job_state, nodes, req_uid = r.u32(), r.u32(), r.string(), r.u32()
        start_time, submit_time, system_comment, tres_alloc_str = r.time(), r.time(), r.string(), r.string()
        return cls(
            job_id=job_id,
            db_index=db_index,
            submit_time=submit_time,
            start_time=start_time,
            end_time=end_time,
            job_state=job_state,
            exit_code=exit_code,
            derived_ec=derived_ec,
            assoc_id=assoc_id,
            req_uid=req_uid,
            nodes=nodes,
            tres_alloc_str=tres_alloc_str,
            admin_comment=admin_comment,
            comment=comment,
            system_comment=system_comment,
        )


@dataclass(frozen=True, slots=True)
class DbdJobSuspend(Message):
    """dbd_job_suspend_msg_t: u32 assoc_id, u64 db_index, u32 job_id, u32 job_state (JOB_SUSPENDED or
    JOB_RUNNING on resume), time submit_time, time suspend_time (when it was suspended or resumed)."""

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

    def pack(self, w: Writer, version: int) -> None:
        _encode_gate(version, "DBD_STEP_START")
        w.u32(self.assoc_id)
        w.u64(self.db_index)
        w.string(self.container)
        w.string(self.name)
        w.string(self.nodes)
        w.string(self.node_inx)
        w.u32(self.node_cnt)
        w.time(self.start_time)
        w.time(self.job_submit_time)
        w.u32(self.req_cpufreq_min)
        w.u32(self.req_cpufreq_max)
        w.u32(self.req_cpufreq_gov)
        self.step_id.pack(w, version)
        w.string(self.submit_line)
        w.u32(self.task_dist)
        w.u32(self.total_tasks)
        w.string(self.tres_alloc_str)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        _decode_gate(version, "DBD_STEP_START")
        assoc_id, db_index, container, name = r.u32(), r.u64(), r.string(), r.string()
        nodes, node_inx, node_cnt = r.string(), r.string(), r.u32()
        start_time, job_submit_time = r.time(), r.time()
        cpufreq_min, cpufreq_max, cpufreq_gov = r.u32(), r.u32(), r.u32()
        step_id = StepId.unpack(r, version)
        submit_line, task_dist, total_tasks, tres_alloc_str = r.string(), r.u32(), r.u32(), r.string()
        return cls(
            step_id=step_id,
            db_index=db_index,
            job_submit_time=job_submit_time,
            start_time=start_time,
            assoc_id=assoc_id,
            container=container,
            name=name,
            nodes=nodes,
            node_inx=node_inx,
            node_cnt=node_cnt,
            req_cpufreq_min=cpufreq_min,
            req_cpufreq_max=cpufreq_max,
            req_cpufreq_gov=cpufreq_gov,
            submit_line=submit_line,
            task_dist=task_dist,
            total_tasks=total_tasks,
            tres_alloc_str=tres_alloc_str,
        )


@dataclass(frozen=True, slots=True)
class DbdStepComplete(Message):
    """dbd_step_comp_msg_t: the step's end with the usage its slurmstepd gathered (``jobacct``, as in
    REQUEST_STEP_COMPLETE; None packs u8 0). ``state`` is a u16 (JOB_COMPLETE, JOB_FAILED, ...);
    ``job_tres_alloc_str`` is set only while the job's TRES string is still being computed."""

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
        _encode_gate(version, "DBD_STEP_COMPLETE")
        w.u32(self.assoc_id)
        w.u64(self.db_index)
        w.time(self.end_time)
        w.u32(self.exit_code)
        pack_jobacct(w, self.jobacct, version)
        w.time(self.job_submit_time)
        w.string(self.job_tres_alloc_str)
        w.u32(self.req_uid)
        w.time(self.start_time)
        w.u16(self.state)
        self.step_id.pack(w, version)
        w.u32(self.total_tasks)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        _decode_gate(version, "DBD_STEP_COMPLETE")
        assoc_id, db_index, end_time, exit_code = r.u32(), r.u64(), r.time(), r.u32()
        jobacct = unpack_jobacct(r, version)
        job_submit_time, job_tres_alloc_str, req_uid = r.time(), r.string(), r.u32()
        start_time, state = r.time(), r.u16()
        step_id = StepId.unpack(r, version)
        return cls(
            step_id=step_id,
            db_index=db_index,
            job_submit_time=job_submit_time,
            start_time=start_time,
            end_time=end_time,
            state=state,
            exit_code=exit_code,
            total_tasks=r.u32(),
            assoc_id=assoc_id,
            req_uid=req_uid,
            jobacct=jobacct,
            job_tres_alloc_str=job_tres_alloc_str,
        )

    @property
    def is_batch(self) -> bool:
        return self.step_id.step_id == SLURM_BATCH_SCRIPT


@dataclass(frozen=True, slots=True)
class DbdJobHeavy(Message):
    """dbd_job_heavy_msg_t [22.05]: str env ("NAME=value\\n" each), str env_hash, str script,
    str script_hash."""

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
