"""Job step bodies: what srun and salloc exchange with the controller, in SLURM 22.05, 24.11 and 26.05
(the bodies whose NEWER_LAYOUTS say so; each docstring says what a release changed).

* REQUEST_JOB_STEP_CREATE 5001 (:class:`JobStepCreateRequest`, ``_pack_job_step_create_request_msg``)
  and its reply RESPONSE_JOB_STEP_CREATE 5002 (:class:`JobStepCreateResponse`): the step layout
  (:class:`StepLayout`, ``pack_slurm_step_layout``), the munge-signed step credential, the select
  and switch plugin data, and the protocol version the step speaks.
* REQUEST_JOB_ALLOCATION_INFO 4014 (:class:`JobAllocInfoRequest`, srun inside an allocation) and
  RESPONSE_JOB_ALLOCATION_INFO 4015 (:class:`JobAllocationInfoResponse`, the 4002 layout).
* What the controller sends to srun and salloc on their own ports: SRUN_PING 7001 (empty),
  SRUN_TIMEOUT 7002 (:class:`SrunTimeout`), SRUN_JOB_COMPLETE 7004 (:class:`SrunJobComplete`).
* REQUEST_JOB_STEP_INFO 2005 (:class:`JobStepInfoRequest`, ``squeue -s``) and
  RESPONSE_JOB_STEP_INFO 2006 (:class:`JobStepInfoResponse` of :class:`StepInfoRecord`).

Field names are SLURM's. Times in seconds, memory in MiB, step ids as SLURM packs them (with the
sluid from 24.11). From 26.05 the bodies that named a job by its id name it by a step id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from flurm.protocol.constants import (
    NO_VAL,
    NO_VAL16,
    PROTOCOL_VERSION,
    SELECT_PLUGIN_CONS_TRES,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    SWITCH_PLUGIN_NONE,
    JobState,
    MsgType,
)
from flurm.protocol.messages.base import Message, register
from flurm.protocol.messages.credential import JobCredential, StepId
from flurm.protocol.messages.job_common import SELECT_PLUGIN
from flurm.protocol.messages.job_control import JobStepKill, ResourceAllocationResponse
from flurm.protocol.messages.layout import (
    STR,
    STRS,
    U8,
    U16,
    U32,
    U64,
    VersionedLayout,
    before,
    compile_layout,
    since,
)
from flurm.protocol.versions import NEWER, require_22_05_decode, require_22_05_encode
from flurm.protocol.wire import Bitmap, DecodeError, EncodeError, Reader, Writer

# switch plugins whose per-step data is empty on the wire (switch/none)
SWITCH_PLUGIN_IDS = frozenset((SWITCH_PLUGIN_NONE,))

# job_step_create_request_msg_t.flags (slurm.h SSF_*)
SSF_EXCLUSIVE = 1 << 0
SSF_NO_KILL = 1 << 1
SSF_OVERCOMMIT = 1 << 2
SSF_WHOLE = 1 << 3
SSF_INTERACTIVE = 1 << 4
SSF_MEM_ZERO = 1 << 5
SSF_OVERLAP_FORCE = 1 << 6

# task distributions (slurm.h task_dist_states): the base value and the flag bits above it
SLURM_DIST_CYCLIC = 0x0001
SLURM_DIST_BLOCK = 0x0002
SLURM_DIST_ARBITRARY = 0x0003
SLURM_DIST_PLANE = 0x0004
SLURM_DIST_UNKNOWN = 0x2000
SLURM_DIST_STATE_BASE = 0x00FFFF
SLURM_DIST_NODEMASK = 0xF00F


def _pack_switch(w: Writer, plugin_id: int) -> None:
    if plugin_id not in SWITCH_PLUGIN_IDS:
        raise EncodeError(f"switch plugin id {plugin_id!r} is not supported")
    w.u32(plugin_id)


def _unpack_switch(r: Reader) -> int:
    plugin_id = r.u32()
    if plugin_id not in SWITCH_PLUGIN_IDS:
        raise DecodeError(f"switch plugin id {plugin_id} is not supported")
    return plugin_id


# -- nested kinds of the step tables ------------------------------------------------------------


class _StepIdKind:
    """pack_step_id as a layout kind: one release's form of it (the sluid is there from 24.11)."""

    def __init__(self, version: int) -> None:
        self.version = version

    def pack(self, value: StepId) -> bytes:
        w = Writer()
        value.pack(w, self.version)
        return w.getvalue()

    def unpack(self, r: Reader) -> StepId:
        return StepId.unpack(r, self.version)


