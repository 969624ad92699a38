"""slurmctld's saved job state (22.05, 24.11, 26.05): ``StateSaveLocation/job_state`` and the per-job script
files.

At a takeover slurmctld is stopped (REQUEST_SHUTDOWN or SIGTERM) and writes all its state on the way
out; a job it accepted after flurm's last mirror sync exists only there. This module reads it.

The file is one pack buffer (the same primitives as the wire, see :mod:`flurm.protocol.wire`)::

    str "PROTOCOL_VERSION", u16 protocol version, time written, u32 job_id_sequence,
    time of the last backfill cycle, then one job record after another up to the end of the file.

Blocks slurmctld packs with the same functions as on the wire (job_resources, GRES job and step
states, multi-core data, cron entry, step layout, step accounting) are read by the protocol's codecs
into the protocol's dataclasses (:mod:`flurm.protocol.messages`), so one layout serves both.

A job record is the job (ids, array record, limits, times, state, strings), its select-plugin id,
its job_resources (allocated nodes, CPUs, cores and memory per node), the spank environment, two
GRES lists, its details (what was asked: counts, memory, paths, dependency, argv...), its running
steps, and a tail of TRES strings, federation and TRES-per-x fields. Everything a controller taking
over could use is kept; the rest (step accounting, switch data, GRES step bitmaps) is read, checked
and dropped. A file is read in the layout of the release that wrote it (its header's protocol
version): 22.05's, or 24.11's and 26.05's (a new order from 24.11: see the tables at the end); any
other release, and anything malformed or truncated, raises :class:`DecodeError`.

The batch script and the environment are not in ``job_state``: slurmctld keeps them in
``StateSaveLocation/hash.<id % 10>/job.<id>/{script,environment}``, for an array under the array's
job id. :func:`read_job_script` and :func:`read_job_environment` read them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from flurm.protocol import versions
from flurm.protocol.constants import (
    JOB_STATE_BASE,
    NICE_OFFSET,
    NO_VAL,
    NO_VAL16,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    JobState,
    JobStateFlag,
    JobStateReason,
)
from flurm.protocol.messages.credential import GresJobState, GresStepState
from flurm.protocol.messages.job_desc import CRON_ENTRY, CronEntry
from flurm.protocol.messages.job_info import JOB_RESOURCES, MULTI_CORE, JobResources, MultiCore
from flurm.protocol.messages.layout import (
    BITS,
    DOUBLE,
    STR,
    STRS,
    TIME,
    U8,
    U16,
    U32,
    U64,
    Span,
    before,
    since,
)
from flurm.protocol.messages.slurmd import unpack_jobacct
from flurm.protocol.messages.steps import JobStepCreateRequest, StepLayout
from flurm.protocol.wire import Bitmap, DecodeError, Reader

__all__ = [
    "ENVIRONMENT_FILE",
    "JOB_STATE_FILE",
    "JOB_STATE_OLD_FILE",
    "JOB_STATE_VERSION",
    "SCRIPT_FILE",
    "ArrayRecord",
    "CronEntry",
    "DependencySpec",
    "FedDetails",
    "GresJobState",
    "JobResources",
    "JobStateFile",
    "LimitSet",
    "MultiCore",
    "SavedDetails",
    "SavedJob",
    "SavedStep",
    "StepLayout",
    "decode_environment",
    "decode_job_state",
    "decode_script",
    "job_files_dir",
    "job_state_path",
    "read_job_environment",
    "read_job_script",
    "read_job_state",
]

JOB_STATE_VERSION = "PROTOCOL_VERSION"  # the header string of job_state (job_mgr.c)
JOB_STATE_FILE = "job_state"
JOB_STATE_OLD_FILE = "job_state.old"
SCRIPT_FILE = "script"
ENVIRONMENT_FILE = "environment"

_DETAILS_FLAG = 0xDDDD
_STEP_FLAG = 0xBBBB
_JOB_END = 12  # enum job_states: first value that is not a state
_MAX_BATCH_REQUEUE = 5
_FEATURES_USE = {0: None, 1: "features", 2: "prefer"}
# select plugins whose job info packs nothing after the plugin id (cons_res, linear, serial, cons_tres)
_SELECT_PLUGINS_EMPTY = frozenset({101, 102, 106, 109})
_SWITCH_PLUGIN_NONE = 100


# -- records --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ArrayRecord:
    """The array record of a job array's meta job (job_array_struct_t).

    ``task_id_bitmap`` holds the task ids still pending inside the meta record (bit i = task i);
    tasks that started were split off into job records of their own.
    """

    task_id_bitmap: Bitmap | None
    array_flags: int
    max_run_tasks: int  # the "%N" throttle, 0 = none
    tot_run_tasks: int
    min_exit_code: int
    max_exit_code: int
    tot_comp_tasks: int

    @property
    def pending_task_ids(self) -> tuple[int, ...]:
        return tuple(self.task_id_bitmap.indexes()) if self.task_id_bitmap else ()


@dataclass(frozen=True, slots=True)
class LimitSet:
    """acct_policy_limit_set_t: which limits an administrator set by hand (0 = not set)."""

    qos: int
    time: int
    tres: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DependencySpec:
    """depend_spec_t: one parsed element of the job's dependency."""

    array_task_id: int
    depend_type: int
    depend_flags: int
    depend_state: int
    depend_time: int
    job_id: int
    singleton_bits: int
    parsed_array_task_id: int = NO_VAL  # 26.05: the task id the dependency names, as parsed


@dataclass(frozen=True, slots=True)
class SavedDetails:
    """struct job_details: what the job asked for.

    slurmctld saves the user's original values of min_cpus, max_cpus, cpus_per_task, pn_min_cpus,
    pn_min_memory (not what scheduling may have raised them to) and loads them into both. Times are
    epoch seconds; ``pn_min_memory`` is MiB per node, or ``MEM_PER_CPU | MiB`` per CPU (0 = not set).
    """

    min_cpus: int
    max_cpus: int
    min_nodes: int
    max_nodes: int
    num_tasks: int
    acctg_freq: str | None
    contiguous: int
    core_spec: int
    cpus_per_task: int  # NO_VAL16 = not given (slurmctld then uses 1)
    nice: int  # NICE_OFFSET + the user's nice value
    ntasks_per_node: int
    requeue: int
    task_dist: int
    share_res: int
    whole_node: int
    cpu_bind: str | None
    cpu_bind_type: int
    mem_bind: str | None
    mem_bind_type: int
    plane_size: int
    open_mode: int
    overcommit: int
    prolog_running: int
    pn_min_cpus: int
    pn_min_memory: int
    pn_min_tmp_disk: int
    cpu_freq_min: int
    cpu_freq_max: int
    cpu_freq_gov: int
    begin_time: int  # what scontrol shows as EligibleTime
    accrue_time: int
    submit_time: int
    req_nodes: str | None
    exc_nodes: str | None
    features: str | None
    cluster_features: str | None
    prefer: str | None
    features_use: str | None  # which of features/prefer the scheduler uses now, or None
    depend_list: tuple[DependencySpec, ...]
    dependency: str | None  # the remaining dependency, as scontrol shows it
    orig_dependency: str | None  # as submitted
    std_err: str | None
    std_in: str | None
    std_out: str | None
    submit_line: str | None
    work_dir: str | None
    multi_core: MultiCore | None
    argv: tuple[str, ...]
    env_sup: tuple[str, ...]  # supplemental environment (e.g. SLURM_ARRAY_TASK_*), added to the file's
    crontab_entry: CronEntry | None
    env_hash: str | None  # "<hash type>:<hex>" of the environment file
    script_hash: str | None

    @property
    def nice_value(self) -> int:
        """The signed nice value scontrol shows (``Nice=``)."""
        return self.nice - NICE_OFFSET

    @property
    def cpus_per_task_value(self) -> int:
        return 1 if self.cpus_per_task == NO_VAL16 else self.cpus_per_task


