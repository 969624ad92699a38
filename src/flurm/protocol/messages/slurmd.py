"""Controller <-> slurmd RPC bodies of SLURM 22.05 (protocol 0x2600), 24.11 (0x2A00) and 26.05 (0x2D00).

Each body speaks every served release (NEWER_LAYOUTS): the differences are branches on the version
below, compared field by field with _pack_* of slurm_protocol_pack.c in each release. A slurmd is
talked to in the version it registered with; its daemons (slurmd, slurmstepd) send in their own.

Controller -> slurmd (one TCP connection per request; slurmd answers on it):
  REQUEST_BATCH_JOB_LAUNCH 4005 (:class:`BatchJobLaunch`, carries the job credential), kill_job_msg_t
  (:class:`KillJobMsg`) for REQUEST_KILL_TIMELIMIT 6009, REQUEST_TERMINATE_JOB 6011, REQUEST_ABORT_JOB
  6013 and REQUEST_KILL_PREEMPTED 6016, signal_tasks_msg_t (:class:`SignalTasks`) for
  REQUEST_SIGNAL_TASKS 6004 and REQUEST_TERMINATE_TASKS 6006, REQUEST_LAUNCH_PROLOG 6017
  (:class:`LaunchProlog`); REQUEST_PING 1008 and REQUEST_NODE_REGISTRATION_STATUS 1001 have empty
  bodies (messages.common.Empty). Replies: RESPONSE_SLURM_RC 8001, RESPONSE_PING_SLURMD 1016.

slurmd / slurmstepd -> controller:
  MESSAGE_NODE_REGISTRATION_STATUS 1002 (:class:`NodeRegistrationStatus`), answered with
  RESPONSE_NODE_REGISTRATION 1024 (:class:`NodeRegistrationResponse`, the TRES list) when flag 0x2 is
  set, else 8001; REQUEST_COMPLETE_BATCH_SCRIPT 5018, REQUEST_STEP_COMPLETE 5016, REQUEST_JOB_REQUEUE
  5023, REQUEST_COMPLETE_PROLOG 6018 (all answered with 8001) and MESSAGE_EPILOG_COMPLETE 6012 (no reply).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

from flurm.protocol.constants import (
    NO_VAL,
    NO_VAL16,
    SELECT_PLUGIN_CONS_TRES,
    SLURM_21_08_PROTOCOL_VERSION,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    SLURM_BATCH_SCRIPT,
    SLURM_MIN_PROTOCOL_VERSION,
    MsgType,
)
from flurm.protocol.messages.base import Message, register
from flurm.protocol.messages.credential import (
    GresEpilogInfo,
    JobCredential,
    StepId,
    pack_gres_prep_list,
    pack_job_step,
    unpack_gres_prep_list,
    unpack_job_step,
)
from flurm.protocol.messages.nodes import AcctGatherEnergy
from flurm.protocol.versions import NEWER, check_layout
from flurm.protocol.wire import DecodeError, EncodeError, Reader, Writer

# MESSAGE_NODE_REGISTRATION_STATUS flags (slurm_protocol_defs.h)
SLURMD_REG_FLAG_RESP = 0x0002  # "answer with RESPONSE_NODE_REGISTRATION"

# dynamic_type of the registration (dynamic_node_type_t)
DYN_NODE_NONE = 0
DYN_NODE_FUTURE = 1
DYN_NODE_NORM = 2

# REQUEST_JOB_REQUEUE flags (slurm.h job state flags)
JOB_LAUNCH_FAILED = 0x100
JOB_REQUEUE_HOLD = 0x800

# TRES ids every controller has (slurmdb_defs.h TRES_CPU..TRES_PAGES)
TRES_CPU, TRES_MEM, TRES_ENERGY, TRES_NODE, TRES_BILLING, TRES_FS_DISK, TRES_VMEM, TRES_PAGES = range(1, 9)


# every body here: its layout in 24.11 and 26.05 was compared with that release's packer
_ALL_NEWER: frozenset[int] = frozenset(NEWER)


def _counted_string_array(r: Reader, what: str) -> tuple[str, ...]:
    """u32 count, then a string array that repeats the count (argv/argc, environment/envc)."""
    count = r.u32()
    items = tuple(r.string_array())
    if len(items) != count:
        raise DecodeError(f"{what}: count {count} but the array holds {len(items)} strings")
    return items


# -- TRES and accounting -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TresRecord:
    """slurmdb_pack_tres_rec: u64 alloc_secs, u64 count, u32 id, str name, str type."""

    id: int
    type: str | None
    name: str | None = None
    count: int = 0
    alloc_secs: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.u64(self.alloc_secs)
        w.u64(self.count)
        w.u32(self.id)
        w.string(self.name)
        w.string(self.type)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        alloc_secs, count, tres_id, name, tres_type = r.u64(), r.u64(), r.u32(), r.string(), r.string()
        return cls(tres_id, tres_type, name, count, alloc_secs)


# The eight TRES a slurmctld without accounting storage knows, in the order it sends them in
# RESPONSE_NODE_REGISTRATION. slurmctld fills ``count`` with cluster totals (captured: cpu 2,
# mem 1000, node 1, billing 2, the rest 0); slurmd only needs the ids, types and names.
DEFAULT_TRES: tuple[TresRecord, ...] = (
    TresRecord(TRES_CPU, "cpu"),
    TresRecord(TRES_MEM, "mem"),
    TresRecord(TRES_ENERGY, "energy"),
    TresRecord(TRES_NODE, "node"),
    TresRecord(TRES_BILLING, "billing"),
    TresRecord(TRES_FS_DISK, "fs", "disk"),
    TresRecord(TRES_VMEM, "vmem"),
    TresRecord(TRES_PAGES, "pages"),
)


def _pack_tres_list(w: Writer, records: tuple[TresRecord, ...] | None, version: int) -> None:
    """slurm_pack_list: u32 NO_VAL for "no list", else the count and the records."""
    if records is None:
        w.u32(NO_VAL)
        return
    w.u32(len(records))
    for rec in records:
        rec.pack(w, version)


def _unpack_tres_list(r: Reader, version: int) -> tuple[TresRecord, ...] | None:
    count = r.u32()
    if count == NO_VAL:
        return None
    if count > r.remaining // 28:  # 2*u64 + u32 + two NULL strings
        raise DecodeError(f"TRES list: {count} records do not fit in {r.remaining} bytes")
    return tuple(TresRecord.unpack(r, version) for _ in range(count))


@dataclass(frozen=True, slots=True)
class JobAcctInfo:
    """jobacctinfo_pack (JobAcctGatherType other than none): CPU time, then per-TRES usage arrays.

    Each usage tuple has one value per entry of ``tres_ids`` (max/min carry the node and task
    that reached them). Memory TRES values are bytes, times seconds/microseconds.
    """

    user_cpu_sec: int = 0
    user_cpu_usec: int = 0
    sys_cpu_sec: int = 0
    sys_cpu_usec: int = 0
    act_cpufreq: int = 0
    consumed_energy: int = 0
    tres_ids: tuple[int, ...] = ()
    tres_list: tuple[TresRecord, ...] | None = None
    tres_usage_in_max: tuple[int, ...] = ()
    tres_usage_in_max_nodeid: tuple[int, ...] = ()
    tres_usage_in_max_taskid: tuple[int, ...] = ()
    tres_usage_in_min: tuple[int, ...] = ()
    tres_usage_in_min_nodeid: tuple[int, ...] = ()
    tres_usage_in_min_taskid: tuple[int, ...] = ()
    tres_usage_in_tot: tuple[int, ...] = ()
    tres_usage_out_max: tuple[int, ...] = ()
    tres_usage_out_max_nodeid: tuple[int, ...] = ()
    tres_usage_out_max_taskid: tuple[int, ...] = ()
    tres_usage_out_min: tuple[int, ...] = ()
    tres_usage_out_min_nodeid: tuple[int, ...] = ()
    tres_usage_out_min_taskid: tuple[int, ...] = ()
    tres_usage_out_tot: tuple[int, ...] = ()

    def _usage(self) -> tuple[tuple[int, ...], ...]:
        return (
            self.tres_usage_in_max,
            self.tres_usage_in_max_nodeid,
            self.tres_usage_in_max_taskid,
            self.tres_usage_in_min,
            self.tres_usage_in_min_nodeid,
            self.tres_usage_in_min_taskid,
            self.tres_usage_in_tot,
            self.tres_usage_out_max,
            self.tres_usage_out_max_nodeid,
            self.tres_usage_out_max_taskid,
            self.tres_usage_out_min,
            self.tres_usage_out_min_nodeid,
            self.tres_usage_out_min_taskid,
            self.tres_usage_out_tot,
        )

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_21_08_PROTOCOL_VERSION, "jobacctinfo", NEWER)
        w.u64(self.user_cpu_sec)
        w.u32(self.user_cpu_usec)
        w.u64(self.sys_cpu_sec)
        w.u32(self.sys_cpu_usec)
        w.u32(self.act_cpufreq)
        w.u64(self.consumed_energy)
        w.u32_array(self.tres_ids)
        _pack_tres_list(w, self.tres_list, version)
        for values in self._usage():
            w.u64_array(values)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        check_layout(version, SLURM_21_08_PROTOCOL_VERSION, "jobacctinfo", NEWER)
        user_sec, user_usec, sys_sec, sys_usec = r.u64(), r.u32(), r.u64(), r.u32()
        act_cpufreq, energy = r.u32(), r.u64()
        tres_ids = tuple(r.u32_array())
        tres_list = _unpack_tres_list(r, version)
        usage = [tuple(r.u64_array()) for _ in range(14)]
        return cls(user_sec, user_usec, sys_sec, sys_usec, act_cpufreq, energy, tres_ids, tres_list, *usage)


def pack_jobacct(w: Writer, jobacct: JobAcctInfo | None, version: int) -> None:
    """u8 0 when there is no accounting data (JobAcctGatherType=none), else u8 1 and the record."""
    if jobacct is None:
        w.u8(0)
    else:
        w.u8(1)
        jobacct.pack(w, version)


def unpack_jobacct(r: Reader, version: int) -> JobAcctInfo | None:
    return JobAcctInfo.unpack(r, version) if r.u8() else None


# -- registration and ping -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GresNodeConfig:
    """One record of the GRES configuration blob a slurmd registers with (gres_node_config_pack)."""

    plugin_id: int
    count: int = 0
    cpu_cnt: int = 0
    config_flags: int = 0
    cpus: str | None = None
    links: str | None = None
    name: str | None = None
    type_name: str | None = None
    unique_id: str | None = None


def parse_gres_info(blob: bytes) -> tuple[int, tuple[GresNodeConfig, ...]]:
    """Split a registration's ``gres_info`` blob into (blob protocol version, records)."""
    r = Reader(blob)
    blob_version, count = r.u16(), r.u16()
    if count * 44 > r.remaining:  # a record has 44 bytes at least (five NULL strings)
        raise DecodeError(f"gres_info: {count} records do not fit in {r.remaining} bytes")
    records = []
    for _ in range(count):
        magic = r.u32()
        if magic != 0x438A34D4:
            raise DecodeError(f"GRES config record magic {magic:#x} is wrong")
        count64, cpu_cnt, flags, plugin_id = r.u64(), r.u32(), r.u32(), r.u32()
        cpus, links, name, type_name, unique_id = (r.string() for _ in range(5))
        rec = GresNodeConfig(plugin_id, count64, cpu_cnt, flags, cpus, links, name, type_name, unique_id)
        records.append(rec)
    r.expect_end("gres_info")
    return blob_version, tuple(records)