class _U16Array:
    """pack16_array: u32 count, then the values."""

    def pack(self, value: tuple[int, ...]) -> bytes:
        w = Writer()
        w.u16_array(value)
        return w.getvalue()

    def unpack(self, r: Reader) -> tuple[int, ...]:
        return tuple(r.u16_array())


class _U32Array:
    """pack32_array: u32 count, then the values."""

    def pack(self, value: tuple[int, ...]) -> bytes:
        w = Writer()
        w.u32_array(value)
        return w.getvalue()

    def unpack(self, r: Reader) -> tuple[int, ...]:
        return tuple(r.u32_array())


STEP_ID_22_05 = _StepIdKind(SLURM_22_05_PROTOCOL_VERSION)
STEP_ID_24_11 = _StepIdKind(SLURM_24_11_PROTOCOL_VERSION)
U16_ARRAY = _U16Array()
U32_ARRAY = _U32Array()

# the releases whose step bodies flurm knows, oldest first
STEP_RELEASES = (SLURM_22_05_PROTOCOL_VERSION, *sorted(NEWER))


# -- step creation ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LaunchParams:
    """slurm_step_launch_params_t as 26.05 packs it into a step creation (``_pack_launch_params``):
    only ``srun --async`` sends it, for a step the controller's stepmgr is to launch. Booleans are
    the u8 of packbool."""

    argv: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    container: str | None = None
    cwd: str | None = None
    msg_timeout: int = 0
    ntasks_per_board: int = NO_VAL16
    ntasks_per_core: int = NO_VAL16
    ntasks_per_tres: int = NO_VAL16
    ntasks_per_socket: int = NO_VAL16
    buffered_stdio: int = 1
    labelio: int = 0
    output_filename: str | None = None
    error_filename: str | None = None
    input_filename: str | None = None
    multi_prog: int = 0
    no_alloc: int = 0
    slurmd_debug: int = 0
    het_job_node_offset: int = NO_VAL
    het_job_id: int = NO_VAL
    het_job_nnodes: int = NO_VAL
    het_job_ntasks: int = NO_VAL
    het_job_step_cnt: int = NO_VAL
    het_job_offset: int = NO_VAL
    het_job_task_offset: int = NO_VAL
    het_job_node_list: str | None = None
    parallel_debug: int = 0
    profile: int = 0
    task_prolog: str | None = None
    task_epilog: str | None = None
    cpu_bind_type: int = 0
    cpu_bind: str | None = None
    cpu_freq_min: int = NO_VAL
    cpu_freq_max: int = NO_VAL
    cpu_freq_gov: int = NO_VAL
    mem_bind_type: int = 0
    mem_bind: str | None = None
    accel_bind_type: int = 0
    max_sockets: int = 0
    max_cores: int = 0
    max_threads: int = 0
    cpus_per_task: int = 0
    cpt_compact_array: tuple[int, ...] = ()
    cpt_compact_reps: tuple[int, ...] = ()
    threads_per_core: int = NO_VAL16
    task_dist: int = 0
    tree_width: int = 0
    preserve_env: int = 0
    mpi_plugin_name: str | None = None
    open_mode: int = 0
    acctg_freq: str | None = None
    pty: int = 0
    spank_job_env: tuple[str, ...] = ()
    tres_bind: str | None = None
    tres_freq: str | None = None
    oom_kill_step: int = NO_VAL16


_pack_launch_params, _unpack_launch_params = compile_layout(
    LaunchParams,
    (
        ("argv", STRS),
        ("env", STRS),
        ("container", STR),
        ("cwd", STR),
        ("msg_timeout", U32),
        ("ntasks_per_board", U16),
        ("ntasks_per_core", U16),
        ("ntasks_per_tres", U16),
        ("ntasks_per_socket", U16),
        ("buffered_stdio", U8),
        ("labelio", U8),
        ("output_filename", STR),
        ("error_filename", STR),
        ("input_filename", STR),
        ("multi_prog", U8),
        ("no_alloc", U8),
        ("slurmd_debug", U32),
        ("het_job_node_offset", U32),
        ("het_job_id", U32),
        ("het_job_nnodes", U32),
        ("het_job_ntasks", U32),
        ("het_job_step_cnt", U32),
        ("het_job_offset", U32),
        ("het_job_task_offset", U32),
        ("het_job_node_list", STR),
        ("parallel_debug", U8),
        ("profile", U32),
        ("task_prolog", STR),
        ("task_epilog", STR),
        ("cpu_bind_type", U16),
        ("cpu_bind", STR),
        ("cpu_freq_min", U32),
        ("cpu_freq_max", U32),
        ("cpu_freq_gov", U32),
        ("mem_bind_type", U16),
        ("mem_bind", STR),
        ("accel_bind_type", U16),
        ("max_sockets", U16),
        ("max_cores", U16),
        ("max_threads", U16),
        ("cpus_per_task", U16),
        ("cpt_compact_array", U16_ARRAY),
        ("cpt_compact_reps", U32_ARRAY),
        ("threads_per_core", U16),
        ("task_dist", U32),
        ("tree_width", U16),
        ("preserve_env", U8),
        ("mpi_plugin_name", STR),
        ("open_mode", U8),
        ("acctg_freq", STR),
        ("pty", U8),
        ("spank_job_env", STRS),
        ("tres_bind", STR),
        ("tres_freq", STR),
        ("oom_kill_step", U16),
    ),
)