@dataclass(frozen=True, slots=True)
class SavedStep:
    """A running step of a job (step_record_t); the batch step has ``step_id`` SLURM_BATCH_SCRIPT."""

    step_id: int
    step_het_comp: int
    cyclic_alloc: int
    srun_pid: int
    port: int
    cpus_per_task: int
    container: str | None
    resv_port_cnt: int
    state: int
    start_protocol_ver: int
    flags: int
    cpu_count: int
    pn_min_memory: int
    exit_code: int  # NO_VAL while running
    exit_node_bitmap: Bitmap | None
    core_bitmap_job: Bitmap | None
    time_limit: int
    cpu_freq_min: int
    cpu_freq_max: int
    cpu_freq_gov: int
    start_time: int
    pre_sus_time: int
    tot_sus_time: int
    host: str | None  # srun's host
    resv_ports: str | None
    name: str | None
    network: str | None
    layout: StepLayout | None
    tres_alloc_str: str | None
    tres_fmt_alloc_str: str | None
    cpus_per_tres: str | None
    mem_per_tres: str | None
    submit_line: str | None
    tres_bind: str | None
    tres_freq: str | None
    tres_per_step: str | None
    tres_per_node: str | None
    tres_per_socket: str | None
    tres_per_task: str | None
    memory_allocated: tuple[int, ...]  # MiB per node of the step
    # the step's GRES as asked and as allocated (gres_step_state_pack records; node_cnt is the job's)
    gres_list_req: tuple[GresStepState, ...] = ()
    gres_list_alloc: tuple[GresStepState, ...] = ()


@dataclass(frozen=True, slots=True)
class FedDetails:
    cluster_lock: int
    origin_str: str | None
    siblings_active: int
    siblings_active_str: str | None
    siblings_viable: int
    siblings_viable_str: str | None


@dataclass(frozen=True, slots=True)
class SavedJob:
    """One job record of job_state, in slurmctld's names and units.

    Times are epoch seconds (0 = unset), ``time_limit``/``time_min`` minutes (NO_VAL = partition
    default, INFINITE = unlimited), ``job_state`` the base state | JobStateFlag bits, ``exit_code``
    and ``derived_ec`` wait statuses. ``total_nodes`` is the node count estimate of a pending job.
    """

    array_job_id: int
    array_task_id: int  # NO_VAL: not an array task (or the meta record of an array)
    array: ArrayRecord | None
    assoc_id: int
    batch_features: str | None
    container: str | None
    delay_boot: int
    job_id: int
    user_id: int
    group_id: int
    time_limit: int
    time_min: int
    priority: int  # 0 = held
    alloc_sid: int
    total_cpus: int
    total_nodes: int
    cpu_cnt: int
    exit_code: int
    derived_ec: int
    db_index: int
    resv_id: int
    next_step_id: int
    het_job_id: int
    het_job_id_set: str | None
    het_job_offset: int
    qos_id: int
    req_switch: int
    wait4switch: int
    profile: int
    db_flags: int
    last_sched_eval: int
    preempt_time: int
    start_time: int
    end_time: int
    end_time_exp: int
    suspend_time: int
    pre_sus_time: int
    resize_time: int
    tot_sus_time: int
    deadline: int
    site_factor: int
    direct_set_prio: int
    job_state: int
    kill_on_node_fail: int
    batch_flag: int  # 0 = not a batch job, else 1 + times it was requeued for launch failure
    mail_type: int
    state_reason: int
    state_reason_prev_db: int
    reboot: int
    restart_cnt: int
    wait_all_nodes: int
    warn_flags: int
    warn_signal: int
    warn_time: int
    limit_set: LimitSet
    state_desc: str | None
    resp_host: str | None
    alloc_resp_port: int
    other_port: int
    power_flags: int
    start_protocol_ver: int
    billable_tres: float
    nodes_completing: str | None  # only while COMPLETING
    nodes_pr: str | None  # only while the prolog runs (reason WAIT_PROLOG)
    nodes: str | None
    partition: str
    name: str | None
    user_name: str | None
    wckey: str | None
    alloc_node: str | None
    account: str | None
    admin_comment: str | None
    comment: str | None
    gres_used: str | None
    network: str | None
    licenses: str | None
    mail_user: str | None
    mcs_label: str | None
    resv_name: str | None
    batch_host: str | None
    burst_buffer: str | None
    burst_buffer_state: str | None
    system_comment: str | None
    select_plugin_id: int
    job_resources: JobResources | None
    spank_job_env: tuple[str, ...]
    gres_list_req: tuple[GresJobState, ...]
    gres_list_alloc: tuple[GresJobState, ...]
    details: SavedDetails | None
    steps: tuple[SavedStep, ...]
    bit_flags: int
    tres_alloc_str: str | None
    tres_fmt_alloc_str: str | None
    tres_req_str: str | None
    tres_fmt_req_str: str | None
    clusters: str | None
    fed_details: FedDetails | None
    origin_cluster: str | None
    cpus_per_tres: str | None
    mem_per_tres: str | None
    tres_bind: str | None
    tres_freq: str | None
    tres_per_job: str | None
    tres_per_node: str | None
    tres_per_socket: str | None
    tres_per_task: str | None
    selinux_context: str | None

    # -- state --------------------------------------------------------------------------------
    @property
    def base_state(self) -> JobState:
        return JobState(self.job_state & JOB_STATE_BASE)

    @property
    def state_flags(self) -> int:
        return self.job_state & ~JOB_STATE_BASE

    def is_pending(self) -> bool:
        return self.base_state == JobState.PENDING

    def is_running(self) -> bool:
        return self.base_state == JobState.RUNNING

    def is_completing(self) -> bool:
        return bool(self.job_state & JobStateFlag.COMPLETING)

    def is_held(self) -> bool:
        return self.is_pending() and self.priority == 0

    @property
    def reason(self) -> JobStateReason | int:
        try:
            return JobStateReason(self.state_reason)
        except ValueError:
            return self.state_reason

    # -- arrays -------------------------------------------------------------------------------
    def is_array_meta(self) -> bool:
        """The record of an array that still holds pending tasks (not itself a task)."""
        return self.array is not None and self.array_task_id == NO_VAL

    @property
    def script_job_id(self) -> int:
        """Whose ``hash.N/job.ID`` directory holds this job's script and environment."""
        return self.array_job_id if self.array_task_id != NO_VAL else self.job_id

    # -- details shortcuts --------------------------------------------------------------------
    @property
    def submit_time(self) -> int:
        return self.details.submit_time if self.details else 0

    @property
    def eligible_time(self) -> int:
        return self.details.begin_time if self.details else 0

    @property
    def nice(self) -> int:
        return self.details.nice_value if self.details else 0