@register(MsgType.MESSAGE_NODE_REGISTRATION_STATUS)
@dataclass(frozen=True, slots=True)
class NodeRegistrationStatus(Message):
    """1002 from slurmd (_pack_node_registration_status_msg [22.05]).

    ``steps`` are the live steps (batch step 0xfffffffb, extern 0xfffffffc) of the jobs running on
    the node; a job with no live step is absent. hash_val is the hash of slurmd's slurm.conf.
    ``gres_info`` is the raw GRES configuration blob (u16 version, u16 count, records: see
    :func:`parse_gres_info`), None when slurmd sent none. cpu_load is load*100; memory is MiB.
    From 24.11: extra, instance_id, instance_type; from 26.05: mem_spec_limit (MiB) and parameters.
    """

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALL_NEWER

    timestamp: int = 0
    slurmd_start_time: int = 0
    status: int = 0
    features_active: str | None = None
    features_avail: str | None = None
    hostname: str | None = None
    node_name: str | None = None
    arch: str | None = None
    cpu_spec_list: str | None = None
    os: str | None = None
    cpus: int = 0
    boards: int = 0
    sockets: int = 0
    cores: int = 0
    threads: int = 0
    real_memory: int = 0  # MiB
    tmp_disk: int = 0  # MiB
    up_time: int = 0  # seconds
    hash_val: int = 0
    cpu_load: int = 0
    free_mem: int = 0  # MiB
    steps: tuple[StepId, ...] = ()
    flags: int = 0
    gres_info: bytes | None = None
    energy: AcctGatherEnergy = field(default_factory=AcctGatherEnergy)
    version: str | None = None
    dynamic_type: int = DYN_NODE_NONE
    dynamic_conf: str | None = None
    dynamic_feature: str | None = None
    extra: str | None = None
    instance_id: str | None = None
    instance_type: str | None = None
    mem_spec_limit: int = 0
    parameters: str | None = None

    @property
    def wants_response(self) -> bool:
        """slurmd asked for RESPONSE_NODE_REGISTRATION (and waits for its TRES list)."""
        return bool(self.flags & SLURMD_REG_FLAG_RESP)

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_22_05_PROTOCOL_VERSION, "MESSAGE_NODE_REGISTRATION_STATUS", NEWER)
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        v26 = version >= SLURM_26_05_PROTOCOL_VERSION
        w.time(self.timestamp)
        w.time(self.slurmd_start_time)
        w.u32(self.status)
        if newer:
            w.string(self.extra)
        w.string(self.features_active)
        w.string(self.features_avail)
        w.string(self.hostname)
        if newer:
            w.string(self.instance_id)
            w.string(self.instance_type)
        w.string(self.node_name)
        w.string(self.arch)
        w.string(self.cpu_spec_list)
        if v26:
            w.u64(self.mem_spec_limit)
        w.string(self.os)
        if v26:
            w.string(self.parameters)
        for v in (self.cpus, self.boards, self.sockets, self.cores, self.threads):
            w.u16(v)
        w.u64(self.real_memory)
        w.u32(self.tmp_disk)
        w.u32(self.up_time)
        w.u32(self.hash_val)
        w.u32(self.cpu_load)
        w.u64(self.free_mem)
        w.u32(len(self.steps))
        for step in self.steps:
            step.pack(w, version)
        w.u16(self.flags)
        blob = self.gres_info or b""
        w.u32(len(blob))
        if blob:
            w.mem(blob)
        self.energy.pack(w, version)
        w.string(self.version)
        w.u8(self.dynamic_type)
        w.string(self.dynamic_conf)
        w.string(self.dynamic_feature)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        check_layout(version, SLURM_22_05_PROTOCOL_VERSION, "MESSAGE_NODE_REGISTRATION_STATUS", NEWER)
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        v26 = version >= SLURM_26_05_PROTOCOL_VERSION
        timestamp, start_time, status = r.time(), r.time(), r.u32()
        extra = r.string() if newer else None
        feat_active, feat_avail, hostname = r.string(), r.string(), r.string()
        instance_id, instance_type = (r.string(), r.string()) if newer else (None, None)
        node_name, arch, cpu_spec_list = r.string(), r.string(), r.string()
        mem_spec_limit = r.u64() if v26 else 0
        os_name = r.string()
        parameters = r.string() if v26 else None
        cpus, boards, sockets, cores, threads = (r.u16() for _ in range(5))
        real_memory, tmp_disk, up_time, hash_val, cpu_load, free_mem = (
            r.u64(),
            r.u32(),
            r.u32(),
            r.u32(),
            r.u32(),
            r.u64(),
        )
        n_steps = r.u32()
        if n_steps > r.remaining // (20 if newer else 12):
            raise DecodeError(f"node registration: {n_steps} step ids do not fit in {r.remaining} bytes")
        steps = tuple(StepId.unpack(r, version) for _ in range(n_steps))
        flags = r.u16()
        gres_size = r.u32()
        gres_info = None
        if gres_size:
            gres_info = r.mem()
            if gres_info is None or len(gres_info) != gres_size:
                raise DecodeError(f"node registration: gres_info size {gres_size} does not match its packmem")
        energy = AcctGatherEnergy.unpack(r, version)
        slurmd_version = r.string()
        dynamic_type, dynamic_conf, dynamic_feature = r.u8(), r.string(), r.string()
        return cls(
            timestamp=timestamp,
            slurmd_start_time=start_time,
            status=status,
            features_active=feat_active,
            features_avail=feat_avail,
            hostname=hostname,
            node_name=node_name,
            arch=arch,
            cpu_spec_list=cpu_spec_list,
            os=os_name,
            cpus=cpus,
            boards=boards,
            sockets=sockets,
            cores=cores,
            threads=threads,
            real_memory=real_memory,
            tmp_disk=tmp_disk,
            up_time=up_time,
            hash_val=hash_val,
            cpu_load=cpu_load,
            free_mem=free_mem,
            steps=steps,
            flags=flags,
            gres_info=gres_info,
            energy=energy,
            version=slurmd_version,
            dynamic_type=dynamic_type,
            dynamic_conf=dynamic_conf,
            dynamic_feature=dynamic_feature,
            extra=extra,
            instance_id=instance_id,
            instance_type=instance_type,
            mem_spec_limit=mem_spec_limit,
            parameters=parameters,
        )


