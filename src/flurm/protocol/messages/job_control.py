"""Job control bodies: submit and allocation replies, kill/cancel, array errors, allocation
complete, the federation answer and the build-info request (SLURM 22.05). The submit reply, the kill
and cancel requests (and 24.11's REQUEST_KILL_JOBS), the array errors and the will-run reply speak
24.11 and 26.05 as well (their NEWER_LAYOUTS)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from flurm.protocol.constants import (
    AF_INET,
    AF_INET6,
    NO_VAL,
    NO_VAL16,
    SELECT_PLUGIN_CONS_TRES,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    SLURM_BATCH_SCRIPT,
    MsgType,
)
from flurm.protocol.frame import Address
from flurm.protocol.messages.base import Message, register
from flurm.protocol.messages.credential import StepId
from flurm.protocol.messages.job_common import SELECT_PLUGIN
from flurm.protocol.messages.layout import STR, STRS, U16, U32, VersionedLayout, pack_strs, read_strs, since
from flurm.protocol.versions import NEWER, require_22_05_decode, require_22_05_encode
from flurm.protocol.wire import DecodeError, EncodeError, Reader, Writer


@register(MsgType.RESPONSE_SUBMIT_BATCH_JOB)
@dataclass(frozen=True, slots=True)
class SubmitBatchJobResponse(Message):
    """4004: u32 job_id, u32 step_id (SLURM_BATCH_SCRIPT), u32 error_code, str job_submit_user_msg.
    From 26.05 the ids are a step id (sluid, job_id, step_id, step_het_comp NO_VAL).

    Sent whenever the job exists, even if it cannot run yet: error_code 2042 for ``--hold``.
    """

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    job_id: int
    step_id: int = SLURM_BATCH_SCRIPT
    error_code: int = 0
    job_submit_user_msg: str | None = None
    sluid: int = 0

    def pack(self, w: Writer, version: int) -> None:
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            StepId(self.job_id, self.step_id, NO_VAL, self.sluid).pack(w, version)
        else:
            w.u32(self.job_id)
            w.u32(self.step_id)
        w.u32(self.error_code)
        w.string(self.job_submit_user_msg)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            ids = StepId.unpack(r, version)
            return cls(ids.job_id, ids.step_id, r.u32(), r.string(), ids.sluid)
        return cls(r.u32(), r.u32(), r.u32(), r.string())


@register(MsgType.REQUEST_KILL_JOB, MsgType.REQUEST_CANCEL_JOB_STEP)
@dataclass(frozen=True, slots=True)
class JobStepKill(Message):
    """job_step_kill_msg_t, for 5032 (scancel J) and 5005 (scancel J.S): a step id (pack_step_id, with
    the sluid from 24.11), str sjob_id, str sibling, u16 signal, u16 flags.

    5032 from scancel: job_id/step_id/step_het_comp NO_VAL and ``sjob_id`` the user's text ("2",
    "2_1", "2_[1-3]"). 5005: the numeric job and step ids, sjob_id NULL. ``flags`` are KillFlags.
    """

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    job_id: int = NO_VAL
    step_id: int = NO_VAL
    step_het_comp: int = NO_VAL
    sjob_id: str | None = None
    sibling: str | None = None
    signal: int = 9
    flags: int = 0
    sluid: int = 0

    def pack(self, w: Writer, version: int) -> None:
        StepId(self.job_id, self.step_id, self.step_het_comp, self.sluid).pack(w, version)
        w.string(self.sjob_id)
        w.string(self.sibling)
        w.u16(self.signal)
        w.u16(self.flags)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        ids = StepId.unpack(r, version)
        sjob_id, sibling, signal, flags = r.string(), r.string(), r.u16(), r.u16()
        return cls(ids.job_id, ids.step_id, ids.step_het_comp, sjob_id, sibling, signal, flags, ids.sluid)


@dataclass(frozen=True, slots=True)
class JobArrayError:
    """One entry of 5034: the tasks (e.g. "1_1-6") that got this error code (0 = success); from
    24.11 also a message of its own (NULL: the client prints the code's text)."""

    error_code: int
    job_array_id: str | None
    err_msg: str | None = None


@register(MsgType.RESPONSE_JOB_ARRAY_ERRORS)
@dataclass(frozen=True, slots=True)
class JobArrayErrors(Message):
    """5034, the reply to an update of a whole array id: u32 count, count x {u32 rc, str ids[, str
    err_msg from 24.11]}."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    errors: tuple[JobArrayError, ...] = ()

    def pack(self, w: Writer, version: int) -> None:
        w.u32(len(self.errors))
        for e in self.errors:
            w.u32(e.error_code)
            w.string(_tasks_on_wire(e.job_array_id, version))
            if version >= SLURM_24_11_PROTOCOL_VERSION:
                w.string(e.err_msg)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        count = r.u32()
        if count * 8 > r.remaining:
            raise DecodeError(f"job array errors: {count} entries do not fit in {r.remaining} bytes")
        with_msg = version >= SLURM_24_11_PROTOCOL_VERSION
        return cls(
            tuple(
                JobArrayError(r.u32(), _tasks_read(r.string(), version), r.string() if with_msg else None)
                for _ in range(count)
            )
        )


# 26.05 names an entry's tasks as fmt_job_id_string does, in brackets ("3_[1-3]", "3_[2]"); 22.05 and
# 24.11 as bit_fmt leaves them ("3_1-3"). JobArrayError holds the latter.
def _tasks_on_wire(text: str | None, version: int) -> str | None:
    if text is None or version < SLURM_26_05_PROTOCOL_VERSION or "_" not in text:
        return text
    job, tasks = text.split("_", 1)
    return f"{job}_[{tasks}]"


def _tasks_read(text: str | None, version: int) -> str | None:
    if text is None or version < SLURM_26_05_PROTOCOL_VERSION or "_[" not in text or not text.endswith("]"):
        return text
    job, tasks = text.split("_[", 1)
    return f"{job}_{tasks[:-1]}"


@register(MsgType.REQUEST_KILL_JOBS)
@dataclass(frozen=True, slots=True)
class KillJobs(Message):
    """kill_jobs_msg_t, 5041 (24.11 on; ``scancel --ctld``): the jobs (scancel's id strings) and the
    filters slurmctld matches itself, the signal and KillFlags (KILL_JOBS_VERBOSE: answer for each job,
    successes too). 26.05 adds admin_comment."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    account: str | None = None
    admin_comment: str | None = None
    flags: int = 0
    job_name: str | None = None
    jobs: tuple[str, ...] = ()
    partition: str | None = None
    qos: str | None = None
    reservation: str | None = None
    signal: int = 9
    state: int = 0
    user_id: int = 0
    user_name: str | None = None
    wckey: str | None = None
    nodelist: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.raw(_KILL_JOBS.pack(self, version))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return _KILL_JOBS.unpacker(version)(cls, r)


_KILL_JOBS = VersionedLayout(
    KillJobs,
    (
        ("account", STR),
        ("admin_comment", STR, since(SLURM_26_05_PROTOCOL_VERSION)),
        ("flags", U16),
        ("job_name", STR),
        ("jobs", STRS),
        ("partition", STR),
        ("qos", STR),
        ("reservation", STR),
        ("signal", U16),
        ("state", U32),
        ("user_id", U32),
        ("user_name", STR),
        ("wckey", STR),
        ("nodelist", STR),
    ),
    NEWER,
)


@dataclass(frozen=True, slots=True)
class KillJobResult:
    """One job's answer in 5042: its error code and message, the job as slurm_selected_step_t (a step
    id, the array task id (NO_VAL: no array's task), the het offset, an array bitmap flurm leaves NULL),
    the real job id, the sibling."""

    error_code: int
    job_id: int
    array_task_id: int = NO_VAL
    real_job_id: int = NO_VAL
    error_msg: str | None = None
    sibling: str | None = None
    het_job_offset: int = NO_VAL
    sluid: int = 0


@register(MsgType.RESPONSE_KILL_JOBS)
@dataclass(frozen=True, slots=True)
class KillJobsResponse(Message):
    """kill_jobs_resp_msg_t, 5042: u32 count, then each :class:`KillJobResult`."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    results: tuple[KillJobResult, ...] = ()

    def pack(self, w: Writer, version: int) -> None:
        w.u32(len(self.results))
        for res in self.results:
            w.u32(res.error_code)
            w.string(res.error_msg)
            StepId(res.job_id, NO_VAL, NO_VAL, res.sluid).pack(w, version)
            w.u32(res.array_task_id)
            w.u32(res.het_job_offset)
            w.bitmap(None)
            w.u32(res.real_job_id)
            w.string(res.sibling)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        count = r.u32()
        if count * 32 > r.remaining:
            raise DecodeError(f"kill jobs response: {count} entries do not fit in {r.remaining} bytes")
        out = []
        for _ in range(count):
            rc, msg = r.u32(), r.string()
            ids = StepId.unpack(r, version)
            task, offset = r.u32(), r.u32()
            r.bitmap()
            real, sibling = r.u32(), r.string()
            out.append(KillJobResult(rc, ids.job_id, task, real, msg, sibling, offset, ids.sluid))
        return cls(tuple(out))


@register(MsgType.REQUEST_COMPLETE_JOB_ALLOCATION)
@dataclass(frozen=True, slots=True)
class CompleteJobAllocation(Message):
    """5017 (srun/salloc at exit): u32 job_id, u32 job_rc (the wait status, as an unsigned 32-bit value).
    26.05 sends a step id for the job id."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    job_id: int
    job_rc: int = 0
    # 26.05: the rest of the step id (srun sends its step's, salloc NO_VAL)
    sluid: int = 0
    step_id: int = NO_VAL
    step_het_comp: int = NO_VAL

    def pack(self, w: Writer, version: int) -> None:
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            StepId(self.job_id, self.step_id, self.step_het_comp, self.sluid).pack(w, version)
        else:
            w.u32(self.job_id)
        w.u32(self.job_rc)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            step = StepId.unpack(r, version)
            return cls(step.job_id, r.u32(), step.sluid, step.step_id, step.step_het_comp)
        return cls(r.u32(), r.u32())


@register(MsgType.RESPONSE_FED_INFO)
@dataclass(frozen=True, slots=True)
class FedInfoResponse(Message):
    """2050 for a cluster that is not federated: one byte 0 (so in 24.11 and 26.05). A federation
    record is not supported."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    def pack(self, w: Writer, version: int) -> None:
        w.u8(0)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        present = r.u8()
        if present != 0:
            raise DecodeError("RESPONSE_FED_INFO with a federation record is not supported")
        return cls()


@register(MsgType.REQUEST_BUILD_INFO)
@dataclass(frozen=True, slots=True)
class LastUpdateRequest(Message):
    """last_update_msg_t: time last_update (2001 REQUEST_BUILD_INFO; scontrol sends 0)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)  # alike in every release

    last_update: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.time(self.last_update)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.time())


