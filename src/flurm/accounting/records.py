"""The job and step records flurm sends slurmdbd, built from its Job and Step as slurmctld 22.05 fills
them from its own records (accounting_storage_slurmdbd.c: _setup_job_start_msg, jobacct_storage_p_*).
Pure: every input is an argument, times included.

When slurmctld sends each (its call sites in src/slurmctld and the plugin: what the accounting sink hears):

* **DBD_SEND_MULT_JOB_START** (:func:`job_start` of each job of :func:`jobs_to_record`): the plugin's
  db-index thread, every 5 s, for every job in the job list that has no ``db_index`` yet (0) and was not
  resized, or is flagged JOB_UPDATE_DB: pending ones (eligible or not, held ones too), running and
  finished ones not yet purged, at most 1001 a message. It marks each job ``db_index = NO_VAL64`` before
  sending (:func:`mark_sent`); the answer DBD_GOT_MULT_JOB_START gives each job its ``db_index``
  (:func:`take_db_indexes`; a job whose ``db_index`` was cleared meanwhile keeps 0); a failure puts the
  NO_VAL64 ones back to 0 (:func:`forget_sent`). So a new job reaches slurmdbd within 5 s of its
  submission, PENDING, ``start_time`` 0 and ``eligible_time`` its begin time (0 while held).
* **DBD_JOB_START** alone (:func:`job_start`), only for a job that has a ``db_index`` (nonzero, NO_VAL64
  included: jobacct_storage_job_start_direct), each time the job changes in a way the database keeps:
  it becomes eligible (job_independent gives a job without a begin time one: a release, a satisfied
  dependency), it starts (select_nodes, main scheduler, backfill or at submit), it is held or updated
  (_hold_job_rec, _update_job), requeued (batch_requeue_fini, after its db_index was reset to 0: it
  goes with the next DBD_SEND_MULT_JOB_START as a new row), resized, and at each (re)connection to
  slurmdbd (send_jobs_to_accounting: every pending or running job without a ``db_index``, with a
  DBD_JOB_SUSPEND after it when suspended). With a ``db_index`` it is queued like the others and
  slurmdbd answers DBD_ID_RC; without one (a hold before the db-index thread ran) slurmctld waits
  for the DBD_ID_RC and takes its ``db_index``.
* **DBD_JOB_COMPLETE** (:func:`job_complete`): job_completion_logger, at every end of a job, at once
  (before the epilogs): the batch script's end, scancel of a pending or running job, time limit, node
  failure, preemption, a requeue (``job_state`` JOB_REQUEUE, then the job starts anew with db_index 0).
* **DBD_STEP_START** (:func:`batch_step_start`, :func:`extern_step_start`, :func:`step_start`): the batch
  step when the batch launch is sent (launch_job -> build_batch_step); the extern step when the job
  starts with PrologFlags=contain (the prolog launch -> build_extern_step); an srun step when it is
  created (REQUEST_JOB_STEP_CREATE). Sent with the job's ``db_index`` as it is then (0 before the
  db-index thread ran: slurmdbd finds the job by id and submit time).
* **DBD_STEP_COMPLETE** (:func:`batch_step_complete`, :func:`step_complete`): the batch step when
  REQUEST_COMPLETE_BATCH_SCRIPT arrives (its wait status and the usage slurmstepd gathered; also after
  the job was cancelled); an srun or extern step when its last node's REQUEST_STEP_COMPLETE arrived (the
  usage of every node aggregated, :func:`aggregate_jobacct`), or when the job ends while it runs
  (delete_step_records: what was aggregated so far). ``end_time`` is the moment it is sent.
* **DBD_JOB_SUSPEND** (:func:`job_suspend`): at each suspend and each resume (``suspend_time`` is when),
  and before the DBD_JOB_COMPLETE of a suspended job that is cancelled (its ``end_time`` then is its
  suspend time).

TRES strings are ``id=count`` in the cluster's TRES order (cpu=1, mem=2 (MiB), energy=3, node=4,
billing=5, then the rest of the cluster's list by id: the GRES of AccountingStorageTRES, gres/gpu=1001
...); a job's leaves out zero counts but keeps energy's NO_VAL64 until a step reported energy, a step's
is always ``1=cpus,2=mem,4=nodes``, then the GRES TRES of what it holds (in the order of its GRES).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from flurm.config.hostlists import compress, expand
from flurm.controller.job_update import tres_counts
from flurm.controller.steps import Step
from flurm.protocol.constants import (
    INFINITE,
    INFINITE64,
    NO_VAL,
    NO_VAL64,
    SLURM_BATCH_SCRIPT,
    SLURM_EXTERN_CONT,
    JobFlag,
    JobState,
    JobStateFlag,
    JobStateReason,
)
from flurm.protocol.messages.credential import StepId
from flurm.protocol.messages.dbd_jobs import (
    DB_INDEX_PENDING,
    DbdIdRc,
    DbdJobComplete,
    DbdJobStart,
    DbdJobSuspend,
    DbdStepComplete,
    DbdStepStart,
)
from flurm.protocol.messages.slurmd import (
    DEFAULT_TRES,
    TRES_BILLING,
    TRES_CPU,
    TRES_ENERGY,
    TRES_MEM,
    TRES_NODE,
    JobAcctInfo,
)
from flurm.state import gres_alloc
from flurm.state.cluster import Cluster
from flurm.state.model import Job, Node
from flurm.state.records import job_alloc_records, job_gres_alloc_counts
from flurm.state.tasks import TaskSet

__all__ = [
    "DB_INDEX_PENDING",
    "DEFAULT_TRES_ORDER",
    "AcctCluster",
    "AcctIds",
    "aggregate_jobacct",
    "batch_step_complete",
    "batch_step_start",
    "empty_jobacct",
    "extern_step_start",
    "forget_sent",
    "job_complete",
    "job_energy_after_step",
    "job_start",
    "job_suspend",
    "job_tres_alloc",
    "job_tres_req",
    "jobs_to_record",
    "mark_sent",
    "step_complete",
    "step_start",
    "take_db_indexes",
]

# slurmdb.h SLURMDB_JOB_FLAG_*: which scheduler started the job
DB_FLAG_SUBMIT = 1 << 1
DB_FLAG_SCHED = 1 << 2
DB_FLAG_BACKFILL = 1 << 3

# The TRES every cluster has, (id, name) in slurmctld's order; a cluster's list adds gres/license/... after.
DEFAULT_TRES_ORDER: tuple[tuple[int, str], ...] = tuple(
    (t.id, f"{t.type}/{t.name}" if t.name else str(t.type)) for t in DEFAULT_TRES
)


@dataclass(frozen=True, slots=True)
class AcctCluster:
    """What the records need of the cluster: its TRES as slurmdbd numbers them, in slurmctld's order
    (assoc_mgr's TRES list: by id), the index of each node in slurmdbd's node list of the cluster (the
    sorted hostlist of all nodes: acct_storage_p_node_inx), each partition's MaxTime (minutes, None for
    INFINITE) and the cluster's nodes (the live mapping: their GRES, for what a job holds of them)."""

    tres: tuple[tuple[int, str], ...] = DEFAULT_TRES_ORDER
    node_index: Mapping[str, int] = field(default_factory=dict)
    max_time: Mapping[str, int | None] = field(default_factory=dict)
    nodes: Mapping[str, Node] = field(default_factory=dict, compare=False)

    @classmethod
    def of(
        cls,
        node_names: Iterable[str],
        max_time: Mapping[str, int | None] | None = None,
        tres: tuple[tuple[int, str], ...] = DEFAULT_TRES_ORDER,
        nodes: Mapping[str, Node] | None = None,
    ) -> AcctCluster:
        ordered = expand(compress(node_names) or "")
        tres = tuple(sorted(tres))
        return cls(tres, {name: i for i, name in enumerate(ordered)}, dict(max_time or {}), nodes or {})

    @classmethod
    def from_cluster(
        cls, cluster: Cluster, tres: tuple[tuple[int, str], ...] = DEFAULT_TRES_ORDER
    ) -> AcctCluster:
        """The cluster's nodes and partitions as they are now (rebuild it when the configuration changes)."""
        max_time = {p.name: p.max_time for p in cluster.partitions.values()}
        return cls.of(cluster.nodes, max_time, tres, cluster.nodes)

    @property
    def gres_names(self) -> tuple[str, ...]:
        """The GRES TRES of the list (``gres/gpu``, ``gres/gpu:tesla``)."""
        return tuple(name for _, name in self.tres if name.lower().startswith("gres/"))

    def gres_ids(self, held: Iterable[tuple[str, str | None, int]]) -> dict[int, int]:
        """_gres_2_tres_str_internal: each (name, type, count) a step holds added to ``gres/NAME`` and to
        ``gres/NAME:TYPE`` where the list has them, by TRES id in the order met."""
        ids = {name.lower(): tid for tid, name in self.tres}
        out: dict[int, int] = {}
        for name, gtype, count in held:
            for key in (f"gres/{name}", f"gres/{name}:{gtype}" if gtype else None):
                tid = ids.get(key.lower()) if key else None
                if tid is not None:
                    out[tid] = out.get(tid, 0) + count
        return out

    def tres_string(self, counts: Mapping[int, int]) -> str | None:
        """assoc_mgr_make_tres_str_from_array with TRES_STR_FLAG_SIMPLE: zero counts left out."""
        return ",".join(f"{tid}={counts[tid]}" for tid, _ in self.tres if counts.get(tid)) or None

    def node_inx(self, nodes: Iterable[str]) -> str | None:
        """The nodes' indexes in slurmdbd's node list as ranges ("0-1,4"); None without nodes."""
        names = list(nodes)
        if not names:
            return None
        return TaskSet.of(self.node_index[n] for n in names if n in self.node_index).ranges()