@register(MsgType.RESPONSE_NODE_REGISTRATION)
@dataclass(frozen=True, slots=True)
class NodeRegistrationResponse(Message):
    """1024: the TRES list (slurm_pack_list of TRES records; None packs u32 NO_VAL), str node_name.

    Send a real list: slurmd holds every slurmstepd start until it has received one. Alike in every
    served release."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALL_NEWER

    tres_list: tuple[TresRecord, ...] | None = DEFAULT_TRES
    node_name: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_MIN_PROTOCOL_VERSION, "RESPONSE_NODE_REGISTRATION", NEWER)
        _pack_tres_list(w, self.tres_list, version)
        w.string(self.node_name)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        check_layout(version, SLURM_MIN_PROTOCOL_VERSION, "RESPONSE_NODE_REGISTRATION", NEWER)
        return cls(_unpack_tres_list(r, version), r.string())


@register(MsgType.RESPONSE_PING_SLURMD)
@dataclass(frozen=True, slots=True)
class PingSlurmdResponse(Message):
    """1016, slurmd's answer to 1008 and 1001: u32 cpu_load (load*100), u64 free_mem (MiB); from 26.05
    str node_name."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALL_NEWER

    cpu_load: int = 0
    free_mem: int = 0
    node_name: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.u32(self.cpu_load)
        w.u64(self.free_mem)
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            w.string(self.node_name)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        cpu_load, free_mem = r.u32(), r.u64()
        node_name = r.string() if version >= SLURM_26_05_PROTOCOL_VERSION else None
        return cls(cpu_load, free_mem, node_name)


