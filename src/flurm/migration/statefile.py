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

import gc
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from flurm.protocol import versions
from flurm.protocol.constants import (
    JOB_STATE_BASE,
    NICE_OFFSET,
    NO_VAL,
    NO_VAL16,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    JobState,
    JobStateFlag,
    JobStateReason,
)
from flurm.protocol.messages.credential import GresJobState, GresStepState
from flurm.protocol.messages.job_desc import CRON_ENTRY, CronEntry
from flurm.protocol.messages.job_info import MULTI_CORE, JobResources, MultiCore
from flurm.protocol.messages.layout import (
    BITS,
    DOUBLE,
    STR,
    TIME,
    U8,
    U16,
    U16_ARRAY,
    U32,
    U32_ARRAY,
    U64,
    U64_ARRAY,
    Absent,
    Check,
    Const,
    Derived,
    ReadEntry,
    ReadKind,
    VersionedReader,
    When,
    before,
    compile_reader,
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
_NO_VAL_BYTES = NO_VAL.to_bytes(4, "big")  # an absent array record or job_resources


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
    """Decode a whole job_state file. Raises DecodeError on anything that is not a 22.05, 24.11 or 26.05
    file (a damaged record: with its index and offset)."""
    r = Reader(data)
    version_str = r.string()
    if version_str != JOB_STATE_VERSION:
        raise DecodeError(f"job_state: header {version_str!r} is not {JOB_STATE_VERSION!r}")
    protocol_version = r.u16()
    versions.STATE_FILES.check(protocol_version)
    written = r.time()
    job_id_sequence = r.u32()
    last_backfill = r.time()
    unpack = (
        _JOB_22_05.unpack
        if protocol_version == SLURM_22_05_PROTOCOL_VERSION
        else _JOB.unpacker(protocol_version)
    )
    jobs: list[SavedJob] = []
    append = jobs.append
    # 10,000 jobs are about a million new objects, none in a cycle: the collector would walk the
    # growing heap again and again for nothing (a quarter of the decoding time)
    collecting = gc.isenabled()
    gc.disable()
    try:
        while not r.at_end():
            start = r.pos
            try:
                append(unpack(r))
            except DecodeError as e:
                raise DecodeError(f"job_state: job record {len(jobs)} at offset {start}: {e}") from None
    finally:
        if collecting:
            gc.enable()
    return JobStateFile(version_str, protocol_version, written, job_id_sequence, last_backfill, tuple(jobs))


def _job(r: Reader) -> SavedJob:
    """One 22.05 job record (the tests cut a file into records with it)."""
    return _JOB_22_05.unpack(r)


# Nested blocks, as a reader layout calls them: fn(reader, the file's protocol version).


def _strings(r: Reader, version: int = 0) -> tuple[str, ...]:
    """packstr_array; slurmctld's NULL element reads as "" (as unpackstr_array leaves it)."""
    return tuple(r.string_array())


def _array_record(r: Reader, version: int = 0) -> ArrayRecord | None:
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


def _select_jobinfo(r: Reader, version: int = 0) -> int:
    plugin_id = r.u32()
    if plugin_id not in _SELECT_PLUGINS_EMPTY:
        raise DecodeError(f"select plugin {plugin_id} job info is not supported (Cray select plugins)")
    return plugin_id


def _limit_set(limit_qos: int, limit_time: int, limit_tres: tuple[int, ...]) -> LimitSet:
    return LimitSet(limit_qos, limit_time, limit_tres)


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


def _job_resources(r: Reader, version: int) -> JobResources | None:
    return JobResources.unpack_optional(r, version)


def _multi_core(r: Reader, version: int) -> MultiCore | None:
    return MULTI_CORE.unpack(r)  # the same block in every release


def _cron_entry(r: Reader, version: int) -> CronEntry | None:
    return CRON_ENTRY.unpack(r)  # the same block in every release


def _step_layout(r: Reader, version: int) -> StepLayout | None:
    return StepLayout.unpack_optional(r, version)


def _jobacct(r: Reader, version: int) -> None:
    unpack_jobacct(r, version)  # step accounting: checked, not kept


def _features_use(features_use_code: int) -> str | None:
    if features_use_code not in _FEATURES_USE:
        raise DecodeError(f"details: bad features_use {features_use_code}")
    return _FEATURES_USE[features_use_code]


def _completing(job_state: int) -> bool:
    return bool(job_state & JobStateFlag.COMPLETING)


def _in_prolog(state_reason: int) -> bool:
    return state_reason == JobStateReason.WAIT_PROLOG


def _running_step(exit_code: int) -> bool:
    return exit_code != NO_VAL  # a step's exit node bitmap is packed once it has an exit code


def _no_partition(partition: str | None) -> bool:
    return partition is None


def _job_id_zero(job_id: int) -> bool:
    return job_id == 0


def _bad_details_flags(contiguous: int, requeue: int, overcommit: int, prolog_running: int) -> bool:
    return contiguous > 1 or requeue > 1 or overcommit > 1 or prolog_running > 4


_NO_PARTITION = Check(_no_partition, "JobId={job_id} has no partition")
_JOB_ID_ZERO = Check(_job_id_zero, "job id 0")
_BAD_DETAILS = Check(
    _bad_details_flags,
    "details: bad contiguous={contiguous} requeue={requeue} overcommit={overcommit} "
    "prolog_running={prolog_running}",
)


# -- 22.05 ----------------------------------------------------------------------------------------
# The job record as 22.05's _dump_job_state packs it, its details (_dump_job_details) and its
# steps (_dump_job_step_state).


def _fed_details(r: Reader, version: int) -> FedDetails | None:
    if not r.u16():
        return None
    return FedDetails(r.u32(), r.string(), r.u64(), r.string(), r.u64(), r.string())


def _skip_switch_jobinfo(r: Reader, version: int) -> None:
    if not r.u8():
        return
    plugin_id = r.u32()
    if plugin_id != _SWITCH_PLUGIN_NONE:
        raise DecodeError(f"switch plugin {plugin_id} step info is not supported (only switch/none)")


def _has_details_22_05(details_flag: int, job_id: int) -> bool:
    if details_flag == _DETAILS_FLAG:
        return True
    if details_flag != 0:
        raise DecodeError(f"JobId={job_id}: bad details flag {details_flag:#x}")
    return False


@dataclass(frozen=True, slots=True)
class _FlaggedSteps:
    """22.05's steps: each behind a u16 0xBBBB, the list ended by a u16 0."""

    unpack_step: Callable[[Reader], SavedStep]

    def unpack(self, r: Reader) -> tuple[SavedStep, ...]:
        steps = []
        while (flag := r.u16()) == _STEP_FLAG:
            steps.append(self.unpack_step(r))
        if flag != 0:
            raise DecodeError(f"bad step flag {flag:#x}")
        return tuple(steps)


def _bad_job_state(job_state: int) -> bool:
    return (job_state & JOB_STATE_BASE) >= _JOB_END


def _bad_batch_flag(batch_flag: int) -> bool:
    return batch_flag > _MAX_BATCH_REQUEUE


def _bad_kill_on_node_fail(kill_on_node_fail: int) -> bool:
    return kill_on_node_fail > 1


_DETAILS_22_05: tuple[tuple[str, ReadKind], ...] = (
    ("min_cpus", U32),
    ("max_cpus", U32),
    ("min_nodes", U32),
    ("max_nodes", U32),
    ("num_tasks", U32),
    ("acctg_freq", STR),
    ("contiguous", U16),
    ("core_spec", U16),
    ("cpus_per_task", U16),
    ("nice", U32),
    ("ntasks_per_node", U16),
    ("requeue", U16),
    ("task_dist", U32),
    ("share_res", U8),
    ("whole_node", U8),
    ("cpu_bind", STR),
    ("cpu_bind_type", U16),
    ("mem_bind", STR),
    ("mem_bind_type", U16),
    ("plane_size", U16),
    ("open_mode", U8),
    ("overcommit", U8),
    ("prolog_running", U8),
    ("pn_min_cpus", U32),
    ("pn_min_memory", U64),
    ("pn_min_tmp_disk", U32),
    ("cpu_freq_min", U32),
    ("cpu_freq_max", U32),
    ("cpu_freq_gov", U32),
    ("begin_time", TIME),
    ("accrue_time", TIME),
    ("submit_time", TIME),
    ("req_nodes", STR),
    ("exc_nodes", STR),
    ("features", STR),
    ("cluster_features", STR),
    ("prefer", STR),
    ("features_use_code", U8),
    ("features_use", Derived(_features_use)),
    ("depend_list", Absent(b"\0\0\0\0", (), _dependencies)),
    ("dependency", STR),
    ("orig_dependency", STR),
    ("std_err", STR),
    ("std_in", STR),
    ("std_out", STR),
    ("submit_line", STR),
    ("work_dir", STR),
    ("multi_core", Absent(b"\0", None, _multi_core)),
    ("argv", Absent(b"\0\0\0\0", (), _strings)),
    ("env_sup", Absent(b"\0\0\0\0", (), _strings)),
    ("crontab_entry", Absent(b"\0", None, _cron_entry)),
    ("env_hash", STR),
    ("script_hash", STR),
    ("check flags", _BAD_DETAILS),
)

# A step record (dump_job_step_state), one table for the three releases: an entry's Span says which release
# packs it (24.11 added the container id and the CPU allocation, and packs the switch data behind a length;
# 26.05 added fields and dropped cyclic_alloc and the select plugin id).
_ONLY_22_05 = before(SLURM_24_11_PROTOCOL_VERSION)
_FROM_24_11 = since(SLURM_24_11_PROTOCOL_VERSION)
_FROM_26_05 = since(SLURM_26_05_PROTOCOL_VERSION)
_BEFORE_26_05 = before(SLURM_26_05_PROTOCOL_VERSION)


def _blob(r: Reader, version: int) -> None:
    """A plugin's data behind its u32 length (switch and topology job info: nothing flurm uses)."""
    r.bytes(r.u32())


def _switch_step(r: Reader, version: int) -> None:
    if r.u8():
        _blob(r, version)


def _step_request(r: Reader, version: int) -> JobStepCreateRequest | None:
    """26.05 keeps the request a step was created with (for steps created by a job's stepmgr)."""
    return JobStepCreateRequest.unpack(r, version) if r.bool() else None


_STEP_TABLE: tuple[ReadEntry, ...] = (
    ("step_id", U32),
    ("step_het_comp", U32),
    ("cyclic_alloc", U16, _BEFORE_26_05),
    ("cyclic_alloc", Const(0), _FROM_26_05),  # 26.05 dropped it
    ("srun_pid", U32),
    ("port", U16),
    ("cpus_per_task", U16),
    ("container", STR),
    ("container_id", STR, _FROM_24_11),
    ("container_type", STR, _FROM_26_05),
    ("resv_port_cnt", U16),
    ("state", U16),
    ("start_protocol_ver", U16),
    ("flags", U32),
    ("cpu_alloc_reps", U32_ARRAY, _FROM_24_11),
    ("cpu_alloc_values", U16_ARRAY, _FROM_24_11),
    ("cpu_count", U32),
    ("pn_min_memory", U64),
    ("exit_code", U32),
    ("exit_node_bitmap", When(_running_step, BITS)),
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
    ("gres_list_req", Absent(b"\0\0", (), _gres_step_states)),
    ("gres_list_alloc", Absent(b"\0\0", (), _gres_step_states)),
    ("layout", Absent(b"\0\0", None, _step_layout)),
    ("switch_step", Absent(b"\0", None, _skip_switch_jobinfo), _ONLY_22_05),
    ("switch_step", Absent(b"\0", None, _switch_step), _FROM_24_11),
    ("select_plugin_id", _select_jobinfo, _BEFORE_26_05),
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
    ("jobacct", Absent(b"\0", None, _jobacct)),
    ("memory_allocated", U64_ARRAY),
    ("step_req", Absent(b"\0", None, _step_request), _FROM_26_05),
)

_STEP = VersionedReader(SavedStep, _STEP_TABLE, tuple(sorted(versions.STATE_FILES.versions)))

_DETAILS_READER_22_05 = compile_reader(SavedDetails, _DETAILS_22_05, SLURM_22_05_PROTOCOL_VERSION)

_JOB_TABLE_22_05: tuple[tuple[str, ReadKind], ...] = (
    ("array_job_id", U32),
    ("array_task_id", U32),
    ("array", Absent(_NO_VAL_BYTES, None, _array_record)),
    ("assoc_id", U32),
    ("batch_features", STR),
    ("container", STR),
    ("delay_boot", U32),
    ("job_id", U32),
    ("check job id", _JOB_ID_ZERO),
    ("user_id", U32),
    ("group_id", U32),
    ("time_limit", U32),
    ("time_min", U32),
    ("priority", U32),
    ("alloc_sid", U32),
    ("total_cpus", U32),
    ("total_nodes", U32),
    ("cpu_cnt", U32),
    ("exit_code", U32),
    ("derived_ec", U32),
    ("db_index", U64),
    ("resv_id", U32),
    ("next_step_id", U32),
    ("het_job_id", U32),
    ("het_job_id_set", STR),
    ("het_job_offset", U32),
    ("qos_id", U32),
    ("req_switch", U32),
    ("wait4switch", U32),
    ("profile", U32),
    ("db_flags", U32),
    ("last_sched_eval", TIME),
    ("preempt_time", TIME),
    ("start_time", TIME),
    ("end_time", TIME),
    ("end_time_exp", TIME),
    ("suspend_time", TIME),
    ("pre_sus_time", TIME),
    ("resize_time", TIME),
    ("tot_sus_time", TIME),
    ("deadline", TIME),
    ("site_factor", U32),
    ("direct_set_prio", U16),
    ("job_state", U32),
    ("kill_on_node_fail", U16),
    ("batch_flag", U16),
    ("mail_type", U16),
    ("state_reason", U32),
    ("state_reason_prev_db", U32),
    ("reboot", U8),
    ("restart_cnt", U16),
    ("wait_all_nodes", U16),
    ("warn_flags", U16),
    ("warn_signal", U16),
    ("warn_time", U16),
    ("limit_qos", U16),
    ("limit_time", U16),
    ("limit_tres", U16_ARRAY),
    ("limit_set", Derived(_limit_set)),
    ("state_desc", STR),
    ("resp_host", STR),
    ("alloc_resp_port", U16),
    ("other_port", U16),
    ("power_flags", U8),
    ("start_protocol_ver", U16),
    ("billable_tres", DOUBLE),
    ("nodes_completing", When(_completing, STR)),
    ("nodes_pr", When(_in_prolog, STR)),
    ("nodes", STR),
    ("partition", STR),
    ("check partition", _NO_PARTITION),
    ("name", STR),
    ("user_name", STR),
    ("wckey", STR),
    ("alloc_node", STR),
    ("account", STR),
    ("admin_comment", STR),
    ("comment", STR),
    ("gres_used", STR),
    ("network", STR),
    ("licenses", STR),
    ("mail_user", STR),
    ("mcs_label", STR),
    ("resv_name", STR),
    ("batch_host", STR),
    ("burst_buffer", STR),
    ("burst_buffer_state", STR),
    ("system_comment", STR),
    ("select_plugin_id", _select_jobinfo),
    ("job_resources", Absent(_NO_VAL_BYTES, None, _job_resources)),
    ("spank_job_env", Absent(b"\0\0\0\0", (), _strings)),
    ("gres_list_req", Absent(b"\0\0", (), _gres_states)),
    ("gres_list_alloc", Absent(b"\0\0", (), _gres_states)),
    ("details_flag", U16),
    ("details", When(_has_details_22_05, _DETAILS_READER_22_05)),
    ("steps", Absent(b"\0\0", (), _FlaggedSteps(_STEP.unpacker(SLURM_22_05_PROTOCOL_VERSION)))),
    ("bit_flags", U64),
    ("tres_alloc_str", STR),
    ("tres_fmt_alloc_str", STR),
    ("tres_req_str", STR),
    ("tres_fmt_req_str", STR),
    ("clusters", STR),
    ("fed_details", Absent(b"\0\0", None, _fed_details)),
    ("origin_cluster", STR),
    ("cpus_per_tres", STR),
    ("mem_per_tres", STR),
    ("tres_bind", STR),
    ("tres_freq", STR),
    ("tres_per_job", STR),
    ("tres_per_node", STR),
    ("tres_per_socket", STR),
    ("tres_per_task", STR),
    ("selinux_context", STR),
    ("check job_state", Check(_bad_job_state, "JobId={job_id}: bad job_state {job_state:#x}")),
    ("check batch_flag", Check(_bad_batch_flag, "JobId={job_id}: bad batch_flag {batch_flag}")),
    (
        "check kill_on_node_fail",
        Check(_bad_kill_on_node_fail, "JobId={job_id}: bad kill_on_node_fail {kill_on_node_fail}"),
    ),
)

_JOB_22_05 = compile_reader(SavedJob, _JOB_TABLE_22_05, SLURM_22_05_PROTOCOL_VERSION)


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

StateEntry = ReadEntry

_NEWER = tuple(sorted(v for v in versions.STATE_FILES.versions if v != SLURM_22_05_PROTOCOL_VERSION))


def _step_id(r: Reader, version: int) -> tuple[int, int, int, int]:
    """slurm_step_id_t as pack_step_id: sluid, job id, step id, het component."""
    return r.u64(), r.u32(), r.u32(), r.u32()


def _job_id_of(step_id: tuple[int, int, int, int]) -> int:
    return step_id[1]


def _fed_details_newer(r: Reader, version: int) -> FedDetails | None:
    if not r.bool():
        return None
    return FedDetails(r.u32(), r.string(), r.u64(), r.string(), r.u64(), r.string())


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


def _resizing(job_state: int) -> bool:
    return bool(job_state & JobStateFlag.RESIZING)


def _has_details(details_packed: int) -> bool:
    return details_packed != 0


def _plane_size(multi_core: MultiCore | None) -> int:
    return multi_core.plane_size if multi_core is not None else NO_VAL16  # in the multi-core data from 24.11


def _details_newer(r: Reader, version: int) -> SavedDetails:
    return _DETAILS.unpack(r, version)


def _steps_newer(r: Reader, version: int) -> tuple[SavedStep, ...]:
    """A u32 count (NO_VAL: none), then the steps."""
    count = r.u32()
    if count == NO_VAL:
        return ()
    if count * 8 > r.remaining:
        raise DecodeError(f"{count} steps do not fit in {r.remaining} bytes")
    unpack = _STEP.unpacker(version)
    return tuple(unpack(r) for _ in range(count))


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
    ("fed_details", Absent(b"\0", None, _fed_details_newer)),
    ("gres_used", STR),
    ("group_id", U32),
    ("het_job_id", U32),
    ("het_job_id_set", STR),
    ("het_job_offset", U32),
    ("job_id", U32, _BEFORE_26_05),
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
    ("job_id", Derived(_job_id_of), _FROM_26_05),
    ("check job id", _JOB_ID_ZERO),
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
    ("limit_qos", U16),
    ("limit_time", U16),
    ("limit_tres", U16_ARRAY),
    ("limit_set", Derived(_limit_set)),
    ("resp_host", STR),
    ("alloc_resp_port", U16),
    ("alloc_tls_cert", STR, _FROM_26_05),
    ("other_port", U16),
    ("resv_port_cnt", U16),
)