class _LaunchParamsKind:
    """packbool(present), then the parameters."""

    def pack(self, value: LaunchParams | None) -> bytes:
        return b"\0" if value is None else b"\x01" + _pack_launch_params(value)

    def unpack(self, r: Reader) -> LaunchParams | None:
        present = r.u8()
        if present == 0:
            return None
        if present != 1:
            raise DecodeError(f"launch parameters flag {present} is neither 0 nor 1")
        return _unpack_launch_params(LaunchParams, r)


LAUNCH_PARAMS = _LaunchParamsKind()


@register(MsgType.REQUEST_JOB_STEP_CREATE)
@dataclass(frozen=True, slots=True)
class JobStepCreateRequest(Message):
    """5001 (srun; ``_pack_job_step_create_request_msg``, one table for every release).

    ``step_id.step_id`` is NO_VAL (the controller picks the next id) unless srun asks for one;
    ``cpu_count`` is the CPUs wanted, ``num_tasks`` the tasks; ``flags`` are SSF_* bits
    (SSF_WHOLE unless ``--exact``); ``port`` and ``host`` are where srun listens for the
    controller's messages about this step; ``task_dist`` a task distribution (0x2000 = unknown).
    ``launch_params`` (26.05): what the controller would launch an ``srun --async`` step with.
    """

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    step_id: StepId
    user_id: int = 0
    min_nodes: int = 1
    max_nodes: int = 1
    container: str | None = None
    cpu_count: int = 1
    cpu_freq_min: int = NO_VAL
    cpu_freq_max: int = NO_VAL
    cpu_freq_gov: int = NO_VAL
    num_tasks: int = 1
    pn_min_memory: int = 0  # MiB per node, or MEM_PER_CPU|MiB per CPU
    time_limit: int = 0  # minutes; 0 or NO_VAL = the job's
    threads_per_core: int = NO_VAL16
    relative: int = NO_VAL16
    task_dist: int = SLURM_DIST_UNKNOWN
    plane_size: int = NO_VAL16
    port: int = 0
    immediate: int = 0
    resv_port_cnt: int = NO_VAL16
    srun_pid: int = 0
    flags: int = 0
    host: str | None = None
    name: str | None = None
    network: str | None = None
    node_list: str | None = None
    exc_nodes: str | None = None
    features: str | None = None
    step_het_comp_cnt: int = 0
    step_het_grps: str | None = None
    cpus_per_tres: str | None = None
    mem_per_tres: str | None = None
    ntasks_per_tres: int = NO_VAL16
    submit_line: str | None = None
    tres_bind: str | None = None
    tres_freq: str | None = None
    tres_per_step: str | None = None
    tres_per_node: str | None = None
    tres_per_socket: str | None = None
    tres_per_task: str | None = None
    # from 24.11
    array_task_id: int = NO_VAL
    container_id: str | None = None
    ntasks_per_core: int = NO_VAL16
    # from 26.05
    container_type: str | None = None
    cwd: str | None = None
    std_err: str | None = None
    std_in: str | None = None
    std_out: str | None = None
    launch_params: LaunchParams | None = None

    def pack(self, w: Writer, version: int) -> None:
        if version < SLURM_24_11_PROTOCOL_VERSION:
            require_22_05_encode(version, "job step create request")
        w.raw(STEP_CREATE_LAYOUT.pack(self, version))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        if version < SLURM_24_11_PROTOCOL_VERSION:
            require_22_05_decode(version, "job step create request")
        return STEP_CREATE_LAYOUT.unpack(r, version)  # type: ignore[return-value]