@dataclass(frozen=True, slots=True)
class AcctIds:
    """The ids a job has in slurmdbd's tables: its association, QOS and reservation (0: none)."""

    assoc_id: int = 0
    qos_id: int = 0
    resv_id: int = 0


# -- TRES ----------------------------------------------------------------------------------------


def _started(job: Job) -> bool:
    # job_set_alloc_tres: a pending job has no allocated TRES, unless requeued and still completing
    return bool(job.nodes) and (not job.is_pending() or job.is_completing())


def job_tres_alloc(job: Job, acct: AcctCluster) -> str | None:
    """job_set_alloc_tres: CPUs, memory and nodes of the allocation, energy (NO_VAL64 until a step
    reported some), billing (the CPUs: no TRESBillingWeights), the GRES TRES of what it holds
    (gres_ctld_set_job_tres_cnt)."""
    if not _started(job):
        return None
    cpus = sum(job.cpus_alloc)
    counts = {
        TRES_CPU: cpus,
        TRES_MEM: sum(job.mem_alloc),
        TRES_ENERGY: job.acct_energy,
        TRES_NODE: len(job.nodes),
        TRES_BILLING: cpus,
    }
    held = job_gres_alloc_counts(job, acct.nodes, acct.gres_names)
    by_name = {name.lower(): tid for tid, name in acct.tres}
    counts.update({by_name[name.lower()]: count for name, count in held.items()})
    return acct.tres_string(counts)