@dataclass(frozen=True, slots=True)
class JobStateFile:
    version_str: str
    protocol_version: int
    time: int  # when slurmctld wrote the file
    job_id_sequence: int  # the next job id slurmctld would have tried
    last_backfill: int  # bf_when_last_cycle
    jobs: tuple[SavedJob, ...]

    def job(self, job_id: int) -> SavedJob:
        for j in self.jobs:
            if j.job_id == job_id:
                return j
        raise KeyError(job_id)


# -- decoding -------------------------------------------------------------------------------------
def decode_job_state(data: bytes | bytearray | memoryview) -> JobStateFile:
    """Decode a whole job_state file. Raises DecodeError on anything that is not a 22.05 file."""
    r = Reader(data)
    version_str = r.string()
    if version_str != JOB_STATE_VERSION:
        raise DecodeError(f"job_state: header {version_str!r} is not {JOB_STATE_VERSION!r}")
    protocol_version = r.u16()
    versions.STATE_FILES.check(protocol_version)
    written = r.time()
    job_id_sequence = r.u32()
    last_backfill = r.time()
    jobs: list[SavedJob] = []
    while not r.at_end():
        start = r.pos
        try:
            jobs.append(
                _job(r)
                if protocol_version == SLURM_22_05_PROTOCOL_VERSION
                else _job_newer(r, protocol_version)
            )
        except DecodeError as e:
            raise DecodeError(f"job_state: job record {len(jobs)} at offset {start}: {e}") from None
    return JobStateFile(version_str, protocol_version, written, job_id_sequence, last_backfill, tuple(jobs))


def _opt_str(r: Reader) -> str | None:
    return r.string()


def _strings(r: Reader) -> tuple[str, ...]:
    return tuple(r.string_array())


def _job(r: Reader) -> SavedJob:
    array_job_id = r.u32()
    array_task_id = r.u32()
    array = _array_record(r)
    assoc_id = r.u32()
    batch_features = r.string()
    container = r.string()
    delay_boot = r.u32()
    job_id = r.u32()
    if job_id == 0:
        raise DecodeError("job id 0")
    user_id, group_id, time_limit, time_min, priority, alloc_sid = (r.u32() for _ in range(6))
    total_cpus, total_nodes, cpu_cnt, exit_code, derived_ec = (r.u32() for _ in range(5))
    db_index = r.u64()
    resv_id = r.u32()
    next_step_id = r.u32()
    het_job_id = r.u32()
    het_job_id_set = r.string()
    het_job_offset = r.u32()
    qos_id, req_switch, wait4switch, profile, db_flags = (r.u32() for _ in range(5))
    (
        last_sched_eval,
        preempt_time,
        start_time,
        end_time,
        end_time_exp,
        suspend_time,
        pre_sus_time,
        resize_time,
        tot_sus_time,
        deadline,
    ) = (r.time() for _ in range(10))
    site_factor = r.u32()
    direct_set_prio = r.u16()
    job_state = r.u32()
    kill_on_node_fail = r.u16()
    batch_flag = r.u16()
    mail_type = r.u16()
    state_reason = r.u32()
    state_reason_prev_db = r.u32()
    reboot = r.u8()
    restart_cnt, wait_all_nodes, warn_flags, warn_signal, warn_time = (r.u16() for _ in range(5))
    limit_set = LimitSet(r.u16(), r.u16(), tuple(r.u16_array()))
    state_desc = r.string()
    resp_host = r.string()
    alloc_resp_port = r.u16()
    other_port = r.u16()
    power_flags = r.u8()
    start_protocol_ver = r.u16()
    billable_tres = r.double()
    nodes_completing = r.string() if job_state & JobStateFlag.COMPLETING else None
    nodes_pr = r.string() if state_reason == JobStateReason.WAIT_PROLOG else None
    nodes = r.string()
    partition = r.string()
    if partition is None:
        raise DecodeError(f"JobId={job_id} has no partition")
    (
        name,
        user_name,
        wckey,
        alloc_node,
        account,
        admin_comment,
        comment,
        gres_used,
        network,
        licenses,
        mail_user,
        mcs_label,
        resv_name,
        batch_host,
        burst_buffer,
        burst_buffer_state,
        system_comment,
    ) = (r.string() for _ in range(17))
    select_plugin_id = _select_jobinfo(r)
    job_resources = JOB_RESOURCES.unpack(r)
    spank_job_env = _strings(r)
    gres_list_req = _gres_job_states(r)
    gres_list_alloc = _gres_job_states(r)
    details_flag = r.u16()
    if details_flag == _DETAILS_FLAG:
        details: SavedDetails | None = _details(r)
    elif details_flag == 0:
        details = None
    else:
        raise DecodeError(f"JobId={job_id}: bad details flag {details_flag:#x}")
    steps: list[SavedStep] = []
    while (flag := r.u16()) == _STEP_FLAG:
        steps.append(_step(r))
    if flag != 0:
        raise DecodeError(f"JobId={job_id}: bad step flag {flag:#x}")
    bit_flags = r.u64()
    tres_alloc_str, tres_fmt_alloc_str, tres_req_str, tres_fmt_req_str, clusters = (
        r.string() for _ in range(5)
    )
    fed_details = _fed_details(r)
    origin_cluster = r.string()
    (
        cpus_per_tres,
        mem_per_tres,
        tres_bind,
        tres_freq,
        tres_per_job,
        tres_per_node,
        tres_per_socket,
        tres_per_task,
        selinux_context,
    ) = (r.string() for _ in range(9))

    if (job_state & JOB_STATE_BASE) >= _JOB_END:
        raise DecodeError(f"JobId={job_id}: bad job_state {job_state:#x}")
    if batch_flag > _MAX_BATCH_REQUEUE:
        raise DecodeError(f"JobId={job_id}: bad batch_flag {batch_flag}")
    if kill_on_node_fail > 1:
        raise DecodeError(f"JobId={job_id}: bad kill_on_node_fail {kill_on_node_fail}")

    return SavedJob(
        array_job_id=array_job_id,
        array_task_id=array_task_id,
        array=array,
        assoc_id=assoc_id,
        batch_features=batch_features,
        container=container,
        delay_boot=delay_boot,
        job_id=job_id,
        user_id=user_id,
        group_id=group_id,
        time_limit=time_limit,
        time_min=time_min,
        priority=priority,
        alloc_sid=alloc_sid,
        total_cpus=total_cpus,
        total_nodes=total_nodes,
        cpu_cnt=cpu_cnt,
        exit_code=exit_code,
        derived_ec=derived_ec,
        db_index=db_index,
        resv_id=resv_id,
        next_step_id=next_step_id,
        het_job_id=het_job_id,
        het_job_id_set=het_job_id_set,
        het_job_offset=het_job_offset,
        qos_id=qos_id,
        req_switch=req_switch,
        wait4switch=wait4switch,
        profile=profile,
        db_flags=db_flags,
        last_sched_eval=last_sched_eval,
        preempt_time=preempt_time,
        start_time=start_time,
        end_time=end_time,
        end_time_exp=end_time_exp,
        suspend_time=suspend_time,
        pre_sus_time=pre_sus_time,
        resize_time=resize_time,
        tot_sus_time=tot_sus_time,
        deadline=deadline,
        site_factor=site_factor,
        direct_set_prio=direct_set_prio,
        job_state=job_state,
        kill_on_node_fail=kill_on_node_fail,
        batch_flag=batch_flag,
        mail_type=mail_type,
        state_reason=state_reason,
        state_reason_prev_db=state_reason_prev_db,
        reboot=reboot,
        restart_cnt=restart_cnt,
        wait_all_nodes=wait_all_nodes,
        warn_flags=warn_flags,
        warn_signal=warn_signal,
        warn_time=warn_time,
        limit_set=limit_set,
        state_desc=state_desc,
        resp_host=resp_host,
        alloc_resp_port=alloc_resp_port,
        other_port=other_port,
        power_flags=power_flags,
        start_protocol_ver=start_protocol_ver,
        billable_tres=billable_tres,
        nodes_completing=nodes_completing,
        nodes_pr=nodes_pr,
        nodes=nodes,
        partition=partition,
        name=name,
        user_name=user_name,
        wckey=wckey,
        alloc_node=alloc_node,
        account=account,
        admin_comment=admin_comment,
        comment=comment,
        gres_used=gres_used,
        network=network,
        licenses=licenses,
        mail_user=mail_user,
        mcs_label=mcs_label,
        resv_name=resv_name,
        batch_host=batch_host,
        burst_buffer=burst_buffer,
        burst_buffer_state=burst_buffer_state,
        system_comment=system_comment,
        select_plugin_id=select_plugin_id,
        job_resources=job_resources,
        spank_job_env=spank_job_env,
        gres_list_req=gres_list_req,
        gres_list_alloc=gres_list_alloc,
        details=details,
        steps=tuple(steps),
        bit_flags=bit_flags,
        tres_alloc_str=tres_alloc_str,
        tres_fmt_alloc_str=tres_fmt_alloc_str,
        tres_req_str=tres_req_str,
        tres_fmt_req_str=tres_fmt_req_str,
        clusters=clusters,
        fed_details=fed_details,
        origin_cluster=origin_cluster,
        cpus_per_tres=cpus_per_tres,
        mem_per_tres=mem_per_tres,
        tres_bind=tres_bind,
        tres_freq=tres_freq,
        tres_per_job=tres_per_job,
        tres_per_node=tres_per_node,
        tres_per_socket=tres_per_socket,
        tres_per_task=tres_per_task,
        selinux_context=selinux_context,
    )