_V24, _V26 = SLURM_24_11_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION
STEP_CREATE_LAYOUT: VersionedLayout[JobStepCreateRequest] = VersionedLayout(
    JobStepCreateRequest,
    (
        ("step_id", STEP_ID_22_05, before(_V24)),
        ("step_id", STEP_ID_24_11, since(_V24)),
        ("array_task_id", U32, since(_V24)),
        ("user_id", U32),
        ("min_nodes", U32),
        ("max_nodes", U32),
        ("container", STR),
        ("container_id", STR, since(_V24)),
        ("container_type", STR, since(_V26)),
        ("cpu_count", U32),
        ("cpu_freq_min", U32),
        ("cpu_freq_max", U32),
        ("cpu_freq_gov", U32),
        ("num_tasks", U32),
        ("pn_min_memory", U64),
        ("time_limit", U32),
        ("threads_per_core", U16),
        ("ntasks_per_core", U16, since(_V24)),
        ("relative", U16),
        ("task_dist", U32),
        ("plane_size", U16),
        ("port", U16),
        ("immediate", U16),
        ("resv_port_cnt", U16),
        ("srun_pid", U32),
        ("flags", U32),
        ("host", STR),
        ("name", STR),
        ("network", STR),
        ("node_list", STR),
        ("exc_nodes", STR),
        ("features", STR),
        ("step_het_comp_cnt", U32),
        ("step_het_grps", STR),
        ("cpus_per_tres", STR),
        ("mem_per_tres", STR),
        ("ntasks_per_tres", U16),
        ("cwd", STR, since(_V26)),
        ("std_err", STR, since(_V26)),
        ("std_in", STR, since(_V26)),
        ("std_out", STR, since(_V26)),
        ("submit_line", STR),
        ("tres_bind", STR),
        ("tres_freq", STR),
        ("tres_per_step", STR),
        ("tres_per_node", STR),
        ("tres_per_socket", STR),
        ("tres_per_task", STR),
        ("launch_params", LAUNCH_PARAMS, since(_V26)),
    ),
    STEP_RELEASES,
)


@dataclass(frozen=True, slots=True)
class StepLayout:
    """slurm_step_layout_t as packed by pack_slurm_step_layout: which tasks run on which node.

    ``tids`` holds one tuple of task ids per node of ``node_list``, in node order; the task count
    per node is the length of each tuple. From 24.11 the layout also carries the per-node CPUs per
    task (``cpt_compact_*``, run-length, set only when cpus_per_tres made them differ) and the
    nodes' addresses as a net credential string (cloud nodes only); 26.05 packs front_end NULL.
    """

    node_list: str | None
    node_cnt: int
    task_cnt: int
    task_dist: int
    tids: tuple[tuple[int, ...], ...]
    start_protocol_ver: int = PROTOCOL_VERSION
    front_end: str | None = None
    cpt_compact_array: tuple[int, ...] = ()
    cpt_compact_reps: tuple[int, ...] = ()
    net_cred: str | None = None

    @property
    def tasks(self) -> tuple[int, ...]:
        return tuple(len(t) for t in self.tids)

    def pack(self, w: Writer, version: int) -> None:
        if len(self.tids) != self.node_cnt:
            raise EncodeError(f"step layout: {len(self.tids)} task lists for {self.node_cnt} nodes")
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        if not newer and (self.cpt_compact_array or self.net_cred is not None):
            raise EncodeError("step layout: 22.05 carries no per-node CPUs per task nor node addresses")
        if len(self.cpt_compact_array) != len(self.cpt_compact_reps):
            raise EncodeError("step layout: cpt_compact_array and cpt_compact_reps differ in length")
        w.u16(1)
        w.string(None if version >= SLURM_26_05_PROTOCOL_VERSION else self.front_end)
        w.string(self.node_list)
        w.u32(self.node_cnt)
        w.u16(self.start_protocol_ver)
        w.u32(self.task_cnt)
        w.u32(self.task_dist)
        for t in self.tids:
            w.u32_array(t)
        if newer:
            w.u16_array(self.cpt_compact_array)
            w.u32_array(self.cpt_compact_reps)
            w.string(self.net_cred)

    @classmethod
    def unpack_optional(cls, r: Reader, version: int) -> StepLayout | None:
        """The layout, or None when its u16 presence flag is 0."""
        if r.u16() == 0:
            return None
        front_end, node_list = r.string(), r.string()
        node_cnt = r.u32()
        start_protocol_ver = r.u16()
        task_cnt, task_dist = r.u32(), r.u32()
        if node_cnt > r.remaining // 4:
            raise DecodeError(f"step layout: {node_cnt} nodes do not fit in {r.remaining} bytes")
        tids = tuple(tuple(r.u32_array()) for _ in range(node_cnt))
        cpt: tuple[int, ...] = ()
        reps: tuple[int, ...] = ()
        net_cred = None
        if version >= SLURM_24_11_PROTOCOL_VERSION:
            cpt, reps = tuple(r.u16_array()), tuple(r.u32_array())
            if len(cpt) != len(reps):
                raise DecodeError(f"step layout: {len(cpt)} CPUs-per-task values for {len(reps)} counts")
            net_cred = r.string()
        return cls(
            node_list, node_cnt, task_cnt, task_dist, tids, start_protocol_ver, front_end, cpt, reps, net_cred
        )