# the node lists, as the job's state says
_NODE_LISTS: tuple[StateEntry, ...] = (
    ("nodes_completing", When(_completing, STR)),
    ("nodes_pr", When(_in_prolog, STR)),
    ("nodes_rs", When(_resizing, STR), _FROM_26_05),  # the nodes a resizing job gives up
)

_ALLOCATION: tuple[StateEntry, ...] = (
    ("nodes", STR),
    ("node_cnt", U32),
    ("node_bitmap", BITS, _BEFORE_26_05),  # 26.05 rebuilds it from the node names
    ("partition", STR),
    ("check partition", _NO_PARTITION),
    ("lic_req", STR),
    ("select_plugin_id", _select_jobinfo, _BEFORE_26_05),
    ("select_plugin_id", Const(0), _FROM_26_05),  # one select plugin (cons_tres)
    ("switch_jobinfo", _blob),
    ("topology_jobinfo", _blob, _FROM_26_05),
    ("job_resources", Absent(_NO_VAL_BYTES, None, _job_resources)),
    ("spank_job_env", Absent(b"\0\0\0\0", (), _strings)),
    ("gres_list_req", Absent(b"\0\0", (), _gres_states)),
    ("gres_list_alloc", Absent(b"\0\0", (), _gres_states)),
)

# the details and the steps, then the tail
_TAIL: tuple[StateEntry, ...] = (
    ("details_packed", U8),
    ("details", When(_has_details, _details_newer)),
    ("steps", Absent(b"\0\0\0\0", (), _steps_newer)),
    ("tres_alloc_str", STR),
    ("tres_req_str", STR),
    ("clusters", STR),
    ("origin_cluster", STR),
    ("identity_uid", Absent(b"\0", None, _identity)),
    ("power_flags", Const(0)),  # gone before 24.11
)