def _array_record(r: Reader) -> ArrayRecord | None:
    size = r.u32()
    if size == NO_VAL:
        return None
    bitmap: Bitmap | None = None
    if size:
        # the task bitmap: its size, then bit_fmt_hexmask text ("0x..."), as pack_bit_str_hex but split
        text = r.string()
        if text is None:
            raise DecodeError("array task bitmap without its hex mask")
        bitmap = _hexmask(size, text)
    flags, max_run, tot_run, min_ec, max_ec, tot_comp = (r.u32() for _ in range(6))
    return ArrayRecord(bitmap, flags, max_run, tot_run, min_ec, max_ec, tot_comp)


def _hexmask(size: int, text: str) -> Bitmap:
    if not text.startswith("0x"):
        raise DecodeError(f"bitmap string {text!r} is not a hex mask")
    try:
        value = int(text[2:], 16) if len(text) > 2 else 0
    except ValueError:
        raise DecodeError(f"bitmap string {text!r} is not a hex mask") from None
    if value >> size:
        raise DecodeError(f"bitmap {text} has bits beyond its size {size}")
    return Bitmap(size, value)


def _select_jobinfo(r: Reader) -> int:
    plugin_id = r.u32()
    if plugin_id not in _SELECT_PLUGINS_EMPTY:
        raise DecodeError(f"select plugin {plugin_id} job info is not supported (Cray select plugins)")
    return plugin_id


def _gres_job_states(r: Reader) -> tuple[GresJobState, ...]:
    return _gres_states(r, SLURM_22_05_PROTOCOL_VERSION)


def _gres_step_states_22_05(r: Reader) -> tuple[GresStepState, ...]:
    return _gres_step_states(r, SLURM_22_05_PROTOCOL_VERSION)


def _dependencies(r: Reader, version: int = SLURM_22_05_PROTOCOL_VERSION) -> tuple[DependencySpec, ...]:
    """pack_dep_list; 26.05 adds each element's parsed array task id before its singleton bits."""
    parsed = version >= SLURM_26_05_PROTOCOL_VERSION
    count = r.u32()
    if count * (32 if parsed else 28) > r.remaining:
        raise DecodeError(f"dependency list: {count} entries do not fit in {r.remaining} bytes")
    out = []
    for _ in range(count):
        task, dtype, dflags, dstate, dtime, job_id = r.u32(), r.u16(), r.u16(), r.u32(), r.u32(), r.u32()
        parsed_task = r.u32() if parsed else NO_VAL
        out.append(DependencySpec(task, dtype, dflags, dstate, dtime, job_id, r.u64(), parsed_task))
    return tuple(out)