def pack_step_layout(w: Writer, layout: StepLayout | None, version: int) -> None:
    """pack_slurm_step_layout: u16 0 for no layout, else u16 1 and the layout."""
    if layout is None:
        w.u16(0)
    else:
        layout.pack(w, version)


@register(MsgType.RESPONSE_JOB_STEP_CREATE)
@dataclass(frozen=True, slots=True)
class JobStepCreateResponse(Message):
    """5002 (``_pack_job_step_create_response_msg``).

    22.05: u32 def_cpu_bind_type, str resv_ports, u32 job_step_id, the step layout, the step
    credential (signed: slurmd refuses an unsigned one), select jobinfo, switch jobinfo and u16
    use_protocol_ver. 24.11: the job id before the step id, the stepmgr host after the layout, no
    select nor switch data. 26.05: the whole step id (with the job's sluid) in place of the two
    ids, the credential behind a packbool, and the step's state (JOB_RUNNING; JOB_PENDING for a
    queued ``--async`` step, which has no credential) in place of use_protocol_ver.
    """

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    job_step_id: int
    step_layout: StepLayout | None
    credential: JobCredential | None
    def_cpu_bind_type: int = 0
    resv_ports: str | None = None
    select_plugin_id: int = SELECT_PLUGIN_CONS_TRES  # 22.05
    switch_plugin_id: int = SWITCH_PLUGIN_NONE  # 22.05
    use_protocol_ver: int = PROTOCOL_VERSION  # up to 24.11
    # from 24.11
    job_id: int = 0
    stepmgr: str | None = None
    # from 26.05
    sluid: int = 0
    step_het_comp: int = NO_VAL
    state: int = JobState.RUNNING

    def pack(self, w: Writer, version: int) -> None:
        if version < SLURM_24_11_PROTOCOL_VERSION:
            require_22_05_encode(version, "job step create response")
        v24, v26 = version >= SLURM_24_11_PROTOCOL_VERSION, version >= SLURM_26_05_PROTOCOL_VERSION
        if self.credential is None and not v26:
            raise EncodeError("job step create response: before 26.05 a step always has a credential")
        w.u32(self.def_cpu_bind_type)
        w.string(self.resv_ports)
        if v26:
            StepId(self.job_id, self.job_step_id, self.step_het_comp, self.sluid).pack(w, version)
        else:
            if v24:
                w.u32(self.job_id)
            w.u32(self.job_step_id)
        pack_step_layout(w, self.step_layout, version)
        if v24:
            w.string(self.stepmgr)
        if v26:
            w.bool(self.credential is not None)
        if self.credential is not None:
            self.credential.pack(w, version)
        if v26:
            w.u32(self.state)
            return
        if not v24:
            w.raw(SELECT_PLUGIN.pack(self.select_plugin_id))
            _pack_switch(w, self.switch_plugin_id)
        w.u16(self.use_protocol_ver)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        if version < SLURM_24_11_PROTOCOL_VERSION:
            require_22_05_decode(version, "job step create response")
        v24, v26 = version >= SLURM_24_11_PROTOCOL_VERSION, version >= SLURM_26_05_PROTOCOL_VERSION
        def_cpu_bind_type = r.u32()
        resv_ports = r.string()
        job_id, sluid, het_comp = 0, 0, NO_VAL
        if v26:
            step = StepId.unpack(r, version)
            job_id, job_step_id, het_comp, sluid = step.job_id, step.step_id, step.step_het_comp, step.sluid
        else:
            if v24:
                job_id = r.u32()
            job_step_id = r.u32()
        layout = StepLayout.unpack_optional(r, version)
        stepmgr = r.string() if v24 else None
        has_cred = r.bool() if v26 else True
        credential = JobCredential.unpack(r, version) if has_cred else None
        select_plugin_id, switch_plugin_id = SELECT_PLUGIN_CONS_TRES, SWITCH_PLUGIN_NONE
        use_protocol_ver, state = PROTOCOL_VERSION, int(JobState.RUNNING)
        if v26:
            state = r.u32()
        else:
            if not v24:
                select_plugin_id = SELECT_PLUGIN.unpack(r)
                switch_plugin_id = _unpack_switch(r)
            use_protocol_ver = r.u16()
        return cls(
            job_step_id,
            layout,
            credential,
            def_cpu_bind_type,
            resv_ports,
            select_plugin_id,
            switch_plugin_id,
            use_protocol_ver,
            job_id,
            stepmgr,
            sluid,
            het_comp,
            state,
        )


