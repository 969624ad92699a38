"""Job step bodies of SLURM 22.05: what srun and salloc exchange with the controller.

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

Field names are SLURM's. Times in seconds, memory in MiB, step ids as SLURM packs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from flurm.protocol.constants import (
    NO_VAL,
    NO_VAL16,
    PROTOCOL_VERSION,
    SELECT_PLUGIN_CONS_TRES,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    SWITCH_PLUGIN_NONE,
    MsgType,
)
from flurm.protocol.messages.base import Message, register
from flurm.protocol.messages.credential import JobCredential, StepId
from flurm.protocol.messages.job_common import SELECT_PLUGIN
from flurm.protocol.messages.job_control import JobStepKill, ResourceAllocationResponse
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


# -- step creation ---------------------------------------------------------------------------------


@register(MsgType.REQUEST_JOB_STEP_CREATE)
@dataclass(frozen=True, slots=True)
class JobStepCreateRequest(Message):
    """5001 (srun, 22.05: the >= 21.08 field list).

    ``step_id.step_id`` is NO_VAL (the controller picks the next id) unless srun asks for one;
    ``cpu_count`` is the CPUs wanted, ``num_tasks`` the tasks; ``flags`` are SSF_* bits
    (SSF_WHOLE unless ``--exact``); ``port`` and ``host`` are where srun listens for the
    controller's messages about this step; ``task_dist`` a task distribution (0x2000 = unknown).
    """

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

    def pack(self, w: Writer, version: int) -> None:
        require_22_05_encode(version, "job step create request")
        self.step_id.pack(w, version)
        w.u32(self.user_id)
        w.u32(self.min_nodes)
        w.u32(self.max_nodes)
        w.string(self.container)
        for v in (self.cpu_count, self.cpu_freq_min, self.cpu_freq_max, self.cpu_freq_gov, self.num_tasks):
            w.u32(v)
        w.u64(self.pn_min_memory)
        w.u32(self.time_limit)
        w.u16(self.threads_per_core)
        w.u16(self.relative)
        w.u32(self.task_dist)
        w.u16(self.plane_size)
        w.u16(self.port)
        w.u16(self.immediate)
        w.u16(self.resv_port_cnt)
        w.u32(self.srun_pid)
        w.u32(self.flags)
        for s in (self.host, self.name, self.network, self.node_list, self.exc_nodes, self.features):
            w.string(s)
        w.u32(self.step_het_comp_cnt)
        w.string(self.step_het_grps)
        w.string(self.cpus_per_tres)
        w.string(self.mem_per_tres)
        w.u16(self.ntasks_per_tres)
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
        require_22_05_decode(version, "job step create request")
        step_id = StepId.unpack(r, version)
        user_id, min_nodes, max_nodes = r.u32(), r.u32(), r.u32()
        container = r.string()
        cpu_count, freq_min, freq_max, freq_gov, num_tasks = (r.u32() for _ in range(5))
        pn_min_memory = r.u64()
        time_limit = r.u32()
        threads_per_core, relative = r.u16(), r.u16()
        task_dist = r.u32()
        plane_size, port, immediate, resv_port_cnt = r.u16(), r.u16(), r.u16(), r.u16()
        srun_pid, flags = r.u32(), r.u32()
        host, name, network, node_list, exc_nodes, features = (r.string() for _ in range(6))
        het_cnt = r.u32()
        het_grps = r.string()
        cpus_per_tres, mem_per_tres = r.string(), r.string()
        ntasks_per_tres = r.u16()
        submit_line, tres_bind, tres_freq, per_step, per_node, per_socket, per_task = (
            r.string() for _ in range(7)
        )
        return cls(
            step_id,
            user_id,
            min_nodes,
            max_nodes,
            container,
            cpu_count,
            freq_min,
            freq_max,
            freq_gov,
            num_tasks,
            pn_min_memory,
            time_limit,
            threads_per_core,
            relative,
            task_dist,
            plane_size,
            port,
            immediate,
            resv_port_cnt,
            srun_pid,
            flags,
            host,
            name,
            network,
            node_list,
            exc_nodes,
            features,
            het_cnt,
            het_grps,
            cpus_per_tres,
            mem_per_tres,
            ntasks_per_tres,
            submit_line,
            tres_bind,
            tres_freq,
            per_step,
            per_node,
            per_socket,
            per_task,
        )


@dataclass(frozen=True, slots=True)
class StepLayout:
    """slurm_step_layout_t as packed by pack_slurm_step_layout: which tasks run on which node.

    ``tids`` holds one tuple of task ids per node of ``node_list``, in node order; the task count
    per node is the length of each tuple.
    """

    node_list: str | None
    node_cnt: int
    task_cnt: int
    task_dist: int
    tids: tuple[tuple[int, ...], ...]
    start_protocol_ver: int = PROTOCOL_VERSION
    front_end: str | None = None

    @property
    def tasks(self) -> tuple[int, ...]:
        return tuple(len(t) for t in self.tids)

    def pack(self, w: Writer, version: int) -> None:
        if len(self.tids) != self.node_cnt:
            raise EncodeError(f"step layout: {len(self.tids)} task lists for {self.node_cnt} nodes")
        w.u16(1)
        w.string(self.front_end)
        w.string(self.node_list)
        w.u32(self.node_cnt)
        w.u16(self.start_protocol_ver)
        w.u32(self.task_cnt)
        w.u32(self.task_dist)
        for t in self.tids:
            w.u32_array(t)

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
        return cls(node_list, node_cnt, task_cnt, task_dist, tids, start_protocol_ver, front_end)


def pack_step_layout(w: Writer, layout: StepLayout | None, version: int) -> None:
    """pack_slurm_step_layout: u16 0 for no layout, else u16 1 and the layout."""
    if layout is None:
        w.u16(0)
    else:
        layout.pack(w, version)


@register(MsgType.RESPONSE_JOB_STEP_CREATE)
@dataclass(frozen=True, slots=True)
class JobStepCreateResponse(Message):
    """5002: u32 def_cpu_bind_type, str resv_ports, u32 job_step_id, the step layout, the step
    credential (signed: slurmd refuses an unsigned one), select jobinfo, switch jobinfo and
    u16 use_protocol_ver."""

    job_step_id: int
    step_layout: StepLayout | None
    credential: JobCredential
    def_cpu_bind_type: int = 0
    resv_ports: str | None = None
    select_plugin_id: int = SELECT_PLUGIN_CONS_TRES
    switch_plugin_id: int = SWITCH_PLUGIN_NONE
    use_protocol_ver: int = PROTOCOL_VERSION

    def pack(self, w: Writer, version: int) -> None:
        require_22_05_encode(version, "job step create response")
        w.u32(self.def_cpu_bind_type)
        w.string(self.resv_ports)
        w.u32(self.job_step_id)
        pack_step_layout(w, self.step_layout, version)
        self.credential.pack(w, version)
        w.raw(SELECT_PLUGIN.pack(self.select_plugin_id))
        _pack_switch(w, self.switch_plugin_id)
        w.u16(self.use_protocol_ver)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        require_22_05_decode(version, "job step create response")
        def_cpu_bind_type = r.u32()
        resv_ports = r.string()
        job_step_id = r.u32()
        layout = StepLayout.unpack_optional(r, version)
        credential = JobCredential.unpack(r, version)
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
        )


# -- allocation lookup -----------------------------------------------------------------------------


@register(MsgType.REQUEST_JOB_ALLOCATION_INFO, MsgType.REQUEST_HET_JOB_ALLOC_INFO)
@dataclass(frozen=True, slots=True)
class JobAllocInfoRequest(Message):
    """job_alloc_info_msg_t: u32 job_id, str req_cluster. 4014 (slurm_allocation_lookup, e.g. srun
    waiting for a pending allocation) and 4027 (slurm_het_job_lookup: srun inside an allocation,
    under sbatch or salloc)."""

    job_id: int
    req_cluster: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.u32(self.job_id)
        w.string(self.req_cluster)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.u32(), r.string())


@register(MsgType.RESPONSE_JOB_ALLOCATION_INFO)
@dataclass(frozen=True, slots=True)
class JobAllocationInfoResponse(ResourceAllocationResponse):
    """4015: the body of RESPONSE_RESOURCE_ALLOCATION 4002, built from a running job."""


@register(MsgType.RESPONSE_HET_JOB_ALLOCATION)
@dataclass(frozen=True, slots=True)
class HetJobAllocationResponse(Message):
    """4026, the reply to 4027: u16 count, then that many 4002 bodies (one per component; a job
    that is not heterogeneous has one)."""

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

    def pack(self, w: Writer, version: int) -> None:
        pass

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls()


@register(MsgType.SRUN_JOB_COMPLETE)
@dataclass(frozen=True, slots=True)
class SrunJobComplete(Message):
    """7004: the step id (step NO_VAL = the whole allocation) that ended, or was cancelled."""

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