def _details(r: Reader) -> SavedDetails:
    min_cpus, max_cpus, min_nodes, max_nodes, num_tasks = (r.u32() for _ in range(5))
    acctg_freq = r.string()
    contiguous = r.u16()
    core_spec = r.u16()
    cpus_per_task = r.u16()
    nice = r.u32()
    ntasks_per_node = r.u16()
    requeue = r.u16()
    task_dist = r.u32()
    share_res = r.u8()
    whole_node = r.u8()
    cpu_bind = r.string()
    cpu_bind_type = r.u16()
    mem_bind = r.string()
    mem_bind_type = r.u16()
    plane_size = r.u16()
    open_mode, overcommit, prolog_running = r.u8(), r.u8(), r.u8()
    pn_min_cpus = r.u32()
    pn_min_memory = r.u64()
    pn_min_tmp_disk, cpu_freq_min, cpu_freq_max, cpu_freq_gov = (r.u32() for _ in range(4))
    begin_time, accrue_time, submit_time = r.time(), r.time(), r.time()
    req_nodes, exc_nodes, features, cluster_features, prefer = (r.string() for _ in range(5))
    use = r.u8()
    if use not in _FEATURES_USE:
        raise DecodeError(f"details: bad features_use {use}")
    depend_list = _dependencies(r)
    dependency, orig_dependency = r.string(), r.string()
    std_err, std_in, std_out, submit_line, work_dir = (r.string() for _ in range(5))
    multi_core = MULTI_CORE.unpack(r)
    argv = _strings(r)
    env_sup = _strings(r)
    crontab_entry = CRON_ENTRY.unpack(r)
    env_hash, script_hash = r.string(), r.string()
    if contiguous > 1 or requeue > 1 or overcommit > 1 or prolog_running > 4:
        raise DecodeError(
            f"details: bad contiguous={contiguous} requeue={requeue} overcommit={overcommit} "
            f"prolog_running={prolog_running}"
        )
    return SavedDetails(
        min_cpus=min_cpus,
        max_cpus=max_cpus,
        min_nodes=min_nodes,
        max_nodes=max_nodes,
        num_tasks=num_tasks,
        acctg_freq=acctg_freq,
        contiguous=contiguous,
        core_spec=core_spec,
        cpus_per_task=cpus_per_task,
        nice=nice,
        ntasks_per_node=ntasks_per_node,
        requeue=requeue,
        task_dist=task_dist,
        share_res=share_res,
        whole_node=whole_node,
        cpu_bind=cpu_bind,
        cpu_bind_type=cpu_bind_type,
        mem_bind=mem_bind,
        mem_bind_type=mem_bind_type,
        plane_size=plane_size,
        open_mode=open_mode,
        overcommit=overcommit,
        prolog_running=prolog_running,
        pn_min_cpus=pn_min_cpus,
        pn_min_memory=pn_min_memory,
        pn_min_tmp_disk=pn_min_tmp_disk,
        cpu_freq_min=cpu_freq_min,
        cpu_freq_max=cpu_freq_max,
        cpu_freq_gov=cpu_freq_gov,
        begin_time=begin_time,
        accrue_time=accrue_time,
        submit_time=submit_time,
        req_nodes=req_nodes,
        exc_nodes=exc_nodes,
        features=features,
        cluster_features=cluster_features,
        prefer=prefer,
        features_use=_FEATURES_USE[use],
        depend_list=depend_list,
        dependency=dependency,
        orig_dependency=orig_dependency,
        std_err=std_err,
        std_in=std_in,
        std_out=std_out,
        submit_line=submit_line,
        work_dir=work_dir,
        multi_core=multi_core,
        argv=argv,
        env_sup=env_sup,
        crontab_entry=crontab_entry,
        env_hash=env_hash,
        script_hash=script_hash,
    )


def _skip_switch_jobinfo(r: Reader) -> None:
    if not r.u8():
        return
    plugin_id = r.u32()
    if plugin_id != _SWITCH_PLUGIN_NONE:
        raise DecodeError(f"switch plugin {plugin_id} step info is not supported (only switch/none)")


def _step(r: Reader) -> SavedStep:
    step_id = r.u32()
    step_het_comp = r.u32()
    cyclic_alloc = r.u16()
    srun_pid = r.u32()
    port = r.u16()
    cpus_per_task = r.u16()
    container = r.string()
    resv_port_cnt = r.u16()
    state = r.u16()
    start_protocol_ver = r.u16()
    flags = r.u32()
    cpu_count = r.u32()
    pn_min_memory = r.u64()
    exit_code = r.u32()
    exit_node_bitmap = r.bitmap() if exit_code != NO_VAL else None
    core_bitmap_job = r.bitmap()
    time_limit, cpu_freq_min, cpu_freq_max, cpu_freq_gov = (r.u32() for _ in range(4))
    start_time, pre_sus_time, tot_sus_time = r.time(), r.time(), r.time()
    host, resv_ports, name, network = (r.string() for _ in range(4))
    gres_list_req = _gres_step_states_22_05(r)
    gres_list_alloc = _gres_step_states_22_05(r)
    layout = StepLayout.unpack_optional(r, SLURM_22_05_PROTOCOL_VERSION)
    _skip_switch_jobinfo(r)
    _select_jobinfo(r)
    tres_alloc_str, tres_fmt_alloc_str = r.string(), r.string()
    (
        cpus_per_tres,
        mem_per_tres,
        submit_line,
        tres_bind,
        tres_freq,
        tres_per_step,
        tres_per_node,
        tres_per_socket,
        tres_per_task,
    ) = (r.string() for _ in range(9))
    unpack_jobacct(r, SLURM_22_05_PROTOCOL_VERSION)  # step accounting: checked, not kept
    memory_allocated = tuple(r.u64_array())
    return SavedStep(
        step_id=step_id,
        step_het_comp=step_het_comp,
        cyclic_alloc=cyclic_alloc,
        srun_pid=srun_pid,
        port=port,
        cpus_per_task=cpus_per_task,
        container=container,
        resv_port_cnt=resv_port_cnt,
        state=state,
        start_protocol_ver=start_protocol_ver,
        flags=flags,
        cpu_count=cpu_count,
        pn_min_memory=pn_min_memory,
        exit_code=exit_code,
        exit_node_bitmap=exit_node_bitmap,
        core_bitmap_job=core_bitmap_job,
        time_limit=time_limit,
        cpu_freq_min=cpu_freq_min,
        cpu_freq_max=cpu_freq_max,
        cpu_freq_gov=cpu_freq_gov,
        start_time=start_time,
        pre_sus_time=pre_sus_time,
        tot_sus_time=tot_sus_time,
        host=host,
        resv_ports=resv_ports,
        name=name,
        network=network,
        layout=layout,
        tres_alloc_str=tres_alloc_str,
        tres_fmt_alloc_str=tres_fmt_alloc_str,
        cpus_per_tres=cpus_per_tres,
        mem_per_tres=mem_per_tres,
        submit_line=submit_line,
        tres_bind=tres_bind,
        tres_freq=tres_freq,
        tres_per_step=tres_per_step,
        tres_per_node=tres_per_node,
        tres_per_socket=tres_per_socket,
        tres_per_task=tres_per_task,
        memory_allocated=memory_allocated,
        gres_list_req=gres_list_req,
        gres_list_alloc=gres_list_alloc,
    )


def _fed_details(r: Reader) -> FedDetails | None:
    if not r.u16():
        return None
    return FedDetails(r.u32(), r.string(), r.u64(), r.string(), r.u64(), r.string())


# -- script and environment files -----------------------------------------------------------------
def decode_script(data: bytes) -> str:
    """A ``script`` file: the script text and the NUL slurmctld writes after it."""
    if not data.endswith(b"\0"):
        raise DecodeError("script file does not end with NUL (truncated?)")
    return data[:-1].decode("utf-8", "surrogateescape")