def job_tres_req(job: Job, acct: AcctCluster) -> str | None:
    """The job's tres_req_str: what it asked for (``Job.tres_req``, fixed at submit) by TRES id."""
    named = {k.lower(): v for k, v in tres_counts(job.tres_req).items()}
    if not named:
        named = {"cpu": job.min_cpus, "node": job.min_nodes, "billing": job.min_cpus}
    return acct.tres_string({tid: named.get(name.lower(), 0) for tid, name in acct.tres})


def _step_tres(cpus: int, mem: int, nodes: int, gres: Mapping[int, int] | None = None) -> str:
    # step_set_alloc_tres writes these three whatever their value, then the GRES it holds
    text = f"{TRES_CPU}={cpus},{TRES_MEM}={mem},{TRES_NODE}={nodes}"
    return "".join([text, *(f",{tid}={count}" for tid, count in (gres or {}).items())])


def _batch_gres(job: Job, acct: AcctCluster) -> dict[int, int]:
    """gres_ctld_gres_on_node_as_tres of the job's first node (slurmctld's index 0, whichever the batch
    host): the GRES with devices the job holds there."""
    if not acct.gres_names or not job.gres_alloc or not job.nodes:
        return {}
    records = job_alloc_records(job, acct.nodes)
    return acct.gres_ids((r.name, r.type, r.count_on(0)) for r in records if r.has_bits and r.count_on(0))


