"""The controller's objects: jobs, nodes, partitions, and the rules of their states.

Plain mutable dataclasses, owned by the event loop thread. Every mutation of a job goes through
:meth:`Job.touch` so that its cached wire record is rebuilt only when the job changed.
Units: times are epoch seconds (0 = unset), time limits are minutes (SLURM's own unit on the wire),
memory is MiB.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from flurm.protocol.constants import (
    INFINITE,
    JOB_STATE_BASE,
    MEM_PER_CPU,
    NICE_OFFSET,
    NO_VAL,
    NO_VAL16,
    NO_VAL64,
    JobState,
    JobStateFlag,
    NodeState,
    NodeStateFlag,
)
from flurm.state.gres import NodeGres, NodeUses, uses_from_json, uses_to_json
from flurm.state.tasks import EMPTY, TaskSet

FINISHED_STATES = frozenset(
    {
        JobState.COMPLETE,
        JobState.CANCELLED,
        JobState.FAILED,
        JobState.TIMEOUT,
        JobState.NODE_FAIL,
        JobState.PREEMPTED,
        JobState.BOOT_FAIL,
        JobState.DEADLINE,
        JobState.OOM,
    }
)

# held reasons a scheduling cycle keeps and never acts on (JobHeldAdmin, JobHeldUser, MaxRequeue)
_SETTLED_HOLD_REASONS = frozenset({8, 16, 71})
_BACKFILL_SCHED = 1 << 32
# WAIT_NO_REASON, WAIT_PRIORITY, WAIT_RESOURCES: the reasons accounting does not record
_REASONS_NOT_FOR_DB = frozenset({0, 1, 3})

# Priority handed out by priority/basic: the first job gets TOP_PRIORITY - 1, each next one less.
TOP_PRIORITY = 0xFFFF0000


# a job whose script was never written to the store (Job._script_saved; a script may be None)
NOT_SAVED: object = object()


@dataclass(slots=True)
class Job:
    """One job record, as slurmctld keeps it (an array task is a job record of its own)."""

    job_id: int
    name: str
    user_id: int
    group_id: int
    # what was asked
    partition: str  # assigned partition (the requested one while pending, possibly a comma list)
    script: str | None = None
    argv: tuple[str, ...] = ()
    environment: tuple[str, ...] = ()
    spank_job_env: tuple[str, ...] = ()
    work_dir: str = "/"
    std_in: str | None = "/dev/null"
    std_out: str | None = None
    std_err: str | None = None
    open_mode: int = 0
    min_nodes: int = 1
    max_nodes: int = 0  # 0 = no maximum
    num_tasks: int = 1
    tasks_set: bool = False  # -n given explicitly
    cpus_per_task: int = 1
    cpus_set: bool = False  # -c given explicitly
    ntasks_per_node: int = 0  # 0 = not set
    min_cpus: int = 1
    pn_min_cpus: int = 1
    pn_min_memory: int = 0  # MiB per node, or MEM_PER_CPU|MiB per CPU; 0 = not asked
    mem_set: bool = False
    tres_req: str | None = None  # requested TRES as slurmctld fixes them at submit ("cpu=2,node=2,...")
    time_limit: int = NO_VAL  # minutes; NO_VAL = partition default, INFINITE = unlimited
    time_min: int = 0
    shared: int = NO_VAL16  # OverSubscribe as packed: 0 exclusive, 1 yes, NO_VAL16 partition default
    contiguous: int = 0
    requeue: int = 1
    features: str | None = None
    req_nodes: str | None = None
    exc_nodes: str | None = None
    account: str | None = None
    qos: str | None = None
    comment: str | None = None
    reservation: str | None = None
    licenses: str | None = None
    mail_type: int = 0
    mail_user: str | None = None
    begin_time: int = 0
    deadline: int = 0
    nice: int = 0  # signed, user-facing
    dependency: str | None = None  # as submitted, e.g. "afterok:12"
    submit_line: str | None = None
    alloc_node: str | None = None
    alloc_sid: int = 0
    bitflags: int = 0
    cpus_per_tres: str | None = None
    mem_per_tres: str | None = None
    tres_per_job: str | None = None
    tres_per_node: str | None = None
    tres_per_socket: str | None = None
    tres_per_task: str | None = None
    tres_bind: str | None = None  # --gpu-bind, as sent (TresBind=)
    tres_freq: str | None = None  # --gpu-freq (TresFreq=)
    # array
    array_job_id: int = 0
    array_task_id: int = NO_VAL
    array_task_pending: TaskSet = EMPTY  # meta record only: task ids still pending in it
    array_max_tasks: int = 0  # the "%N" limit, 0 = none
    array_size_hint: int = 0  # meta record: bits in the task bitmap slurmctld shows (highest task id + 1)
    # where it stands
    state: int = JobState.PENDING  # base state | JobStateFlag bits
    state_reason: int = 0
    state_desc: str | None = None
    priority: int = 0
    # set by an operator (submit --priority, scontrol update priority=, a hold): no plugin recomputes it
    direct_prio: bool = False
    hold_user: bool = False  # held by its user (reason JobHeldUser) vs. an admin
    submit_time: int = 0
    eligible_time: int = 0
    accrue_time: int = 0
    start_time: int = 0
    sched_nodes: str | None = None  # pending: the nodes the backfill scheduler plans it on (SchedNodeList)
    end_time: int = 0
    last_sched_eval: int = 0
    suspend_time: int = 0
    pre_sus_time: int = 0
    exit_code: int = 0  # wait status as slurmstepd reports it
    derived_ec: int = 0
    restart_cnt: int = 0
    sluid: int = 0  # the run's unique id (state/sluid.py); 0 until the cluster gives one
    # allocation (set while the job holds nodes)
    nodes: tuple[str, ...] = ()
    cpus_alloc: tuple[int, ...] = ()  # per node, same order as nodes
    mem_alloc: tuple[int, ...] = ()  # MiB per node
    cores_alloc: tuple[tuple[int, ...], ...] = ()  # per node: core indexes (socket-major)
    gres_alloc: tuple[NodeUses, ...] = ()  # per node: the GRES (and devices) it holds (state/gres.py)
    batch_host: str | None = None
    completing_nodes: tuple[str, ...] = ()  # nodes still running the epilog
    dep_state: str = "none"  # none | waiting | failed (a satisfied dependency is dropped)
    dep_text: str | None = None  # what slurmctld shows, e.g. "afterok:6(unfulfilled)"
    adopted: bool = False  # imported from SLURM and running when flurm took over
    list_seq: int = 0  # position in slurmctld's job list: the order of `scontrol show job`
    # srun steps, the next step id and where srun/salloc listen (controller/steps.py JobSteps; JSON-able)
    steps: dict[str, Any] = field(default_factory=dict)
    # record fields as slurmctld reported them for an imported job (see state/records.py)
    record_overrides: dict[str, Any] = field(default_factory=dict)
    # cache of encoded wire records by show_flags; not persisted
    _cache: dict[int, bytes] = field(default_factory=dict, repr=False, compare=False)
    # the script object last written to the store: a job's script and environment go to a table of
    # their own (Store.put_job_texts) when they change, not with every change of the job
    _script_saved: object = field(default=NOT_SAVED, repr=False, compare=False)
    # the environment was written to the store and left out of memory (``environment`` is then empty;
    # the batch launch reads it back, Store.read_environment)
    _env_stored: bool = field(default=False, repr=False, compare=False)
    # CPUs of the run before a requeue: slurmctld keeps the job's billable TRES of that run
    requeued_cpus: int = 0
    # --signal=[B:][R:]SIG@TIME: the signal, seconds before the end, KillFlags (+ WARN_SENT once sent)
    warn_signal: int = 0
    warn_time: int = 0
    warn_flags: int = 0
    # suspended by an operator: its cores (not its memory) are free for other jobs (select/cons_tres)
    cores_released: bool = False
    # what only `scontrol update job` sets (controller/job_update.py); shown, not scheduled on
    admin_comment: str | None = None
    site_factor: int = NICE_OFFSET  # as packed: NICE_OFFSET + the factor
    wckey: str | None = None
    network: str | None = None
    delay_boot: int = 0  # seconds
    req_switch: int = 0
    wait4switch: int = 0  # seconds
    max_cpus: int = 0  # 0 = no maximum
    # nodes of the run before a requeue: slurmctld shows them (total_nodes) while the job waits again
    requeued_nodes: int = 0
    # -B S:C:T, --sockets-per-node, --cores-per-socket, --threads-per-core, --ntasks-per-core as sent
    # (NO_VAL16: not asked; scheduler/multicore.py)
    sockets_per_node: int = NO_VAL16
    cores_per_socket: int = NO_VAL16
    threads_per_core: int = NO_VAL16
    ntasks_per_core: int = NO_VAL16
    pn_min_tmp_disk: int = 0  # --tmp (MiB): nodes with less TmpDisk are not eligible
    # --no-kill (-k) clears it: a failed node is taken from the running job, which runs on
    kill_on_node_fail: bool = True
    # when the job last lost a node and ran on (shown as ResizeTime)
    resize_time: int = 0
    # batch launches that got no answer, each requeueing the job (slurmctld's batch_flag - 1)
    launch_requeues: int = 0
    # nodes the test of the job's request at submit picked (node_cnt_wag); 0: none
    sched_node_count: int = 0
    # accounting (accounting/records.py): the job's row in slurmdbd (0: not recorded yet; NO_VAL64 while
    # its first start record is on the way), who cancelled it (INFINITE: nobody), the last pending
    # reason worth recording (slurmctld's state_reason_prev_db), the energy its steps reported (J;
    # NO_VAL64: none)
    db_index: int = 0
    requid: int = INFINITE
    state_reason_prev_db: int = 0
    acct_energy: int = NO_VAL64

    # -- state helpers --------------------------------------------------------------------
    @property
    def base_state(self) -> int:
        return self.state & JOB_STATE_BASE

    def is_pending(self) -> bool:
        return self.base_state == JobState.PENDING

    def is_running(self) -> bool:
        return self.base_state == JobState.RUNNING

    def is_finished(self) -> bool:
        return self.base_state in FINISHED_STATES

    def is_completing(self) -> bool:
        return bool(self.state & JobStateFlag.COMPLETING)

    def is_held(self) -> bool:
        return self.is_pending() and self.priority == 0

    def is_settled_hold(self) -> bool:
        """Held, and in the shape a scheduling cycle leaves a held job: no cycle can change it until
        something else does (a release, an update). A big held queue costs the scheduler nothing."""
        return (
            self.priority == 0
            and self.state & JOB_STATE_BASE == JobState.PENDING
            and self.state_reason in _SETTLED_HOLD_REASONS
            and not self.dependency
            and not self.bitflags & _BACKFILL_SCHED
            and (self.accrue_time != 0 or self.eligible_time == 0)
            and self.start_time == 0
            and self.end_time == 0
            and self.sched_nodes is None
        )

    def is_array_meta(self) -> bool:
        """The pending record of an array that still holds more than one task."""
        return self.array_job_id != 0 and self.array_task_id == NO_VAL

    def note_reason_for_db(self) -> None:
        """A pending job's reason other than None, Priority and Resources is what the database keeps as
        its previous reason (slurmctld's build_job_queue sets state_reason_prev_db)."""
        if self.is_pending() and self.state_reason not in _REASONS_NOT_FOR_DB:
            self.state_reason_prev_db = self.state_reason

    @property
    def environment_in_store(self) -> bool:
        """The job's environment is in the store, not in memory (read it with Store.read_environment)."""
        return self._env_stored

    def touch(self) -> None:
        """The job changed: drop its cached wire records."""
        self._cache.clear()

    # -- derived numbers ------------------------------------------------------------------
    def cpus_needed(self) -> int:
        """CPUs the job asks for in all."""
        tasks_cpus = max(1, self.num_tasks) * max(1, self.cpus_per_task)
        return max(self.min_cpus, tasks_cpus)

    def mem_per_node_mib(self, cpus_on_node: int) -> int:
        if self.pn_min_memory in (0, NO_VAL64):
            return 0
        if self.pn_min_memory & MEM_PER_CPU:
            return (self.pn_min_memory & ~MEM_PER_CPU) * cpus_on_node
        return self.pn_min_memory

    def limit_seconds(self, partition_max_min: int | None) -> int | None:
        """The effective limit in seconds, None = unlimited."""
        limit = self.time_limit
        if limit == NO_VAL:
            limit = INFINITE if partition_max_min is None else partition_max_min
        return None if limit == INFINITE else limit * 60

    # -- persistence ----------------------------------------------------------------------
    def to_dict(self, texts: bool = True) -> dict[str, Any]:
        """The job as the store keeps it; without ``texts``, its script and environment left out."""
        out: dict[str, Any] = {}
        for f in _JOB_FIELDS if texts else _JOB_FIELDS_NO_TEXTS:
            v = getattr(self, f)
            if isinstance(v, TaskSet):
                v = v.to_text()
            if f == "gres_alloc":
                out[f] = uses_to_json(v)
                continue
            out[f] = [list(x) for x in v] if f == "cores_alloc" else (list(v) if isinstance(v, tuple) else v)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Job:
        kwargs: dict[str, Any] = {}
        for f in _JOB_FIELDS:
            if f not in d:
                continue
            v = d[f]
            if f == "cores_alloc":
                v = tuple(tuple(x) for x in v)
            elif f == "gres_alloc":
                v = uses_from_json(v)
            elif f == "array_task_pending":
                v = TaskSet.from_text(v) if isinstance(v, str) else TaskSet.of(v)  # a list: older state
            elif isinstance(v, list):
                v = tuple(v)
            kwargs[f] = v
        return cls(**kwargs)


_JOB_FIELDS = tuple(f.name for f in fields(Job) if not f.name.startswith("_"))
JOB_TEXTS = ("script", "environment")
_JOB_FIELDS_NO_TEXTS = tuple(f for f in _JOB_FIELDS if f not in JOB_TEXTS)


@dataclass(slots=True)
class Node:
    """A compute node as the controller sees it: its configuration plus what slurmd told us."""

    name: str
    index: int  # position in the node table (slurm.conf order): bit index in node bitmaps
    addr: str
    hostname: str
    port: int
    cpus: int
    boards: int
    sockets: int  # total sockets
    cores_per_socket: int
    threads_per_core: int
    real_memory: int  # MiB
    tmp_disk: int = 0
    weight: int = 1
    features: tuple[str, ...] = ()
    # Gres= as slurmctld shows it: rebuilt from the inventory (state/gres_node.py gres_text), at start-up
    # from slurm.conf and at each registration from what slurmd reported ("gpu:tesla:2(S:0-1)")
    gres: str | None = None
    gres_conf: str | None = None  # Gres= of slurm.conf as slurmctld keeps it (names GresTypes lists)
    # each GRES name: configured, reported and allocated counts and devices (state/gres.py)
    gres_inv: dict[str, NodeGres] = field(default_factory=dict)
    # run time
    base_state: int = NodeState.UNKNOWN
    flags: int = 0  # NodeStateFlag bits
    config_down: bool = False  # State=DOWN in slurm.conf or set by an admin
    reason: str | None = None
    reason_time: int = 0
    reason_uid: int = NO_VAL
    boot_time: int = 0
    slurmd_start_time: int = 0
    last_response: int = 0
    last_busy: int = 0
    version: str | None = None
    arch: str | None = None
    os: str | None = None
    cpu_load: int = NO_VAL  # load*100 as slurmd reports it; NO_VAL until it does (shown as N/A)
    free_mem: int = NO_VAL64
    registered: bool = False
    # allocation, kept in step with the running jobs
    alloc_cpus: int = 0
    alloc_mem: int = 0
    alloc_cores: set[int] = field(default_factory=set)
    jobs: set[int] = field(default_factory=set)
    record_overrides: dict[str, Any] = field(default_factory=dict)  # as reported by slurmctld (import)
    # scontrol reboot: the state after the reboot (NO_VAL: as before), when the reboot was issued
    next_state: int = NO_VAL
    boot_req_time: int = 0
    # the active reservation that set RESERVED here last (set_node_maint_mode): ReservationName= from 24.11
    resv_name: str | None = None
    # encoded records by (show_flags, version): (node table, what they were built from, bytes); records.py
    _records: dict[tuple[int, int], tuple[object, tuple[object, ...], bytes]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def total_cores(self) -> int:
        return self.sockets * self.cores_per_socket

    @property
    def node_state(self) -> int:
        """The u32 node_state as packed for clients: base state plus flags."""
        return self.base_state | self.flags

    def is_responding(self) -> bool:
        return not self.flags & NodeStateFlag.NO_RESPOND

    def is_usable(self) -> bool:
        """May the scheduler place new work here?"""
        return (
            self.registered
            and self.base_state in (NodeState.IDLE, NodeState.ALLOCATED, NodeState.MIXED)
            and not self.flags & (NodeStateFlag.DRAIN | NodeStateFlag.NO_RESPOND)
        )

    def refresh_base_state(self) -> None:
        """IDLE/ALLOCATED follow the allocation once the node is up."""
        if self.base_state in (NodeState.IDLE, NodeState.ALLOCATED, NodeState.MIXED):
            self.base_state = NodeState.ALLOCATED if self.alloc_cpus else NodeState.IDLE


@dataclass(slots=True)
class Partition:
    name: str
    nodes: tuple[str, ...]
    nodes_expr: str | None
    default: bool = False
    hidden: bool = False
    max_time: int | None = None  # minutes, None = INFINITE
    default_time: int | None = None  # minutes, None = not set
    max_nodes: int | None = None
    min_nodes: int = 0
    max_cpus_per_node: int | None = None
    state_up: int = 3  # PartitionState
    max_share: int = 1
    priority_job_factor: int = 1
    priority_tier: int = 1
    root_only: bool = False
    allow_groups: str | None = None
    allow_accounts: str | None = None
    allow_qos: str | None = None
    deny_accounts: str | None = None  # (slurm.conf ignores these when the Allow list is set)
    deny_qos: str | None = None
    def_mem_per_cpu: int = 0
    max_mem_per_cpu: int = 0
    flags_extra: int = 0
    record_overrides: dict[str, Any] = field(default_factory=dict)  # as reported by slurmctld (import)