def decode_environment(data: bytes, byteorder: Literal["little", "big"] = sys.byteorder) -> tuple[str, ...]:
    """An ``environment`` file: u32 count in the host's byte order, then count NUL-terminated strings.

    slurmctld writes the count with write(2) of a native uint32_t, so the file is read in the byte
    order of the machine that wrote it (the same host at a takeover).
    """
    if len(data) < 4:
        raise DecodeError(f"environment file of {len(data)} bytes has no count")
    count = int.from_bytes(data[:4], byteorder)
    body = data[4:]
    if count == 0:
        if body:
            raise DecodeError("environment file: data after a zero count")
        return ()
    if not body.endswith(b"\0"):
        raise DecodeError("environment file does not end with NUL (truncated?)")
    items = body[:-1].split(b"\0")
    if len(items) != count:
        raise DecodeError(f"environment file: count {count} but {len(items)} strings")
    return tuple(s.decode("utf-8", "surrogateescape") for s in items)


# -- files ----------------------------------------------------------------------------------------
def job_state_path(state_dir: str | os.PathLike[str]) -> Path:
    """The file slurmctld itself would load: ``job_state``, or ``job_state.old`` if that is missing."""
    base = Path(state_dir)
    main = base / JOB_STATE_FILE
    if main.exists():
        return main
    old = base / JOB_STATE_OLD_FILE
    if old.exists():
        return old
    raise FileNotFoundError(f"neither {main} nor {old} exists")


def read_job_state(path: str | os.PathLike[str]) -> JobStateFile:
    """Read a job_state file, or the one in a StateSaveLocation directory (with the .old fallback)."""
    p = Path(path)
    if p.is_dir():
        p = job_state_path(p)
    return decode_job_state(p.read_bytes())


def job_files_dir(state_dir: str | os.PathLike[str], job_id: int) -> Path:
    """``StateSaveLocation/hash.<id % 10>/job.<id>``: where a batch job's script and environment live.

    Pass :attr:`SavedJob.script_job_id` (an array's tasks share the array job's directory).
    """
    return Path(state_dir) / f"hash.{job_id % 10}" / f"job.{job_id}"


def read_job_script(state_dir: str | os.PathLike[str], job_id: int) -> str | None:
    """The batch script of ``job_id``, None if slurmctld has none for it (not a batch job, or purged)."""
    try:
        data = (job_files_dir(state_dir, job_id) / SCRIPT_FILE).read_bytes()
    except FileNotFoundError:
        return None
    return decode_script(data)


def read_job_environment(state_dir: str | os.PathLike[str], job_id: int) -> tuple[str, ...] | None:
    """The environment of ``job_id`` as submitted ("NAME=value" strings), None if there is no file.

    slurmctld adds the job's ``details.env_sup`` to it when launching (a duplicate name replaced).
    """
    try:
        data = (job_files_dir(state_dir, job_id) / ENVIRONMENT_FILE).read_bytes()
    except FileNotFoundError:
        return None
    return decode_environment(data)


# -- 24.11 and 26.05 --------------------------------------------------------------------------------
# From 24.11 slurmctld packs a job record in a new order (job_record.c job_record_pack): the fields
# job_info also sends first, in job_record_pack_common's alphabetical order, then the rest. Each
# section is one table for both releases, an entry's Span saying which release packs it (26.05 added
# fields, and dropped the node bitmap and the select plugin id); a kind is a primitive of layout.py
# or a reader of a nested block. Nested blocks are read by the protocol's codecs in the file's release.

NestedReader = Callable[[Reader, int], Any]
StateEntry = tuple[str, str | NestedReader] | tuple[str, str | NestedReader, Span]

_FROM_26_05 = since(SLURM_26_05_PROTOCOL_VERSION)
_ONLY_24_11 = before(SLURM_26_05_PROTOCOL_VERSION)


def _read_fields(r: Reader, table: Sequence[StateEntry], version: int) -> dict[str, Any]:
    """The fields of ``table`` that ``version`` packs, read in order into a dict by name."""
    out: dict[str, Any] = {}
    for entry in table:
        if len(entry) == 3 and version not in entry[2]:
            continue
        name, kind = entry[0], entry[1]
        out[name] = kind(r, version) if callable(kind) else _PRIMITIVES[kind](r)
    return out


_PRIMITIVES: dict[str, Callable[[Reader], Any]] = {
    U8: Reader.u8,
    U16: Reader.u16,
    U32: Reader.u32,
    U64: Reader.u64,
    TIME: Reader.time,
    DOUBLE: Reader.double,
    STR: Reader.string,
    STRS: _strings,
    BITS: Reader.bitmap,
}


def _blob(r: Reader, version: int) -> None:
    """A plugin's data behind its u32 length (switch and topology job info: nothing flurm uses)."""
    r.bytes(r.u32())


def _step_id(r: Reader, version: int) -> tuple[int, int, int, int]:
    """slurm_step_id_t as pack_step_id: sluid, job id, step id, het component."""
    return r.u64(), r.u32(), r.u32(), r.u32()


def _fed_details_newer(r: Reader, version: int) -> FedDetails | None:
    if not r.bool():
        return None
    return FedDetails(r.u32(), r.string(), r.u64(), r.string(), r.u64(), r.string())


def _limit_set(r: Reader, version: int) -> LimitSet:
    return LimitSet(r.u16(), r.u16(), tuple(r.u16_array()))


def _select_plugin(r: Reader, version: int) -> int:
    return _select_jobinfo(r)


def _identity(r: Reader, version: int) -> int | None:
    """The owner's identity (pack_identity) when slurmctld keeps one: its uid."""
    if not r.bool():
        return None
    uid, _gid = r.u32(), r.u32()
    for _ in range(4):  # pw_name, pw_gecos, pw_dir, pw_shell
        r.string()
    r.u32_array()  # gids
    _strings(r)  # group names
    return uid


def _gres_states(r: Reader, version: int) -> tuple[GresJobState, ...]:
    count = r.u16()
    if count > r.remaining // 64:  # the smallest record (22.05) has 74 bytes
        raise DecodeError(f"{count} job GRES records do not fit in {r.remaining} bytes")
    return tuple(GresJobState.unpack(r, version) for _ in range(count))


def _gres_step_states(r: Reader, version: int) -> tuple[GresStepState, ...]:
    count = r.u16()
    if count > r.remaining // 64:  # the smallest record (22.05) has 70 bytes
        raise DecodeError(f"{count} step GRES records do not fit in {r.remaining} bytes")
    return tuple(GresStepState.unpack(r, version) for _ in range(count))


def _job_resources(r: Reader, version: int) -> JobResources | None:
    nhosts = r.u32()
    return None if nhosts == NO_VAL else JobResources.read(r, nhosts, version)


def _multi_core(r: Reader, version: int) -> MultiCore | None:
    return MULTI_CORE.unpack(r)  # the same block in every release