def _step_gres(step: Step, acct: AcctCluster) -> dict[int, int]:
    """gres_ctld_gres_2_tres_str of what the step holds (its gres_list_alloc)."""
    if not acct.gres_names or not step.gres_alloc:
        return {}
    records = gres_alloc.alloc_records(
        step.nodes, step.gres_alloc, gres_alloc.inventories(acct.nodes, step.nodes)
    )
    return acct.gres_ids((r.name, r.type, r.shown_total) for r in records if r.shown_total)


# -- jobs ----------------------------------------------------------------------------------------


def _db_flags(job: Job) -> int:
    """Which scheduler started the job (select_nodes' scheduler_type); 0 while it waits (or never ran)."""
    if not _started(job):
        return 0
    if job.bitflags & JobFlag.BACKFILL_SCHED:
        return DB_FLAG_BACKFILL
    if job.script is None and job.start_time == job.submit_time:
        return DB_FLAG_SUBMIT  # an allocation for srun/salloc granted in its submission's pass
    return DB_FLAG_SCHED


def _time_limit(job: Job, acct: AcctCluster) -> int:
    # a job's NO_VAL limit becomes its partition's MaxTime when it starts (select_nodes)
    if job.time_limit != NO_VAL or job.is_pending():
        return job.time_limit
    limit = acct.max_time.get(job.partition)
    return INFINITE if limit is None else limit


def _array_fields(job: Job) -> tuple[str | None, int, int]:
    """(array_task_str, array_max_tasks, array_task_pending): the meta record's pending tasks
    (build_array_str: the hex mask), its %N limit and how many; nothing for other jobs."""
    if not job.is_array_meta() or not job.array_task_pending:
        return None, 0, 0
    pending = job.array_task_pending
    return pending.hex(job.array_size_hint), job.array_max_tasks, len(list(pending))


def _eligible_time(job: Job) -> int:
    # tasks held back by the array's %N limit get no eligible time: it would count as waiting
    if job.state_reason == JobStateReason.WAIT_ARRAY_TASK_LIMIT:
        return INFINITE
    if job.resize_time:
        return job.resize_time
    return job.eligible_time


def job_start(job: Job, acct: AcctCluster, ids: AcctIds) -> DbdJobStart:
    """DBD_JOB_START of the job as it stands (_setup_job_start_msg), alone or in a batch (after
    :func:`mark_sent`)."""
    task_str, max_tasks, task_pending = _array_fields(job)
    return DbdJobStart(
        job_id=job.job_id,
        submit_time=job.submit_time,
        account=job.account,
        alloc_nodes=len(job.nodes) if _started(job) else 0,
        array_job_id=job.array_job_id,
        array_max_tasks=max_tasks,
        array_task_id=job.array_task_id,
        array_task_str=task_str,
        array_task_pending=task_pending,
        assoc_id=ids.assoc_id,
        constraints=job.features,
        db_flags=_db_flags(job),
        db_index=job.db_index,
        eligible_time=_eligible_time(job),
        gid=job.group_id,
        job_state=job.state,
        state_reason_prev=job.state_reason_prev_db,
        name=job.name,
        nodes=compress(job.nodes) if _started(job) else None,
        node_inx=acct.node_inx(job.nodes) if _started(job) else None,
        het_job_offset=NO_VAL,
        partition=job.partition,
        priority=job.priority,
        qos_id=ids.qos_id,
        req_cpus=job.min_cpus,
        req_mem=job.pn_min_memory,
        resv_id=ids.resv_id,
        start_time=job.start_time,
        submit_line=job.submit_line,
        timelimit=_time_limit(job, acct),
        tres_alloc_str=job_tres_alloc(job, acct),
        tres_req_str=job_tres_req(job, acct),
        uid=job.user_id,
        wckey=job.wckey,
        work_dir=job.work_dir,
    )