# -- allocation lookup -----------------------------------------------------------------------------


@register(MsgType.REQUEST_JOB_ALLOCATION_INFO, MsgType.REQUEST_HET_JOB_ALLOC_INFO)
@dataclass(frozen=True, slots=True)
class JobAllocInfoRequest(Message):
    """job_alloc_info_msg_t: u32 job_id, str req_cluster. 4014 (slurm_allocation_lookup, e.g. srun
    waiting for a pending allocation) and 4027 (slurm_het_job_lookup: srun inside an allocation,
    under sbatch or salloc)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    job_id: int
    req_cluster: str | None = None
    # 26.05 sends a step id for the job id
    sluid: int = 0
    step_id: int = NO_VAL
    step_het_comp: int = NO_VAL

    def pack(self, w: Writer, version: int) -> None:
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            StepId(self.job_id, self.step_id, self.step_het_comp, self.sluid).pack(w, version)
        else:
            w.u32(self.job_id)
        w.string(self.req_cluster)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            step = StepId.unpack(r, version)
            return cls(step.job_id, r.string(), step.sluid, step.step_id, step.step_het_comp)
        return cls(r.u32(), r.string())


@register(MsgType.RESPONSE_JOB_ALLOCATION_INFO)
@dataclass(frozen=True, slots=True)
class JobAllocationInfoResponse(ResourceAllocationResponse):
    """4015: the body of RESPONSE_RESOURCE_ALLOCATION 4002, built from a running job."""


@register(MsgType.RESPONSE_HET_JOB_ALLOCATION)
@dataclass(frozen=True, slots=True)
class HetJobAllocationResponse(Message):
    """4026, the reply to 4027: u16 count, then that many 4002 bodies (one per component; a job
    that is not heterogeneous has one), in every release."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    allocations: tuple[ResourceAllocationResponse, ...] = ()

    def pack(self, w: Writer, version: int) -> None:
        w.u16(len(self.allocations))
        for a in self.allocations:
            a.pack(w, version)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        count = r.u16()
        if count * 16 > r.remaining:
            raise DecodeError(f"het job allocation: {count} records do not fit in {r.remaining} bytes")
        return cls(tuple(ResourceAllocationResponse.unpack(r, version) for _ in range(count)))


# -- controller to srun ----------------------------------------------------------------------------


@register(MsgType.SRUN_PING)
@dataclass(frozen=True, slots=True)
class SrunPing(Message):
    """7001: no body; srun and salloc answer RESPONSE_SLURM_RC."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    def pack(self, w: Writer, version: int) -> None:
        pass

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls()


@register(MsgType.SRUN_JOB_COMPLETE)
@dataclass(frozen=True, slots=True)
class SrunJobComplete(Message):
    """7004: the step id (step NO_VAL = the whole allocation) that ended, or was cancelled."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)  # pack_step_id: the release's own

    step_id: StepId

    def pack(self, w: Writer, version: int) -> None:
        self.step_id.pack(w, version)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(StepId.unpack(r, version))


@register(MsgType.SRUN_STEP_SIGNAL)
@dataclass(frozen=True, slots=True)
class SrunStepSignal(JobStepKill):
    """7009: the job_step_kill_msg_t layout of 5005. With signal 0 to a step that waits for
    resources (step id SLURM_PENDING_STEP) it only wakes srun up to ask again."""


