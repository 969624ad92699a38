"""Building a :class:`~flurm.state.model.Job`: one place for the rules that turn a job's description
into flurm's record, whatever said it.

A job reaches flurm three ways: a client submits a JobDesc (controller/submit.py, after its checks),
slurmctld reports a job record over the wire (migration/importer.py: shadow import and mirror), or
slurmctld's saved job_state holds it (migration/saved_state.py: the takeover). Each source fills a
:class:`JobSpec` in SLURM's own encoding (NO_VAL/NO_VAL16 = not given, nice + NICE_OFFSET, the
dependency as given or as scontrol shows it, the job_resources block) and :func:`job_from_spec` applies
the rules once. What the sources know differently (a saved job carries its completing nodes and the
user's original counts; a wire record carries neither) stays in their adapters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flurm.config import hostlists
from flurm.protocol.constants import (
    MEM_PER_CPU,
    NICE_OFFSET,
    NO_VAL,
    NO_VAL16,
    NO_VAL64,
    JobState,
    JobStateReason,
)
from flurm.protocol.messages.job_info import JobResources
from flurm.state.model import Job
from flurm.state.tasks import EMPTY, TaskSet

# the state slurmctld appends to each element of a dependency it shows: "afterok:6(unfulfilled)"
_DEP_STATE = re.compile(r"\((unfulfilled|failed)\)")


def expand_nodes(expr: str | None) -> tuple[str, ...]:
    """A hostlist expression as node names; one that does not parse is kept as a single name."""
    if not expr:
        return ()
    try:
        return tuple(hostlists.expand(expr))
    except hostlists.HostlistError:
        return (expr,)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """A job as a source describes it, in SLURM's encoding; the defaults are SLURM's "not given".

    Fields named as in :class:`Job` mean the same; those in SLURM's encoding say so. ``dependency`` is
    as submitted or as slurmctld shows it (``dependency_shown``: then flurm keeps showing that text).
    ``array_task_pending`` and ``array_size_hint`` count only for an array's meta record. ``nodes``
    are the allocated nodes (expanded) and ``job_resources`` what the job holds on them.
    """

    job_id: int = 0
    name: str | None = None
    user_id: int
    group_id: int
    partition: str
    script: str | None = None
    argv: tuple[str, ...] = ()
    environment: tuple[str, ...] = ()
    spank_job_env: tuple[str, ...] = ()
    work_dir: str | None = None  # None or "": "/"
    std_in: str | None = None
    std_out: str | None = None
    std_err: str | None = None
    open_mode: int = 0
    min_nodes: int = 1
    max_nodes: int = 0
    num_tasks: int = 1
    tasks_set: bool = False
    cpus_per_task: int = NO_VAL16
    cpus_set: bool = False
    ntasks_per_node: int = NO_VAL16
    min_cpus: int = 1
    pn_min_cpus: int = 1
    pn_min_memory: int = 0  # MEM_PER_CPU | MiB per CPU, or MiB per node; NO_VAL64 or per-CPU 0: none
    mem_set: bool = False
    time_limit: int = NO_VAL
    time_min: int = NO_VAL
    shared: int = NO_VAL16
    contiguous: int = NO_VAL16
    requeue: int = NO_VAL16
    features: str | None = None
    req_nodes: str | None = None
    exc_nodes: str | None = None
    account: str | None = None
    qos: str | None = None
    comment: str | None = None
    reservation: str | None = None
    licenses: str | None = None
    mail_type: int = NO_VAL16
    mail_user: str | None = None
    begin_time: int = 0
    deadline: int = 0
    nice: int = NO_VAL  # NICE_OFFSET + the signed nice value
    dependency: str | None = None
    dependency_shown: bool = False
    submit_line: str | None = None
    alloc_node: str | None = None
    alloc_sid: int = NO_VAL
    bitflags: int = 0
    cpus_per_tres: str | None = None
    mem_per_tres: str | None = None
    tres_per_job: str | None = None
    tres_per_node: str | None = None
    tres_per_socket: str | None = None
    tres_per_task: str | None = None
    tres_bind: str | None = None
    tres_freq: str | None = None
    array_job_id: int = 0
    array_task_id: int = NO_VAL
    array_task_pending: TaskSet = EMPTY
    array_max_tasks: int = 0
    array_size_hint: int = 0
    state: int = JobState.PENDING
    state_reason: int = 0
    state_desc: str | None = None
    priority: int = 0
    submit_time: int = 0
    eligible_time: int = 0
    accrue_time: int = 0
    start_time: int = 0
    end_time: int = 0
    last_sched_eval: int = 0
    suspend_time: int = 0
    pre_sus_time: int = 0
    exit_code: int = 0
    derived_ec: int = 0
    restart_cnt: int = 0
    nodes: tuple[str, ...] = ()
    job_resources: JobResources | None = None
    batch_host: str | None = None
    completing_nodes: tuple[str, ...] = ()
    kill_on_node_fail: int = NO_VAL16
    resize_time: int = 0
    batch_flag: int = 0  # 1 + times a batch launch got no answer; 0: not known
    node_cnt_wag: int = 0


def _given(value: int, unset: int, default: int) -> int:
    return default if value == unset else value


def dependency_state(text: str | None) -> tuple[str | None, str]:
    """(the dependency flurm evaluates, its state) from a dependency as given or as slurmctld shows it:
    the "(unfulfilled)"/"(failed)" marks are dropped; one failed element makes the state "failed"."""
    if not text:
        return None, "none"
    return _DEP_STATE.sub("", text), "failed" if "(failed)" in text else "waiting"


def allocation(
    res: JobResources | None, nodes: tuple[str, ...]
) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...], tuple[int, ...]]:
    """Cores, CPUs and MiB of memory per allocated node, from a job_resources block (DecodeError if
    its arrays do not fit together). A block without per-node CPUs or memory counts 0 on each node."""
    if res is None or not nodes:
        return (), (), ()
    zeros = tuple(0 for _ in nodes)
    return res.cores_by_node(), tuple(res.cpus) or zeros, tuple(res.memory_allocated) or zeros


def job_from_spec(spec: JobSpec) -> Job:
    """The job record of a description: every default and derivation of a job's fields, once."""
    dependency, dep_state = dependency_state(spec.dependency)
    cores, cpus, mem = allocation(spec.job_resources, spec.nodes)
    meta = spec.array_task_id == NO_VAL
    memory = spec.pn_min_memory
    if memory in (MEM_PER_CPU, NO_VAL64):  # --mem-per-cpu=0 is --mem=0; NO_VAL64 is none asked
        memory = 0
    return Job(
        job_id=spec.job_id,
        name=spec.name or "",
        user_id=spec.user_id,
        group_id=spec.group_id,
        partition=spec.partition,
        script=spec.script,
        argv=spec.argv,
        environment=spec.environment,
        spank_job_env=spec.spank_job_env,
        work_dir=spec.work_dir or "/",
        std_in=spec.std_in,
        std_out=spec.std_out,
        std_err=spec.std_err,
        open_mode=spec.open_mode,
        min_nodes=spec.min_nodes,
        max_nodes=spec.max_nodes,
        num_tasks=spec.num_tasks,
        tasks_set=spec.tasks_set,
        cpus_per_task=max(1, _given(spec.cpus_per_task, NO_VAL16, 1)),
        cpus_set=spec.cpus_set,
        ntasks_per_node=_given(spec.ntasks_per_node, NO_VAL16, 0),
        min_cpus=spec.min_cpus,
        pn_min_cpus=spec.pn_min_cpus,
        pn_min_memory=memory,
        mem_set=spec.mem_set,
        time_limit=spec.time_limit,
        time_min=_given(spec.time_min, NO_VAL, 0),
        shared=spec.shared,
        contiguous=_given(spec.contiguous, NO_VAL16, 0),
        requeue=_given(spec.requeue, NO_VAL16, 1),
        features=spec.features,
        req_nodes=spec.req_nodes,
        exc_nodes=spec.exc_nodes,
        account=spec.account,
        qos=spec.qos,
        comment=spec.comment,
        reservation=spec.reservation,
        licenses=spec.licenses,
        mail_type=_given(spec.mail_type, NO_VAL16, 0),
        mail_user=spec.mail_user,
        begin_time=spec.begin_time,
        deadline=spec.deadline,
        nice=0 if spec.nice == NO_VAL else spec.nice - NICE_OFFSET,
        dependency=dependency,
        dep_state=dep_state,
        dep_text=spec.dependency if spec.dependency_shown else None,
        submit_line=spec.submit_line,
        alloc_node=spec.alloc_node,
        alloc_sid=_given(spec.alloc_sid, NO_VAL, 0),
        bitflags=spec.bitflags,
        cpus_per_tres=spec.cpus_per_tres,
        mem_per_tres=spec.mem_per_tres,
        tres_per_job=spec.tres_per_job,
        tres_per_node=spec.tres_per_node,
        tres_per_socket=spec.tres_per_socket,
        tres_per_task=spec.tres_per_task,
        tres_bind=spec.tres_bind,
        tres_freq=spec.tres_freq,
        array_job_id=spec.array_job_id,
        array_task_id=spec.array_task_id,
        # pending task ids belong to the meta record; a task split off from it has none
        array_task_pending=spec.array_task_pending if meta else EMPTY,
        array_max_tasks=spec.array_max_tasks,
        array_size_hint=spec.array_size_hint if meta else 0,
        state=spec.state,
        state_reason=spec.state_reason,
        state_desc=spec.state_desc,
        priority=spec.priority,
        # held with reason JobHeldUser: its user may release it (an admin hold has JobHeldAdmin)
        hold_user=spec.priority == 0 and spec.state_reason == JobStateReason.WAIT_HELD_USER,
        submit_time=spec.submit_time,
        eligible_time=spec.eligible_time,
        accrue_time=spec.accrue_time,
        start_time=spec.start_time,
        end_time=spec.end_time,
        last_sched_eval=spec.last_sched_eval,
        suspend_time=spec.suspend_time,
        pre_sus_time=spec.pre_sus_time,
        exit_code=spec.exit_code,
        derived_ec=spec.derived_ec,
        restart_cnt=spec.restart_cnt,
        nodes=spec.nodes,
        cpus_alloc=cpus,
        mem_alloc=mem,
        cores_alloc=cores,
        batch_host=spec.batch_host,
        completing_nodes=spec.completing_nodes,
        kill_on_node_fail=_given(spec.kill_on_node_fail, NO_VAL16, 1) != 0,
        resize_time=spec.resize_time,
        launch_requeues=max(spec.batch_flag - 1, 0),
        sched_node_count=spec.node_cnt_wag,
    )