# -- batch launch ---------------------------------------------------------------------------------


@register(MsgType.REQUEST_BATCH_JOB_LAUNCH)
@dataclass(frozen=True, slots=True)
class BatchJobLaunch(Message):
    """4005 (_pack_batch_job_launch_msg [22.05]). slurmd replies 8001 rc 0 before the prolog runs.

    slurmd takes the user name and gids from the credential, not from user_name/gids here
    (slurmctld sends NULL and an empty list). cpus_per_node/cpu_count_reps is the run-length
    list of CPUs per allocated node. ``environment`` is the job's saved submit environment;
    slurmstepd adds the SLURM_* variables. The credential is packed at ``cred_version`` (0: the
    message's version, as slurmctld packs it).

    24.11 no longer sends uid, gid, user_name (slurmd takes them from the credential), alias_list
    and select_plugin_id, and adds cpu_freq_min/max/gov and oom_kill_step; 26.05 no longer sends
    job_id (the credential's step id carries it) and adds tres_per_task. Decoded from those, the
    missing fields are filled from the credential.
    """

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALL_NEWER

    job_id: int
    uid: int
    gid: int
    credential: JobCredential
    het_job_id: int = 0
    user_name: str | None = None
    gids: tuple[int, ...] = ()
    partition: str | None = None
    ntasks: int = 1
    pn_min_memory: int = 0  # MiB, bit 63 MEM_PER_CPU
    open_mode: int = 0
    overcommit: int = 0
    array_job_id: int = 0
    array_task_id: int = NO_VAL
    acctg_freq: str | None = None
    container: str | None = None
    cpu_bind_type: int = 0
    cpus_per_task: int = 1
    restart_cnt: int = 0
    job_core_spec: int = NO_VAL16
    cpus_per_node: tuple[int, ...] = ()
    cpu_count_reps: tuple[int, ...] = ()
    alias_list: str | None = None
    cpu_bind: str | None = None
    nodes: str | None = None
    script: str | None = None
    work_dir: str | None = None
    std_err: str | None = None
    std_in: str | None = None
    std_out: str | None = None
    argv: tuple[str, ...] = ()
    spank_job_env: tuple[str, ...] = ()
    environment: tuple[str, ...] = ()
    job_mem: int = 0  # MiB
    cred_version: int = 0
    select_plugin_id: int = SELECT_PLUGIN_CONS_TRES
    account: str | None = None
    qos: str | None = None
    resv_name: str | None = None
    profile: int = 0
    tres_bind: str | None = None
    tres_freq: str | None = None
    tres_per_task: str | None = None  # 26.05
    cpu_freq_min: int = NO_VAL  # 24.11 on
    cpu_freq_max: int = NO_VAL
    cpu_freq_gov: int = NO_VAL
    oom_kill_step: bool = False

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_22_05_PROTOCOL_VERSION, "REQUEST_BATCH_JOB_LAUNCH", NEWER)
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        v26 = version >= SLURM_26_05_PROTOCOL_VERSION
        cred_version = self.cred_version or version
        if not v26:
            w.u32(self.job_id)
        w.u32(self.het_job_id)
        if not newer:
            w.u32(self.uid)
            w.u32(self.gid)
            w.string(self.user_name)
        w.u32_array(self.gids)
        w.string(self.partition)
        w.u32(self.ntasks)
        w.u64(self.pn_min_memory)
        w.u8(self.open_mode)
        w.u8(self.overcommit)
        w.u32(self.array_job_id)
        w.u32(self.array_task_id)
        w.string(self.acctg_freq)
        w.string(self.container)
        w.u16(self.cpu_bind_type)
        w.u16(self.cpus_per_task)
        w.u16(self.restart_cnt)
        w.u16(self.job_core_spec)
        if len(self.cpus_per_node) != len(self.cpu_count_reps):
            raise EncodeError("cpus_per_node and cpu_count_reps must have the same length")
        w.u32(len(self.cpus_per_node))
        if self.cpus_per_node:
            w.u16_array(self.cpus_per_node)
            w.u32_array(self.cpu_count_reps)
        if not newer:
            w.string(self.alias_list)
        for s in (
            self.cpu_bind,
            self.nodes,
            self.script,
            self.work_dir,
            self.std_err,
            self.std_in,
            self.std_out,
        ):
            w.string(s)
        w.u32(len(self.argv))
        w.string_array(self.argv)
        w.string_array(self.spank_job_env)
        w.u32(len(self.environment))
        w.string_array(self.environment)
        w.u64(self.job_mem)
        w.u16(cred_version)
        self.credential.pack(w, cred_version)
        if not newer:
            w.u32(self.select_plugin_id)
        w.string(self.account)
        w.string(self.qos)
        w.string(self.resv_name)
        w.u32(self.profile)
        w.string(self.tres_bind)
        w.string(self.tres_freq)
        if v26:
            w.string(self.tres_per_task)
        if newer:
            w.u32(self.cpu_freq_min)
            w.u32(self.cpu_freq_max)
            w.u32(self.cpu_freq_gov)
            w.u8(1 if self.oom_kill_step else 0)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        check_layout(version, SLURM_22_05_PROTOCOL_VERSION, "REQUEST_BATCH_JOB_LAUNCH", NEWER)
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        v26 = version >= SLURM_26_05_PROTOCOL_VERSION
        job_id = 0 if v26 else r.u32()
        het_job_id = r.u32()
        uid, gid, user_name = (0, 0, None) if newer else (r.u32(), r.u32(), r.string())
        gids = tuple(r.u32_array())
        partition, ntasks, pn_min_memory = r.string(), r.u32(), r.u64()
        open_mode, overcommit = r.u8(), r.u8()
        array_job_id, array_task_id = r.u32(), r.u32()
        acctg_freq, container = r.string(), r.string()
        cpu_bind_type, cpus_per_task, restart_cnt, job_core_spec = r.u16(), r.u16(), r.u16(), r.u16()
        n_groups = r.u32()
        cpus_per_node: tuple[int, ...] = ()
        cpu_count_reps: tuple[int, ...] = ()
        if n_groups:
            cpus_per_node, cpu_count_reps = tuple(r.u16_array()), tuple(r.u32_array())
            if len(cpus_per_node) != n_groups or len(cpu_count_reps) != n_groups:
                raise DecodeError(f"batch launch: cpu group arrays do not have {n_groups} elements")
        alias_list = None if newer else r.string()
        cpu_bind, nodes, script = r.string(), r.string(), r.string()
        work_dir, std_err, std_in, std_out = r.string(), r.string(), r.string(), r.string()
        argv = _counted_string_array(r, "batch launch argv")
        spank_job_env = tuple(r.string_array())
        environment = _counted_string_array(r, "batch launch environment")
        job_mem = r.u64()
        cred_version = r.u16()
        credential = JobCredential.unpack(r, cred_version)
        select_plugin_id = SELECT_PLUGIN_CONS_TRES if newer else r.u32()
        account, qos, resv_name = r.string(), r.string(), r.string()
        profile, tres_bind, tres_freq = r.u32(), r.string(), r.string()
        tres_per_task = r.string() if v26 else None
        freq_min, freq_max, freq_gov, oom_kill_step = NO_VAL, NO_VAL, NO_VAL, False
        if newer:
            freq_min, freq_max, freq_gov, oom_kill_step = r.u32(), r.u32(), r.u32(), r.u8() != 0
            # what slurmd takes from the credential now
            uid, gid, user_name = credential.uid, credential.gid, credential.pw_name
        if v26:
            job_id = credential.step_id.job_id
        return cls(
            job_id=job_id,
            uid=uid,
            gid=gid,
            credential=credential,
            het_job_id=het_job_id,
            user_name=user_name,
            gids=gids,
            partition=partition,
            ntasks=ntasks,
            pn_min_memory=pn_min_memory,
            open_mode=open_mode,
            overcommit=overcommit,
            array_job_id=array_job_id,
            array_task_id=array_task_id,
            acctg_freq=acctg_freq,
            container=container,
            cpu_bind_type=cpu_bind_type,
            cpus_per_task=cpus_per_task,
            restart_cnt=restart_cnt,
            job_core_spec=job_core_spec,
            cpus_per_node=cpus_per_node,
            cpu_count_reps=cpu_count_reps,
            alias_list=alias_list,
            cpu_bind=cpu_bind,
            nodes=nodes,
            script=script,
            work_dir=work_dir,
            std_err=std_err,
            std_in=std_in,
            std_out=std_out,
            argv=argv,
            spank_job_env=spank_job_env,
            environment=environment,
            job_mem=job_mem,
            cred_version=0 if cred_version == version else cred_version,
            select_plugin_id=select_plugin_id,
            account=account,
            qos=qos,
            resv_name=resv_name,
            profile=profile,
            tres_bind=tres_bind,
            tres_freq=tres_freq,
            tres_per_task=tres_per_task,
            cpu_freq_min=freq_min,
            cpu_freq_max=freq_max,
            cpu_freq_gov=freq_gov,
            oom_kill_step=oom_kill_step,
        )