# -- RESPONSE_RESOURCE_ALLOCATION -----------------------------------------------------------------


def _read_address(r: Reader) -> Address:
    family = r.u16()
    if family == AF_INET:
        return Address(family, r.u32(), r.u16())
    if family == AF_INET6:
        raw = r.mem()
        if raw is None or len(raw) != 16:
            raise DecodeError("node address: AF_INET6 address is not 16 bytes")
        return Address(family, raw, r.u16())
    return Address(family)


def _write_address(w: Writer, a: Address) -> None:
    w.u16(a.family)
    if a.family == AF_INET:
        if not isinstance(a.addr, int):
            raise EncodeError(f"AF_INET address {a.addr!r} is not an int")
        w.u32(a.addr)
        w.u16(a.port)
    elif a.family == AF_INET6:
        if not isinstance(a.addr, bytes) or len(a.addr) != 16:
            raise EncodeError(f"AF_INET6 address {a.addr!r} is not 16 bytes")
        w.mem(a.addr)
        w.u16(a.port)


@register(MsgType.RESPONSE_RESOURCE_ALLOCATION)
@dataclass(frozen=True, slots=True)
class ResourceAllocationResponse(Message):
    """4002, the reply to srun/salloc's 4001 (``_pack_resource_allocation_response_msg``).

    ``node_addr`` None packs the u8 0 flag; a tuple packs flag 1 and must hold ``node_cnt``
    addresses. ``cpus_per_node``/``cpu_count_reps`` are the run-length CPU groups
    (num_cpu_groups = their common length). A working_cluster_rec is not supported.

    Per release: 22.05 ends with the select plugin's (empty) jobinfo. 24.11 adds the job's
    uid/gid and their names and tres_per_node, drops the select jobinfo, and packs alias_list and
    the node_addr flag empty. 26.05 drops both, moves the job id into a step id (the job's sluid,
    step NO_VAL) after the job's segment_size and start_protocol_ver, and adds tres_per_task.
    """

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    account: str | None = None
    alias_list: str | None = None
    batch_host: str | None = None
    environment: tuple[str, ...] = ()
    error_code: int = 0
    job_submit_user_msg: str | None = None
    job_id: int = 0
    node_cnt: int = 0
    node_addr: tuple[Address, ...] | None = None
    node_list: str | None = None
    ntasks_per_board: int = NO_VAL16
    ntasks_per_core: int = NO_VAL16
    ntasks_per_tres: int = NO_VAL16
    ntasks_per_socket: int = NO_VAL16
    cpus_per_node: tuple[int, ...] = ()
    cpu_count_reps: tuple[int, ...] = ()
    partition: str | None = None
    pn_min_memory: int = 0
    qos: str | None = None
    resv_name: str | None = None
    select_plugin_id: int = SELECT_PLUGIN_CONS_TRES  # 22.05 only
    # from 24.11
    gid: int = 0
    group_name: str | None = None
    tres_per_node: str | None = None
    uid: int = 0
    user_name: str | None = None
    # from 26.05
    segment_size: int = 0
    start_protocol_ver: int = 0
    sluid: int = 0
    tres_per_task: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        if version < SLURM_24_11_PROTOCOL_VERSION:
            require_22_05_encode(version, "resource allocation response")
        elif self.alias_list is not None or self.node_addr is not None:
            raise EncodeError("from 24.11 an allocation carries neither alias_list nor node addresses")
        w.string(self.account)
        if version < SLURM_26_05_PROTOCOL_VERSION:
            w.string(self.alias_list)
        w.string(self.batch_host)
        w.raw(pack_strs(self.environment))
        w.u32(self.error_code)
        if version >= SLURM_24_11_PROTOCOL_VERSION:
            w.u32(self.gid)
            w.string(self.group_name)
        w.string(self.job_submit_user_msg)
        if version < SLURM_26_05_PROTOCOL_VERSION:
            w.u32(self.job_id)
        w.u32(self.node_cnt)
        if version < SLURM_26_05_PROTOCOL_VERSION:
            if self.node_addr is None:
                w.u8(0)
            else:
                if len(self.node_addr) != self.node_cnt or self.node_cnt == 0:
                    raise EncodeError(f"{len(self.node_addr)} node addresses for node_cnt {self.node_cnt}")
                w.u8(1)
                w.u32(len(self.node_addr))
                for a in self.node_addr:
                    _write_address(w, a)
        w.string(self.node_list)
        w.u16(self.ntasks_per_board)
        w.u16(self.ntasks_per_core)
        w.u16(self.ntasks_per_tres)
        w.u16(self.ntasks_per_socket)
        if len(self.cpus_per_node) != len(self.cpu_count_reps):
            raise EncodeError("cpus_per_node and cpu_count_reps differ in length")
        w.u32(len(self.cpus_per_node))
        if self.cpus_per_node:
            w.u16_array(self.cpus_per_node)
            w.u32_array(self.cpu_count_reps)
        w.string(self.partition)
        w.u64(self.pn_min_memory)
        w.string(self.qos)
        w.string(self.resv_name)
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            w.u16(self.segment_size)
            w.u16(self.start_protocol_ver)
            StepId(self.job_id, NO_VAL, NO_VAL, self.sluid).pack(w, version)
        if version < SLURM_24_11_PROTOCOL_VERSION:
            w.raw(SELECT_PLUGIN.pack(self.select_plugin_id))
        else:
            w.string(self.tres_per_node)
            if version >= SLURM_26_05_PROTOCOL_VERSION:
                w.string(self.tres_per_task)
            w.u32(self.uid)
            w.string(self.user_name)
        w.u8(0)  # working_cluster_rec: none

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        if version < SLURM_24_11_PROTOCOL_VERSION:
            require_22_05_decode(version, "resource allocation response")
        v24, v26 = version >= SLURM_24_11_PROTOCOL_VERSION, version >= SLURM_26_05_PROTOCOL_VERSION
        account = r.string()
        alias_list = None if v26 else r.string()
        batch_host = r.string()
        environment = read_strs(r)
        error_code = r.u32()
        gid, group_name = (r.u32(), r.string()) if v24 else (0, None)
        job_submit_user_msg = r.string()
        job_id = 0 if v26 else r.u32()
        node_cnt = r.u32()
        node_addr: tuple[Address, ...] | None = None
        present = 0 if v26 else r.u8()
        if present == 1:
            count = r.u32()
            if count != node_cnt or count * 2 > r.remaining:
                raise DecodeError(f"{count} node addresses for node_cnt {node_cnt}")
            node_addr = tuple(_read_address(r) for _ in range(count))
        elif present != 0:
            raise DecodeError(f"node_addr flag {present} is neither 0 nor 1")
        node_list = r.string()
        per_board, per_core, per_tres, per_socket = r.u16(), r.u16(), r.u16(), r.u16()
        groups = r.u32()
        cpus_per_node: tuple[int, ...] = ()
        cpu_count_reps: tuple[int, ...] = ()
        if groups:
            cpus_per_node = tuple(r.u16_array())
            cpu_count_reps = tuple(r.u32_array())
            if len(cpus_per_node) != groups or len(cpu_count_reps) != groups:
                raise DecodeError(f"num_cpu_groups {groups} does not match the CPU group arrays")
        partition = r.string()
        pn_min_memory = r.u64()
        qos, resv_name = r.string(), r.string()
        segment_size = start_protocol_ver = sluid = 0
        if v26:
            segment_size, start_protocol_ver = r.u16(), r.u16()
            step = StepId.unpack(r, version)
            if (step.step_id, step.step_het_comp) != (NO_VAL, NO_VAL):
                raise DecodeError(f"an allocation of step {step.step_id}.{step.step_het_comp}")
            job_id, sluid = step.job_id, step.sluid
        select_plugin_id = SELECT_PLUGIN_CONS_TRES
        tres_per_node = tres_per_task = user_name = None
        uid = 0
        if v24:
            tres_per_node = r.string()
            tres_per_task = r.string() if v26 else None
            uid, user_name = r.u32(), r.string()
        else:
            select_plugin_id = SELECT_PLUGIN.unpack(r)
        if r.u8() != 0:
            raise DecodeError("RESPONSE_RESOURCE_ALLOCATION with a working_cluster_rec is not supported")
        return cls(
            account,
            alias_list,
            batch_host,
            environment,
            error_code,
            job_submit_user_msg,
            job_id,
            node_cnt,
            node_addr,
            node_list,
            per_board,
            per_core,
            per_tres,
            per_socket,
            cpus_per_node,
            cpu_count_reps,
            partition,
            pn_min_memory,
            qos,
            resv_name,
            select_plugin_id,
            gid,
            group_name,
            tres_per_node,
            uid,
            user_name,
            segment_size,
            start_protocol_ver,
            sluid,
            tres_per_task,
        )