def job_complete(
    job: Job, acct: AcctCluster, ids: AcctIds, *, requeue: bool = False, store_comment: bool = False
) -> DbdJobComplete:
    """DBD_JOB_COMPLETE at the job's end (job_completion_logger). ``requeue``: the job ends to run
    again (JOB_REQUEUE); ``store_comment``: AccountingStoreFlags=job_comment."""
    if requeue or job.state & JobStateFlag.REQUEUE:
        state = JobStateFlag.REQUEUE
    elif job.state & JobStateFlag.REVOKED:
        state = JobStateFlag.REVOKED
    else:
        state = job.base_state
    return DbdJobComplete(
        job_id=job.job_id,
        db_index=job.db_index,
        submit_time=job.resize_time or job.submit_time,
        start_time=job.resize_time or job.start_time,
        end_time=job.end_time,
        job_state=state,
        exit_code=job.exit_code,
        derived_ec=job.derived_ec,
        assoc_id=ids.assoc_id,
        req_uid=job.requid,
        nodes=compress(job.nodes),
        tres_alloc_str=job_tres_alloc(job, acct),
        admin_comment=job.admin_comment,
        comment=job.comment if store_comment else None,
    )


def job_suspend(job: Job, ids: AcctIds) -> DbdJobSuspend:
    """DBD_JOB_SUSPEND after a suspend or a resume: the state it is in now and since when."""
    return DbdJobSuspend(
        job_id=job.job_id,
        db_index=job.db_index,
        job_state=job.base_state,
        submit_time=job.resize_time or job.submit_time,
        suspend_time=job.suspend_time,
        assoc_id=ids.assoc_id,
    )


# -- db_index: what the database knows each job by ------------------------------------------------

# the db-index thread stops adding jobs to its list once it holds more than this many
MAX_STARTS_PER_MESSAGE = 1000


def jobs_to_record(jobs: Iterable[Job]) -> list[Job]:
    """The jobs the db-index thread puts in its next DBD_SEND_MULT_JOB_START, in job list order: those
    without a db_index (not resized) and those flagged JOB_UPDATE_DB, up to 1001 (MAX_STARTS_PER_MESSAGE
    + 1, as the thread checks after adding). A job without a submit time is never sent."""
    out: list[Job] = []
    for job in jobs:
        if not job.state & JobStateFlag.UPDATE_DB and (job.db_index or job.resize_time):
            continue
        if not job.submit_time:
            continue
        out.append(job)
        if len(out) > MAX_STARTS_PER_MESSAGE:
            break
    return out


def mark_sent(jobs: Iterable[Job]) -> None:
    """Before the batch goes: a job without a db_index gets DB_INDEX_PENDING, so that its own start
    record, should it start meanwhile, goes out too (slurmdbd matches the two)."""
    for job in jobs:
        if not job.state & JobStateFlag.UPDATE_DB:
            job.db_index = DB_INDEX_PENDING


def take_db_indexes(jobs: Mapping[int, Job], answers: Iterable[DbdIdRc]) -> list[Job]:
    """DBD_GOT_MULT_JOB_START's (or a DBD_ID_RC's) db_index into each job that still wants one (a job
    whose db_index was cleared meanwhile, by a requeue, keeps 0 and is sent again); returns the jobs
    changed (to be saved)."""
    changed = []
    for answer in answers:
        job = jobs.get(answer.job_id)
        if job is None or not job.db_index:
            continue
        job.db_index = answer.db_index
        job.state &= ~JobStateFlag.UPDATE_DB
        changed.append(job)
    return changed