# -- kill / signal --------------------------------------------------------------------------------


@register(
    MsgType.REQUEST_KILL_TIMELIMIT,
    MsgType.REQUEST_TERMINATE_JOB,
    MsgType.REQUEST_ABORT_JOB,
    MsgType.REQUEST_KILL_PREEMPTED,
)
@dataclass(frozen=True, slots=True)
class KillJobMsg(Message):
    """kill_job_msg_t (_pack_kill_job_msg [22.05]) for 6009/6011/6013/6016.

    step_id.step_id NO_VAL = the whole job. job_state is the job's state as slurmctld holds it
    when it sends the kill: the final JobState with the COMPLETING flag (captured: 0x8003 after
    a normal end, 0x8004 scancel, 0x8006 time limit); slurmd signals according to the base state.
    ``time`` is the revoke time: slurmd revokes credentials created up to it. TERMINATE is
    answered 0 (then MESSAGE_EPILOG_COMPLETE follows) or 4002 (nothing was running, no epilog).
    24.11 no longer sends select_plugin_id; 26.05 packs the GRES as a u32-counted list.
    """

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALL_NEWER

    step_id: StepId
    job_state: int
    job_uid: int
    job_gid: int
    time: int  # seconds; credentials with ctime <= time are revoked
    credential: JobCredential | None = None
    details: str | None = None
    derived_ec: int = 0
    exit_code: int = 0
    job_gres_info: tuple[GresEpilogInfo, ...] = ()
    het_job_id: int = 0
    nodes: str | None = None
    select_plugin_id: int = SELECT_PLUGIN_CONS_TRES
    spank_job_env: tuple[str, ...] = ()
    start_time: int = 0
    work_dir: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_22_05_PROTOCOL_VERSION, "kill_job_msg", NEWER)
        if self.credential is None:
            w.u8(0)
        else:
            w.u8(1)
            self.credential.pack(w, version)
        w.string(self.details)
        w.u32(self.derived_ec)
        w.u32(self.exit_code)
        pack_gres_prep_list(w, self.job_gres_info, version)
        self.step_id.pack(w, version)
        w.u32(self.het_job_id)
        w.u32(self.job_state)
        w.u32(self.job_uid)
        w.u32(self.job_gid)
        w.string(self.nodes)
        if version < SLURM_24_11_PROTOCOL_VERSION:
            w.u32(self.select_plugin_id)
        w.string_array(self.spank_job_env)
        w.time(self.start_time)
        w.time(self.time)
        w.string(self.work_dir)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        check_layout(version, SLURM_22_05_PROTOCOL_VERSION, "kill_job_msg", NEWER)
        credential = JobCredential.unpack(r, version) if r.u8() else None
        details, derived_ec, exit_code = r.string(), r.u32(), r.u32()
        gres_info = unpack_gres_prep_list(r, version)
        step_id = StepId.unpack(r, version)
        het_job_id, job_state, job_uid, job_gid = r.u32(), r.u32(), r.u32(), r.u32()
        nodes = r.string()
        select_plugin_id = r.u32() if version < SLURM_24_11_PROTOCOL_VERSION else SELECT_PLUGIN_CONS_TRES
        spank_job_env = tuple(r.string_array())
        start_time, revoke_time, work_dir = r.time(), r.time(), r.string()
        return cls(
            step_id=step_id,
            job_state=job_state,
            job_uid=job_uid,
            job_gid=job_gid,
            time=revoke_time,
            credential=credential,
            details=details,
            derived_ec=derived_ec,
            exit_code=exit_code,
            job_gres_info=gres_info,
            het_job_id=het_job_id,
            nodes=nodes,
            select_plugin_id=select_plugin_id,
            spank_job_env=spank_job_env,
            start_time=start_time,
            work_dir=work_dir,
        )