# job_record_pack_details_common, then _dump_job_details
_DETAILS_TABLE: tuple[StateEntry, ...] = (
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
    ("features_use_code", U8),
    ("features_use", Derived(_features_use)),
    ("depend_list", Absent(b"\0\0\0\0", (), _dependencies)),
    ("orig_dependency", STR),
    ("std_err", STR),
    ("std_in", STR),
    ("std_out", STR),
    ("submit_line", STR),
    ("multi_core", Absent(b"\0", None, _multi_core)),
    ("argv", Absent(b"\0\0\0\0", (), _strings)),
    ("env_sup", Absent(b"\0\0\0\0", (), _strings)),
    ("crontab_entry", Absent(b"\0", None, _cron_entry)),
    ("env_hash", STR),
    ("script_hash", STR),
    ("segment_size", U16, _BEFORE_26_05),
    ("resv_port_cnt", U16),
    ("qos_req", STR),
    ("x11", U16),
    ("x11_magic_cookie", STR),  # a secret: read past, never kept
    ("x11_target", STR),
    ("x11_target_port", U16),
    ("plane_size", Derived(_plane_size)),
    ("check flags", _BAD_DETAILS),
)

_DETAILS = VersionedReader(SavedDetails, _DETAILS_TABLE, _NEWER)
_JOB = VersionedReader(
    SavedJob,
    (
        *_COMMON,
        ("array", Absent(_NO_VAL_BYTES, None, _array_record)),
        *_SCALARS,
        *_NODE_LISTS,
        *_ALLOCATION,
        *_TAIL,
    ),
    _NEWER,
)