def forget_sent(jobs: Iterable[Job]) -> None:
    """The batch failed (no answer, or a PERSIST_RC instead): every DB_INDEX_PENDING goes back to 0, to be
    sent again."""
    for job in jobs:
        if job.db_index == DB_INDEX_PENDING:
            job.db_index = 0


# -- steps ---------------------------------------------------------------------------------------


def _step_times(job: Job, step_start_time: int) -> tuple[int, int]:
    """(job_submit_time, start_time) of a step record: a resized job counts from its resize."""
    return job.resize_time or job.submit_time, max(step_start_time, job.resize_time)


def batch_step_start(job: Job, acct: AcctCluster, ids: AcctIds) -> DbdStepStart:
    """The batch step, on the batch host: one task, that host's CPUs and memory (build_batch_step)."""
    host = job.batch_host or (job.nodes[0] if job.nodes else None)
    rank = job.nodes.index(host) if host in job.nodes else 0
    cpus = job.cpus_alloc[rank] if rank < len(job.cpus_alloc) else 1
    mem = job.mem_alloc[rank] if rank < len(job.mem_alloc) else 0
    submit, start = _step_times(job, job.start_time)
    return DbdStepStart(
        step_id=StepId(job.job_id, SLURM_BATCH_SCRIPT),
        db_index=job.db_index,
        job_submit_time=submit,
        start_time=start,
        assoc_id=ids.assoc_id,
        name="batch",
        nodes=host,
        node_inx=acct.node_inx([host] if host else []),
        node_cnt=1,
        req_cpufreq_min=0,
        req_cpufreq_max=0,
        req_cpufreq_gov=0,
        total_tasks=1,
        tres_alloc_str=_step_tres(cpus, mem, 1, _batch_gres(job, acct)),
    )


def extern_step_start(job: Job, acct: AcctCluster, ids: AcctIds) -> DbdStepStart:
    """The extern step (PrologFlags=contain): every node of the job, a task on each, the job's TRES."""
    submit, start = _step_times(job, job.start_time)
    return DbdStepStart(
        step_id=StepId(job.job_id, SLURM_EXTERN_CONT),
        db_index=job.db_index,
        job_submit_time=submit,
        start_time=start,
        assoc_id=ids.assoc_id,
        name="extern",
        nodes=compress(job.nodes),
        node_inx=acct.node_inx(job.nodes),
        node_cnt=len(job.nodes),
        req_cpufreq_min=0,
        req_cpufreq_max=0,
        req_cpufreq_gov=0,
        total_tasks=len(job.nodes),
        tres_alloc_str=job_tres_alloc(job, acct),
    )


def _total_tasks(step: Step) -> int:
    return sum(len(t) for t in step.tids)


def step_start(job: Job, step: Step, acct: AcctCluster, ids: AcctIds) -> DbdStepStart:
    """An srun step as created: its nodes, tasks, layout and the CPUs and memory it holds."""
    submit, start = _step_times(job, step.start_time)
    return DbdStepStart(
        step_id=StepId(job.job_id, step.step_id),
        db_index=job.db_index,
        job_submit_time=submit,
        start_time=start,
        assoc_id=ids.assoc_id,
        name=step.name,
        nodes=compress(step.nodes),
        node_inx=acct.node_inx(step.nodes),
        node_cnt=len(step.nodes),
        submit_line=step.submit_line,
        task_dist=step.task_dist,
        total_tasks=_total_tasks(step),
        tres_alloc_str=_step_tres(step.cpu_count, sum(step.mem), len(step.nodes), _step_gres(step, acct)),
    )


def _job_tres_if_final(job: Job, acct: AcctCluster, last_step: bool) -> str | None:
    # the last step of a finished job that reported energy makes the job's TRES final and carries
    # them (TRES_STR_CALC): the job's own record went before with the energy still unknown
    if last_step and job.is_finished() and job.acct_energy != NO_VAL64:
        return job_tres_alloc(job, acct)
    return None