@register(MsgType.REQUEST_SIGNAL_TASKS, MsgType.REQUEST_TERMINATE_TASKS)
@dataclass(frozen=True, slots=True)
class SignalTasks(Message):
    """signal_tasks_msg_t for 6004/6006: step id, u16 flags (KillFlags: KILL_JOB_BATCH 0x1,
    KILL_STEPS_ONLY 0x4, KILL_FULL_JOB 0x8), u16 signal. slurmd answers 8001. Alike in every served
    release (the step id carries the sluid from 24.11)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALL_NEWER

    step_id: StepId
    signal: int
    flags: int = 0

    def pack(self, w: Writer, version: int) -> None:
        self.step_id.pack(w, version)
        w.u16(self.flags)
        w.u16(self.signal)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        step_id = StepId.unpack(r, version)
        flags, signal = r.u16(), r.u16()
        return cls(step_id, signal, flags)


# -- completion and prolog traffic from the node ---------------------------------------------------


@register(MsgType.REQUEST_COMPLETE_BATCH_SCRIPT)
@dataclass(frozen=True, slots=True)
class CompleteBatchScript(Message):
    """5018 from slurmstepd when the batch script ends: jobacct (u8 0 = none), u32 job_id,
    u32 job_rc (the wait status: exit code << 8, or the signal, e.g. 15), u32 slurm_rc,
    u32 user_id, str node_name. Answer 8001 (slurmstepd also takes 2017/2021 as done). 26.05 sends
    the batch step's id (``step``) after slurm_rc instead of the job id before job_rc."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALL_NEWER

    job_id: int
    job_rc: int = 0
    slurm_rc: int = 0
    user_id: int = 0
    node_name: str | None = None
    jobacct: JobAcctInfo | None = None
    step: StepId | None = None  # as 26.05 sent it

    def pack(self, w: Writer, version: int) -> None:
        pack_jobacct(w, self.jobacct, version)
        v26 = version >= SLURM_26_05_PROTOCOL_VERSION
        if not v26:
            w.u32(self.job_id)
        w.u32(self.job_rc)
        w.u32(self.slurm_rc)
        if v26:
            pack_job_step(w, self.job_id, self.step, version, SLURM_BATCH_SCRIPT)
        w.u32(self.user_id)
        w.string(self.node_name)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        jobacct = unpack_jobacct(r, version)
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            job_rc, slurm_rc = r.u32(), r.u32()
            job_id, step = unpack_job_step(r, version)
        else:
            job_id, job_rc, slurm_rc, step = r.u32(), r.u32(), r.u32(), None
        user_id = r.u32()
        return cls(job_id, job_rc, slurm_rc, user_id, r.string(), jobacct, step)