def _cron_entry(r: Reader, version: int) -> CronEntry | None:
    return CRON_ENTRY.unpack(r)  # the same block in every release


def _step_layout(r: Reader, version: int) -> StepLayout | None:
    return StepLayout.unpack_optional(r, version)


def _switch_step(r: Reader, version: int) -> None:
    if r.u8():
        _blob(r, version)


def _jobacct(r: Reader, version: int) -> None:
    unpack_jobacct(r, version)  # step accounting: checked, not kept


def _step_request(r: Reader, version: int) -> JobStepCreateRequest | None:
    """26.05 keeps the request a step was created with (for steps created by a job's stepmgr)."""
    return JobStepCreateRequest.unpack(r, version) if r.bool() else None


# job_record_pack_common (as the job_info reply's record starts too)
_COMMON: tuple[StateEntry, ...] = (
    ("step_id", _step_id, _FROM_26_05),  # the job id is in it from 26.05
    ("account", STR),
    ("admin_comment", STR),
    ("alloc_node", STR),
    ("alloc_sid", U32),
    ("array_job_id", U32),
    ("array_task_id", U32),
    ("assoc_id", U32),
    ("batch_features", STR),
    ("batch_flag", U16),
    ("batch_host", STR),
    ("bit_flags", U64),
    ("burst_buffer", STR),
    ("burst_buffer_state", STR),
    ("billable_tres", DOUBLE),
    ("comment", STR),
    ("container", STR),
    ("container_id", STR),
    ("container_type", STR, _FROM_26_05),
    ("cpus_per_tres", STR),
    ("deadline", TIME),
    ("delay_boot", U32),
    ("derived_ec", U32),
    ("exit_code", U32),
    ("extra", STR),
    ("failed_node", STR),
    ("fed_details", _fed_details_newer),
    ("gres_used", STR),
    ("group_id", U32),
    ("het_job_id", U32),
    ("het_job_id_set", STR),
    ("het_job_offset", U32),
    ("job_id", U32, _ONLY_24_11),
    ("job_state", U32),
    ("last_sched_eval", TIME),
    ("licenses", STR),
    ("licenses_allocated", STR, _FROM_26_05),
    ("mail_type", U16),
    ("mail_user", STR),
    ("mcs_label", STR),
    ("mem_per_tres", STR),
    ("name", STR),
    ("network", STR),
    ("preempt_time", TIME),
    ("pre_sus_time", TIME),
    ("priority", U32),
    ("profile", U32),
    ("reboot", U8),
    ("req_switch", U32),
    ("resize_time", TIME),
    ("restart_cnt", U16),
    ("resv_name", STR),
    ("resv_ports", STR),
    ("selinux_context", STR),
    ("site_factor", U32),
    ("start_protocol_ver", U16),
    ("state_desc", STR),
    ("state_reason", U32),
    ("suspend_time", TIME),
    ("system_comment", STR),
    ("time_min", U32),
    ("tres_bind", STR),
    ("tres_fmt_alloc_str", STR),
    ("tres_fmt_req_str", STR),
    ("tres_freq", STR),
    ("tres_per_job", STR),
    ("tres_per_node", STR),
    ("tres_per_socket", STR),
    ("tres_per_task", STR),
    ("user_id", U32),
    ("user_name", STR),
    ("wait4switch", U32),
    ("wckey", STR),
)

# job_record_pack after the common part and the array record, up to the node lists
_SCALARS: tuple[StateEntry, ...] = (
    ("time_limit", U32),
    ("total_cpus", U32),
    ("total_nodes", U32),  # or the node count estimate of a pending job
    ("cpu_cnt", U32),
    ("db_index", U64),
    ("resv_id", U32),
    ("next_step_id", U32),
    ("qos_id", U32),
    ("db_flags", U32),
    ("prolog_launch_time", TIME),
    ("start_time", TIME),
    ("end_time", TIME),
    ("end_time_exp", TIME),
    ("tot_sus_time", TIME),
    ("direct_set_prio", U16),
    ("epilog_failed", U16, _FROM_26_05),
    ("kill_on_node_fail", U16),
    ("state_reason_prev_db", U32),
    ("wait_all_nodes", U16),
    ("warn_flags", U16),
    ("warn_signal", U16),
    ("warn_time", U16),
    ("limit_set", _limit_set),
    ("resp_host", STR),
    ("alloc_resp_port", U16),
    ("alloc_tls_cert", STR, _FROM_26_05),
    ("other_port", U16),
    ("resv_port_cnt", U16),
)

# after the node lists (nodes_completing, nodes_pr, 26.05's nodes_rs, as the job's state says)
_ALLOCATION: tuple[StateEntry, ...] = (
    ("nodes", STR),
    ("node_cnt", U32),
    ("node_bitmap", BITS, _ONLY_24_11),  # 26.05 rebuilds it from the node names
    ("partition", STR),
    ("lic_req", STR),
    ("select_plugin_id", _select_plugin, _ONLY_24_11),
    ("switch_jobinfo", _blob),
    ("topology_jobinfo", _blob, _FROM_26_05),
    ("job_resources", _job_resources),
    ("spank_job_env", STRS),
    ("gres_list_req", _gres_states),
    ("gres_list_alloc", _gres_states),
)

# after the details and the steps
_TAIL: tuple[StateEntry, ...] = (
    ("tres_alloc_str", STR),
    ("tres_req_str", STR),
    ("clusters", STR),
    ("origin_cluster", STR),
    ("identity_uid", _identity),
)

# job_record_pack_details_common, then _dump_job_details
_DETAILS: tuple[StateEntry, ...] = (
    ("accrue_time", TIME),
    ("begin_time", TIME),
    ("cluster_features", STR),
    ("cpu_freq_gov", U32),
    ("cpu_freq_max", U32),
    ("cpu_freq_min", U32),
    ("dependency", STR),
    ("job_size_bitmap", BITS),
    ("nice", U32),
    ("ntasks_per_node", U16),
    ("ntasks_per_tres", U16),
    ("requeue", U16),
    ("segment_size", U16, _FROM_26_05),  # 24.11 packs it near the end
    ("submit_time", TIME),
    ("work_dir", STR),
    # _dump_job_details: the scheduler's values from 26.05 beside the user's (orig_*), which 24.11 alone packs
    ("min_cpus_now", U32, _FROM_26_05),
    ("min_cpus", U32),
    ("max_cpus_now", U32, _FROM_26_05),
    ("max_cpus", U32),
    ("min_nodes", U32),
    ("max_nodes", U32),
    ("num_tasks", U32),
    ("acctg_freq", STR),
    ("contiguous", U16),
    ("core_spec", U16),
    ("cpus_per_task_now", U16, _FROM_26_05),
    ("cpus_per_task", U16),
    ("task_dist", U32),
    ("share_res", U8),
    ("whole_node", U8),
    ("cpu_bind", STR),
    ("cpu_bind_type", U16),
    ("mem_bind", STR),
    ("mem_bind_type", U16),
    ("mem_update_delay", U16, _FROM_26_05),
    ("mem_update_margin", U16, _FROM_26_05),
    ("open_mode", U8),
    ("overcommit", U8),
    ("prolog_running", U8),
    ("pn_min_cpus_now", U32, _FROM_26_05),
    ("pn_min_cpus", U32),
    ("pn_min_memory_now", U64, _FROM_26_05),
    ("pn_min_memory_pre_resize", U64, _FROM_26_05),
    ("pn_min_memory", U64),
    ("oom_kill_step", U16),
    ("pn_min_tmp_disk", U32),
    ("req_nodes", STR),
    ("resv_req", STR, _FROM_26_05),
    ("exc_nodes", STR),
    ("features", STR),
    ("prefer", STR),
    ("features_use", U8),
    ("depend_list", _dependencies),
    ("orig_dependency", STR),
    ("std_err", STR),
    ("std_in", STR),
    ("std_out", STR),
    ("submit_line", STR),
    ("multi_core", _multi_core),
    ("argv", STRS),
    ("env_sup", STRS),
    ("crontab_entry", _cron_entry),
    ("env_hash", STR),
    ("script_hash", STR),
    ("segment_size", U16, _ONLY_24_11),
    ("resv_port_cnt", U16),
    ("qos_req", STR),
    ("x11", U16),
    ("x11_magic_cookie", STR),  # a secret: read past, never kept
    ("x11_target", STR),
    ("x11_target_port", U16),
)