def batch_step_complete(
    job: Job, acct: AcctCluster, ids: AcctIds, *, exit_code: int, jobacct: JobAcctInfo | None, now: int
) -> DbdStepComplete:
    """The batch step's end: the script's wait status and usage (REQUEST_COMPLETE_BATCH_SCRIPT); it is
    marked COMPLETING before it is sent, unlike the other steps."""
    submit, start = _step_times(job, job.start_time)
    return DbdStepComplete(
        step_id=StepId(job.job_id, SLURM_BATCH_SCRIPT),
        db_index=job.db_index,
        job_submit_time=submit,
        start_time=start,
        end_time=now,
        state=JobState.RUNNING | JobStateFlag.COMPLETING,
        exit_code=exit_code,
        total_tasks=1,
        assoc_id=ids.assoc_id,
        req_uid=INFINITE,
        jobacct=jobacct,
    )


def step_complete(
    job: Job,
    step: Step | None,
    acct: AcctCluster,
    ids: AcctIds,
    *,
    jobacct: JobAcctInfo | None,
    now: int,
    last_step: bool = False,
    req_uid: int = INFINITE,
) -> DbdStepComplete:
    """An srun step's end (``step``), or the extern step's (``step`` None): its highest wait status,
    JOB_TIMEOUT if it ran past its limit, else still JOB_RUNNING (slurmdbd derives the rest from the exit
    code). ``jobacct``: the usage of its nodes aggregated; ``last_step``: no other step of the job is left;
    ``req_uid``: who cancelled the step (scancel of the step), INFINITE if nobody."""
    submit, start = _step_times(job, step.start_time if step is not None else job.start_time)
    if step is None:
        step_id, tasks, state, exit_code = SLURM_EXTERN_CONT, len(job.nodes), JobState.RUNNING, 0
    else:
        step_id, tasks = step.step_id, _total_tasks(step)
        state = JobState.TIMEOUT if step.timed_out else JobState.RUNNING
        exit_code = step.exit_code
    return DbdStepComplete(
        step_id=StepId(job.job_id, step_id),
        db_index=job.db_index,
        job_submit_time=submit,
        start_time=start,
        end_time=now,
        state=state,
        exit_code=exit_code,
        total_tasks=tasks,
        assoc_id=ids.assoc_id,
        req_uid=req_uid,
        jobacct=jobacct,
        job_tres_alloc_str=_job_tres_if_final(job, acct, last_step),
    )


# -- usage ---------------------------------------------------------------------------------------

# jobacctinfo's per-TRES arrays: the max and min ones with the node and task that reached them, the totals
_EXTREMES = ("tres_usage_in_max", "tres_usage_in_min", "tres_usage_out_max", "tres_usage_out_min")
_USAGE = (
    *_EXTREMES,
    *(f"{n}_{w}" for n in _EXTREMES for w in ("nodeid", "taskid")),
    "tres_usage_in_tot",
    "tres_usage_out_tot",
)


def empty_jobacct(tres_ids: Iterable[int]) -> JobAcctInfo:
    """What slurmctld holds for a step before any node reported (jobacctinfo_create): no CPU time,
    every usage and its node and task unknown (INFINITE64)."""
    ids = tuple(tres_ids)
    u = (INFINITE64,) * len(ids)
    return JobAcctInfo(
        tres_ids=ids,
        tres_usage_in_max=u,
        tres_usage_in_max_nodeid=u,
        tres_usage_in_max_taskid=u,
        tres_usage_in_min=u,
        tres_usage_in_min_nodeid=u,
        tres_usage_in_min_taskid=u,
        tres_usage_in_tot=u,
        tres_usage_out_max=u,
        tres_usage_out_max_nodeid=u,
        tres_usage_out_max_taskid=u,
        tres_usage_out_min=u,
        tres_usage_out_min_nodeid=u,
        tres_usage_out_min_taskid=u,
        tres_usage_out_tot=u,
    )


Usage = tuple[int, ...]