@register(MsgType.RESPONSE_JOB_WILL_RUN)
@dataclass(frozen=True, slots=True)
class WillRunResponse(Message):
    """4013, the reply to 4012 (``--test-only``): u32 job_id, str job_submit_user_msg, str node_list,
    str part_name, u32 count of preempted job ids (NO_VAL: none) and the ids, u32 proc_cnt,
    time start_time, double sys_usage_per. From 26.05 the job id is a step id (sluid, job_id, NO_VAL,
    NO_VAL)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    job_id: int
    node_list: str | None = None
    part_name: str | None = None
    proc_cnt: int = 0
    start_time: int = 0
    preemptee_job_ids: tuple[int, ...] | None = None
    job_submit_user_msg: str | None = None
    sys_usage_per: float = 0.0
    sluid: int = 0

    def pack(self, w: Writer, version: int) -> None:
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            StepId(self.job_id, NO_VAL, NO_VAL, self.sluid).pack(w, version)
        else:
            w.u32(self.job_id)
        w.string(self.job_submit_user_msg)
        w.string(self.node_list)
        w.string(self.part_name)
        if self.preemptee_job_ids is None:
            w.u32(NO_VAL)
        else:
            w.u32(len(self.preemptee_job_ids))
            for job_id in self.preemptee_job_ids:
                w.u32(job_id)
        w.u32(self.proc_cnt)
        w.time(self.start_time)
        w.double(self.sys_usage_per)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        sluid = 0
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            ids = StepId.unpack(r, version)
            job_id, sluid = ids.job_id, ids.sluid
        else:
            job_id = r.u32()
        user_msg, node_list, part_name = r.string(), r.string(), r.string()
        count = r.u32()
        preemptees: tuple[int, ...] | None = None
        if count != NO_VAL:
            if count * 4 > r.remaining:
                raise DecodeError(f"will-run response: {count} preempted jobs do not fit")
            preemptees = tuple(r.u32() for _ in range(count))
        proc_cnt, start_time, usage = r.u32(), r.time(), r.double()
        return cls(job_id, node_list, part_name, proc_cnt, start_time, preemptees, user_msg, usage, sluid)