@register(MsgType.SRUN_TIMEOUT)
@dataclass(frozen=True, slots=True)
class SrunTimeout(Message):
    """7002: step id and the time (epoch seconds) at which the allocation will be killed."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    step_id: StepId
    timeout: int

    def pack(self, w: Writer, version: int) -> None:
        self.step_id.pack(w, version)
        w.time(self.timeout)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(StepId.unpack(r, version), r.time())


@register(MsgType.SRUN_NODE_FAIL)
@dataclass(frozen=True, slots=True)
class SrunNodeFail(Message):
    """7003 (_pack_srun_node_fail_msg): the step (step NO_VAL = the allocation) and the failed nodes;
    srun prints "Node failure on NODES"."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    step_id: StepId
    nodelist: str | None

    def pack(self, w: Writer, version: int) -> None:
        self.step_id.pack(w, version)
        w.string(self.nodelist)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(StepId.unpack(r, version), r.string())


# -- step information ------------------------------------------------------------------------------

ALL_STEPS = StepId(NO_VAL, NO_VAL, NO_VAL)


@register(MsgType.REQUEST_JOB_STEP_INFO)
@dataclass(frozen=True, slots=True)
class JobStepInfoRequest(Message):
    """2005 (squeue -s, scontrol show step): time last_update, step id (NO_VAL = all), u16 show_flags.
    The same in every served release (the step id has its release's layout)."""

    last_update: int = 0
    step_id: StepId = ALL_STEPS
    show_flags: int = 0

    NEWER_LAYOUTS = frozenset(NEWER)

    def pack(self, w: Writer, version: int) -> None:
        w.time(self.last_update)
        self.step_id.pack(w, version)
        w.u16(self.show_flags)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.time(), StepId.unpack(r, version), r.u16())


@dataclass(frozen=True, slots=True)
class StepInfoRecord:
    """One step as ``_pack_ctld_job_step_info`` packs it (>= 21.08 field list).

    ``node_bitmap`` spans the cluster's node table; ``run_time`` is seconds; ``state`` a job state.
    From 24.11 ``container_id`` follows ``container`` and ``select_plugin_id`` is gone; 26.05 adds
    ``container_type`` after it and the step's job name, cwd and standard streams before
    ``submit_line``.
    """

    array_job_id: int
    array_task_id: int
    step_id: StepId
    user_id: int
    num_cpus: int
    cpu_freq_min: int
    cpu_freq_max: int
    cpu_freq_gov: int
    num_tasks: int
    task_dist: int
    time_limit: int
    state: int
    srun_pid: int
    start_time: int
    run_time: int
    cluster: str | None
    container: str | None
    partition: str | None
    srun_host: str | None
    resv_ports: str | None
    nodes: str | None
    name: str | None
    network: str | None
    node_bitmap: Bitmap | None
    select_plugin_id: int
    tres_alloc_str: str | None
    start_protocol_ver: int
    cpus_per_tres: str | None = None
    mem_per_tres: str | None = None
    submit_line: str | None = None
    tres_bind: str | None = None
    tres_freq: str | None = None
    tres_per_step: str | None = None
    tres_per_node: str | None = None
    tres_per_socket: str | None = None
    tres_per_task: str | None = None
    container_id: str | None = None  # 24.11
    container_type: str | None = None  # 26.05
    job_name: str | None = None  # 26.05
    cwd: str | None = None  # 26.05
    std_err: str | None = None  # 26.05
    std_in: str | None = None  # 26.05
    std_out: str | None = None  # 26.05

    def pack(self, w: Writer, version: int) -> None:
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        in_26_05 = version >= SLURM_26_05_PROTOCOL_VERSION
        w.u32(self.array_job_id)
        w.u32(self.array_task_id)
        self.step_id.pack(w, version)
        for v in (
            self.user_id,
            self.num_cpus,
            self.cpu_freq_min,
            self.cpu_freq_max,
            self.cpu_freq_gov,
            self.num_tasks,
            self.task_dist,
            self.time_limit,
            self.state,
            self.srun_pid,
        ):
            w.u32(v)
        w.time(self.start_time)
        w.time(self.run_time)
        w.string(self.cluster)
        w.string(self.container)
        if newer:
            w.string(self.container_id)
        if in_26_05:
            w.string(self.container_type)
        for s in (
            self.partition,
            self.srun_host,
            self.resv_ports,
            self.nodes,
            self.name,
            self.network,
        ):
            w.string(s)
        w.bitmap(self.node_bitmap)
        if not newer:
            w.raw(SELECT_PLUGIN.pack(self.select_plugin_id))
        w.string(self.tres_alloc_str)
        w.u16(self.start_protocol_ver)
        w.string(self.cpus_per_tres)
        w.string(self.mem_per_tres)
        if in_26_05:
            for s in (self.job_name, self.cwd, self.std_err, self.std_in, self.std_out):
                w.string(s)
        for s in (
            self.submit_line,
            self.tres_bind,
            self.tres_freq,
            self.tres_per_step,
            self.tres_per_node,
            self.tres_per_socket,
            self.tres_per_task,
        ):
            w.string(s)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        newer = version >= SLURM_24_11_PROTOCOL_VERSION
        in_26_05 = version >= SLURM_26_05_PROTOCOL_VERSION
        array_job_id, array_task_id = r.u32(), r.u32()
        step_id = StepId.unpack(r, version)
        user_id, num_cpus, fmin, fmax, fgov, num_tasks, task_dist, time_limit, state, srun_pid = (
            r.u32() for _ in range(10)
        )
        start_time, run_time = r.time(), r.time()
        cluster, container = r.string(), r.string()
        container_id = r.string() if newer else None
        container_type = r.string() if in_26_05 else None
        partition, srun_host, resv_ports, nodes, name, network = (r.string() for _ in range(6))
        node_bitmap = r.bitmap()
        select_plugin_id = SELECT_PLUGIN_CONS_TRES if newer else SELECT_PLUGIN.unpack(r)
        tres_alloc_str = r.string()
        start_protocol_ver = r.u16()
        cpt, mpt = r.string(), r.string()
        job_name = cwd = std_err = std_in = std_out = None
        if in_26_05:
            job_name, cwd, std_err, std_in, std_out = (r.string() for _ in range(5))
        submit_line, bind, freq, per_step, per_node, per_socket, per_task = (r.string() for _ in range(7))
        return cls(
            array_job_id,
            array_task_id,
            step_id,
            user_id,
            num_cpus,
            fmin,
            fmax,
            fgov,
            num_tasks,
            task_dist,
            time_limit,
            state,
            srun_pid,
            start_time,
            run_time,
            cluster,
            container,
            partition,
            srun_host,
            resv_ports,
            nodes,
            name,
            network,
            node_bitmap,
            select_plugin_id,
            tres_alloc_str,
            start_protocol_ver,
            cpt,
            mpt,
            submit_line,
            bind,
            freq,
            per_step,
            per_node,
            per_socket,
            per_task,
            container_id,
            container_type,
            job_name,
            cwd,
            std_err,
            std_in,
            std_out,
        )