# _pack_step_state
_STEP: tuple[StateEntry, ...] = (
    ("step_id", U32),
    ("step_het_comp", U32),
    ("cyclic_alloc", U16, _ONLY_24_11),
    ("srun_pid", U32),
    ("port", U16),
    ("cpus_per_task", U16),
    ("container", STR),
    ("container_id", STR),
    ("container_type", STR, _FROM_26_05),
    ("resv_port_cnt", U16),
    ("state", U16),
    ("start_protocol_ver", U16),
    ("flags", U32),
    ("cpu_alloc_reps", lambda r, v: tuple(r.u32_array())),
    ("cpu_alloc_values", lambda r, v: tuple(r.u16_array())),
    ("cpu_count", U32),
    ("pn_min_memory", U64),
    ("exit_code", U32),
)

_STEP_TAIL: tuple[StateEntry, ...] = (
    ("core_bitmap_job", BITS),
    ("time_limit", U32),
    ("cpu_freq_min", U32),
    ("cpu_freq_max", U32),
    ("cpu_freq_gov", U32),
    ("start_time", TIME),
    ("pre_sus_time", TIME),
    ("tot_sus_time", TIME),
    ("host", STR),
    ("resv_ports", STR),
    ("name", STR),
    ("network", STR),
    ("gres_list_req", _gres_step_states),
    ("gres_list_alloc", _gres_step_states),
    ("layout", _step_layout),
    ("switch_step", _switch_step),
    ("select_plugin_id", _select_plugin, _ONLY_24_11),
    ("tres_alloc_str", STR),
    ("tres_fmt_alloc_str", STR),
    ("cpus_per_tres", STR),
    ("mem_per_tres", STR),
    ("cwd", STR, _FROM_26_05),
    ("std_in", STR, _FROM_26_05),
    ("std_err", STR, _FROM_26_05),
    ("std_out", STR, _FROM_26_05),
    ("submit_line", STR),
    ("tres_bind", STR),
    ("tres_freq", STR),
    ("tres_per_step", STR),
    ("tres_per_node", STR),
    ("tres_per_socket", STR),
    ("tres_per_task", STR),
    ("jobacct", _jobacct),
    ("memory_allocated", lambda r, v: tuple(r.u64_array())),
    ("step_req", _step_request, _FROM_26_05),
)

_STEP_FIELDS = frozenset(f.name for f in fields(SavedStep))
_DETAILS_FIELDS = frozenset(f.name for f in fields(SavedDetails))
_JOB_FIELDS = frozenset(f.name for f in fields(SavedJob))


def _job_newer(r: Reader, version: int) -> SavedJob:
    """One job record as 24.11 and 26.05 write it (job_record_pack)."""
    f = _read_fields(r, _COMMON, version)
    if "step_id" in f:
        f["job_id"] = f["step_id"][1]
    if f["job_id"] == 0:
        raise DecodeError("job id 0")
    f["array"] = _array_record(r)
    f.update(_read_fields(r, _SCALARS, version))
    job_state = f["job_state"]
    f["nodes_completing"] = r.string() if job_state & JobStateFlag.COMPLETING else None
    f["nodes_pr"] = r.string() if f["state_reason"] == JobStateReason.WAIT_PROLOG else None
    if version >= SLURM_26_05_PROTOCOL_VERSION and job_state & JobStateFlag.RESIZING:
        r.string()  # nodes_rs: the nodes a resizing job gives up
    f.update(_read_fields(r, _ALLOCATION, version))
    if f["partition"] is None:
        raise DecodeError(f"JobId={f['job_id']} has no partition")
    f["details"] = _details_newer(r, version) if r.bool() else None
    count = r.u32()
    if count != NO_VAL and count * 8 > r.remaining:
        raise DecodeError(f"{count} steps do not fit in {r.remaining} bytes")
    f["steps"] = () if count == NO_VAL else tuple(_step_newer(r, version) for _ in range(count))
    f.update(_read_fields(r, _TAIL, version))
    f.setdefault("select_plugin_id", 0)  # 26.05 packs none (one select plugin, cons_tres)
    f["power_flags"] = 0  # gone before 24.11
    return SavedJob(**{k: v for k, v in f.items() if k in _JOB_FIELDS})


def _details_newer(r: Reader, version: int) -> SavedDetails:
    d = _read_fields(r, _DETAILS, version)
    use = d["features_use"]
    if use not in _FEATURES_USE:
        raise DecodeError(f"details: bad features_use {use}")
    d["features_use"] = _FEATURES_USE[use]
    mc: MultiCore | None = d["multi_core"]
    d["plane_size"] = mc.plane_size if mc is not None else NO_VAL16  # in the multi-core data from 24.11
    if d["contiguous"] > 1 or d["requeue"] > 1 or d["overcommit"] > 1 or d["prolog_running"] > 4:
        raise DecodeError(
            f"details: bad contiguous={d['contiguous']} requeue={d['requeue']} "
            f"overcommit={d['overcommit']} prolog_running={d['prolog_running']}"
        )
    return SavedDetails(**{k: v for k, v in d.items() if k in _DETAILS_FIELDS})


def _step_newer(r: Reader, version: int) -> SavedStep:
    s = _read_fields(r, _STEP, version)
    s["exit_node_bitmap"] = r.bitmap() if s["exit_code"] != NO_VAL else None
    s.update(_read_fields(r, _STEP_TAIL, version))
    s.setdefault("cyclic_alloc", 0)  # 26.05 dropped it
    return SavedStep(**{k: v for k, v in s.items() if k in _STEP_FIELDS})