@register(MsgType.MESSAGE_EPILOG_COMPLETE)
@dataclass(frozen=True, slots=True)
class EpilogComplete(Message):
    """6012: u32 job_id (26.05: the step id), u32 return_code (the epilog's), str node_name. Fire and
    forget: no reply."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALL_NEWER

    job_id: int
    return_code: int = 0
    node_name: str | None = None
    step: StepId | None = None  # as 26.05 sent it

    def pack(self, w: Writer, version: int) -> None:
        pack_job_step(w, self.job_id, self.step, version, NO_VAL)
        w.u32(self.return_code)
        w.string(self.node_name)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        job_id, step = unpack_job_step(r, version)
        return cls(job_id, r.u32(), r.string(), step)


@register(MsgType.REQUEST_STEP_COMPLETE)
@dataclass(frozen=True, slots=True)
class StepComplete(Message):
    """5016 (srun steps and the extern step, not the batch step): step id, u32 range_first,
    u32 range_last (node index range of the reverse tree), u32 step_rc, jobacct; from 24.11 a bool
    send_to_stepmgr (the step manager is the job's slurmstepd, not the controller). Answer 8001."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALL_NEWER

    step_id: StepId
    range_first: int = 0
    range_last: int = 0
    step_rc: int = 0
    jobacct: JobAcctInfo | None = None
    send_to_stepmgr: bool = False

    def pack(self, w: Writer, version: int) -> None:
        self.step_id.pack(w, version)
        w.u32(self.range_first)
        w.u32(self.range_last)
        w.u32(self.step_rc)
        pack_jobacct(w, self.jobacct, version)
        if version >= SLURM_24_11_PROTOCOL_VERSION:
            w.u8(1 if self.send_to_stepmgr else 0)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        step_id = StepId.unpack(r, version)
        first, last, rc = r.u32(), r.u32(), r.u32()
        jobacct = unpack_jobacct(r, version)
        to_stepmgr = r.u8() != 0 if version >= SLURM_24_11_PROTOCOL_VERSION else False
        return cls(step_id, first, last, rc, jobacct, to_stepmgr)


@register(MsgType.REQUEST_JOB_REQUEUE)
@dataclass(frozen=True, slots=True)
class JobRequeue(Message):
    """5023 (slurmd after a failed launch, or ``scontrol requeue``): u32 job_id, str job_id_str,
    u32 flags (a launch failure sends JOB_REQUEUE_HOLD|JOB_LAUNCH_FAILED = 0x900). 26.05 sends a step
    id for the job id."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALL_NEWER

    job_id: int
    job_id_str: str | None = None
    flags: int = 0
    step: StepId | None = None  # as 26.05 sent it

    def pack(self, w: Writer, version: int) -> None:
        pack_job_step(w, self.job_id, self.step, version, NO_VAL)
        w.string(self.job_id_str)
        w.u32(self.flags)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        job_id, step = unpack_job_step(r, version)
        return cls(job_id, r.string(), r.u32(), step)


@register(MsgType.REQUEST_COMPLETE_PROLOG)
@dataclass(frozen=True, slots=True)
class CompleteProlog(Message):
    """6018 (after 6017, PrologFlags=Alloc): u32 job_id (26.05: the step id), str node_name, u32
    prolog_rc. Answer 8001."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALL_NEWER

    job_id: int
    node_name: str | None = None
    prolog_rc: int = 0
    step: StepId | None = None  # as 26.05 sent it

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_22_05_PROTOCOL_VERSION, "REQUEST_COMPLETE_PROLOG", NEWER)
        pack_job_step(w, self.job_id, self.step, version, NO_VAL)
        w.string(self.node_name)
        w.u32(self.prolog_rc)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        check_layout(version, SLURM_22_05_PROTOCOL_VERSION, "REQUEST_COMPLETE_PROLOG", NEWER)
        job_id, step = unpack_job_step(r, version)
        return cls(job_id, r.string(), r.u32(), step)