def _extreme(dest: JobAcctInfo, src: JobAcctInfo, name: str, energy: int) -> tuple[Usage, Usage, Usage]:
    """The max (or min) of each TRES and the node and task that reached it. Energy is measured per node:
    its task stays."""
    values, nodes, tasks = (list(getattr(dest, n)) for n in (name, f"{name}_nodeid", f"{name}_taskid"))
    new_values, new_nodes, new_tasks = (getattr(src, n) for n in (name, f"{name}_nodeid", f"{name}_taskid"))
    wants_max = name.endswith("_max")
    for i, value in enumerate(new_values):
        if value == INFINITE64:
            continue
        if values[i] == INFINITE64 or (value > values[i] if wants_max else value < values[i]):
            values[i], nodes[i] = value, new_nodes[i]
            if i != energy:
                tasks[i] = new_tasks[i]
    return tuple(values), tuple(nodes), tuple(tasks)


def _total(dest: JobAcctInfo, src: JobAcctInfo, name: str) -> Usage:
    return tuple(
        d if s == INFINITE64 else (s if d == INFINITE64 else d + s)
        for d, s in zip(getattr(dest, name), getattr(src, name), strict=True)
    )


def aggregate_jobacct(dest: JobAcctInfo, src: JobAcctInfo | None) -> JobAcctInfo:
    """jobacctinfo_aggregate: a node's REQUEST_STEP_COMPLETE usage added to the step's so far. Both
    must count the cluster's TRES in the same order; a report that does not is left out."""
    if src is None or src.tres_ids != dest.tres_ids:
        return dest
    n = len(dest.tres_ids)
    if any(len(getattr(a, name)) != n for a in (dest, src) for name in _USAGE):
        return dest
    user_usec = dest.user_cpu_usec + src.user_cpu_usec
    sys_usec = dest.sys_cpu_usec + src.sys_cpu_usec
    if NO_VAL64 in (dest.consumed_energy, src.consumed_energy):
        energy = NO_VAL64
    else:
        energy = dest.consumed_energy + src.consumed_energy
    energy_index = dest.tres_ids.index(TRES_ENERGY) if TRES_ENERGY in dest.tres_ids else -1
    in_max, in_min, out_max, out_min = (_extreme(dest, src, name, energy_index) for name in _EXTREMES)
    return replace(
        dest,
        user_cpu_sec=dest.user_cpu_sec + src.user_cpu_sec + user_usec // 1_000_000,
        user_cpu_usec=user_usec % 1_000_000,
        sys_cpu_sec=dest.sys_cpu_sec + src.sys_cpu_sec + sys_usec // 1_000_000,
        sys_cpu_usec=sys_usec % 1_000_000,
        act_cpufreq=dest.act_cpufreq + src.act_cpufreq,
        consumed_energy=energy,
        tres_usage_in_max=in_max[0],
        tres_usage_in_max_nodeid=in_max[1],
        tres_usage_in_max_taskid=in_max[2],
        tres_usage_in_min=in_min[0],
        tres_usage_in_min_nodeid=in_min[1],
        tres_usage_in_min_taskid=in_min[2],
        tres_usage_in_tot=_total(dest, src, "tres_usage_in_tot"),
        tres_usage_out_max=out_max[0],
        tres_usage_out_max_nodeid=out_max[1],
        tres_usage_out_max_taskid=out_max[2],
        tres_usage_out_min=out_min[0],
        tres_usage_out_min_nodeid=out_min[1],
        tres_usage_out_min_taskid=out_min[2],
        tres_usage_out_tot=_total(dest, src, "tres_usage_out_tot"),
    )


def job_energy_after_step(
    job_energy: int, step_id: int, jobacct: JobAcctInfo | None, *, prolog_contain: bool
) -> int:
    """The job's energy TRES once an srun or extern step ended (_internal_step_complete): the step's
    consumed energy added (NO_VAL64 counts as 0 once one is known). With PrologFlags=contain only the
    extern step counts (it measured the whole job); the batch step never does."""
    if step_id == SLURM_BATCH_SCRIPT or (prolog_contain and step_id != SLURM_EXTERN_CONT):
        return job_energy
    if jobacct is None or jobacct.consumed_energy == NO_VAL64:
        return job_energy
    return (0 if job_energy == NO_VAL64 else job_energy) + jobacct.consumed_energy