@register(MsgType.RESPONSE_JOB_STEP_INFO)
@dataclass(frozen=True, slots=True)
class JobStepInfoResponse(Message):
    """2006: u32 record count, time last_update, then the step records; from 24.11 followed by the
    list of the jobs whose steps a slurmstepd manages (stepmgr_jobs): u32 NO_VAL when there is none,
    as flurm (no stepmgr) always has it. A reply that names such jobs is refused."""

    last_update: int
    steps: tuple[StepInfoRecord, ...] = ()

    NEWER_LAYOUTS = frozenset(NEWER)

    def pack(self, w: Writer, version: int) -> None:
        w.u32(len(self.steps))
        w.time(self.last_update)
        for s in self.steps:
            s.pack(w, version)
        if version >= SLURM_24_11_PROTOCOL_VERSION:
            w.u32(NO_VAL)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        count = r.u32()
        last_update = r.time()
        if count > r.remaining // 64:
            raise DecodeError(f"job step info: {count} records do not fit in {r.remaining} bytes")
        steps = tuple(StepInfoRecord.unpack(r, version) for _ in range(count))
        if version >= SLURM_24_11_PROTOCOL_VERSION:
            stepmgr_jobs = r.u32()
            if stepmgr_jobs not in (0, NO_VAL):
                raise DecodeError(f"job step info: {stepmgr_jobs} stepmgr jobs (not supported)")
        return cls(last_update, steps)


__all__ = [
    "SLURM_DIST_BLOCK",
    "SLURM_DIST_CYCLIC",
    "SLURM_DIST_UNKNOWN",
    "SSF_OVERLAP_FORCE",
    "SSF_WHOLE",
    "HetJobAllocationResponse",
    "JobAllocInfoRequest",
    "JobAllocationInfoResponse",
    "JobStepCreateRequest",
    "JobStepCreateResponse",
    "JobStepInfoRequest",
    "JobStepInfoResponse",
    "SrunJobComplete",
    "SrunNodeFail",
    "SrunPing",
    "SrunStepSignal",
    "SrunTimeout",
    "StepInfoRecord",
    "StepLayout",
    "pack_step_layout",
]