@register(MsgType.REQUEST_LAUNCH_PROLOG)
@dataclass(frozen=True, slots=True)
class LaunchProlog(Message):
    """6017 (PrologFlags=Alloc/Contain; _pack_prolog_launch_msg [22.05]). slurmd answers 8001 at
    once, runs the prolog, then sends REQUEST_COMPLETE_PROLOG. The credential (unsigned, as
    slurmctld makes it) is packed at the message version.

    24.11 sends no alias_list (a NULL string in its place), std_err, std_out and user_name, and ends
    with a bool: the step manager's job records follow (flurm runs no step manager: false). 26.05
    starts with alloc_tls_cert, packs the GRES as a u32-counted list, and drops job_id (the
    credential carries it) and the NULL alias_list.
    """

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = _ALL_NEWER

    job_id: int
    uid: int
    gid: int
    credential: JobCredential
    job_gres_info: tuple[GresEpilogInfo, ...] = ()
    het_job_id: int = 0
    alias_list: str | None = None
    nodes: str | None = None
    std_err: str | None = None
    std_out: str | None = None
    work_dir: str | None = None
    x11: int = 0
    x11_alloc_host: str | None = None
    x11_alloc_port: int = 0
    x11_magic_cookie: str | None = None
    x11_target: str | None = None
    x11_target_port: int = 0
    spank_job_env: tuple[str, ...] = ()
    user_name: str | None = None
    alloc_tls_cert: str | None = None  # 26.05

    def pack(self, w: Writer, version: int) -> None:
        check_layout(version, SLURM_22_05_PROTOCOL_VERSION, "REQUEST_LAUNCH_PROLOG", NEWER)
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        v26 = version >= SLURM_26_05_PROTOCOL_VERSION
        if v26:
            w.string(self.alloc_tls_cert)
        pack_gres_prep_list(w, self.job_gres_info, version)
        if not v26:
            w.u32(self.job_id)
        w.u32(self.het_job_id)
        w.u32(self.uid)
        w.u32(self.gid)
        if not newer:
            for s in (self.alias_list, self.nodes, self.std_err, self.std_out, self.work_dir):
                w.string(s)
        else:
            if not v26:
                w.string(None)  # was alias_list
            w.string(self.nodes)
            w.string(self.work_dir)
        w.u16(self.x11)
        w.string(self.x11_alloc_host)
        w.u16(self.x11_alloc_port)
        w.string(self.x11_magic_cookie)
        w.string(self.x11_target)
        w.u16(self.x11_target_port)
        w.string_array(self.spank_job_env)
        self.credential.pack(w, version)
        if newer:
            w.u8(0)  # no step manager records follow
        else:
            w.string(self.user_name)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        check_layout(version, SLURM_22_05_PROTOCOL_VERSION, "REQUEST_LAUNCH_PROLOG", NEWER)
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        v26 = version >= SLURM_26_05_PROTOCOL_VERSION
        alloc_tls_cert = r.string() if v26 else None
        gres_info = unpack_gres_prep_list(r, version)
        job_id = 0 if v26 else r.u32()
        het_job_id, uid, gid = r.u32(), r.u32(), r.u32()
        alias_list = std_err = std_out = None
        if not newer:
            alias_list, nodes, std_err, std_out, work_dir = (r.string() for _ in range(5))
        else:
            if not v26:
                r.string()  # was alias_list
            nodes, work_dir = r.string(), r.string()
        x11, x11_alloc_host, x11_alloc_port = r.u16(), r.string(), r.u16()
        x11_magic_cookie, x11_target, x11_target_port = r.string(), r.string(), r.u16()
        spank_job_env = tuple(r.string_array())
        credential = JobCredential.unpack(r, version)
        if newer:
            if r.u8():
                raise DecodeError("REQUEST_LAUNCH_PROLOG: step manager job records are not supported")
            user_name = credential.pw_name
        else:
            user_name = r.string()
        if v26:
            job_id = credential.step_id.job_id
        return cls(
            job_id=job_id,
            uid=uid,
            gid=gid,
            credential=credential,
            job_gres_info=gres_info,
            het_job_id=het_job_id,
            alias_list=alias_list,
            nodes=nodes,
            std_err=std_err,
            std_out=std_out,
            work_dir=work_dir,
            x11=x11,
            x11_alloc_host=x11_alloc_host,
            x11_alloc_port=x11_alloc_port,
            x11_magic_cookie=x11_magic_cookie,
            x11_target=x11_target,
            x11_target_port=x11_target_port,
            spank_job_env=spank_job_env,
            user_name=user_name,
            alloc_tls_cert=alloc_tls_cert,
        )


__all__ = [
    "DEFAULT_TRES",
    "DYN_NODE_FUTURE",
    "DYN_NODE_NONE",
    "DYN_NODE_NORM",
    "JOB_LAUNCH_FAILED",
    "JOB_REQUEUE_HOLD",
    "SLURMD_REG_FLAG_RESP",
    "BatchJobLaunch",
    "CompleteBatchScript",
    "CompleteProlog",
    "EpilogComplete",
    "GresNodeConfig",
    "JobAcctInfo",
    "JobCredential",
    "JobRequeue",
    "KillJobMsg",
    "LaunchProlog",
    "NodeRegistrationResponse",
    "NodeRegistrationStatus",
    "PingSlurmdResponse",
    "SignalTasks",
    "StepComplete",
    "StepId",
    "TresRecord",
    "pack_jobacct",
    "parse_gres_info",
    "unpack_jobacct",
]
