"""From a submitted job description to a job record: every check slurmctld makes at submit time.

A refusal raises :class:`SlurmError` with SLURM's return code (and the extra line slurmctld sends
with it, e.g. "invalid partition specified: nosuch"). A job that only its partition's limits keep
out is accepted and left pending with a reason (PartitionConfig, ...), like slurmctld does without
EnforcePartLimits; whether slurmctld still tests such a job against the nodes (and refuses what no
node could hold) depends on the client's release (_tests_nodes).
"""

from __future__ import annotations

from dataclasses import dataclass

from flurm.controller.requeue import default_requeue
from flurm.controller.rights import Caller, check_groups, check_partitions, submission_as_caller
from flurm.errors import SlurmError
from flurm.protocol.constants import (
    INFINITE,
    MEM_PER_CPU,
    NO_VAL,
    NO_VAL8,
    NO_VAL16,
    NO_VAL64,
    PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    JobFlag,
    JobState,
    JobStateReason,
    SlurmRC,
)
from flurm.protocol.messages.job_desc import JobDesc
from flurm.scheduler import constraints, dependencies, gres_fit
from flurm.scheduler.scheduler import job_partitions, limits_reason, node_config_error
from flurm.state import gres, licenses
from flurm.state.cluster import Cluster
from flurm.state.job_builder import JobSpec, expand_nodes, job_from_spec
from flurm.state.model import Job
from flurm.state.records import format_mem, job_gres_mem, job_gres_req_tres
from flurm.state.tasks import EMPTY, TaskSet, TaskSetError

DEFAULT_MAX_ARRAY_SIZE = 1001
PARTITION_SUBMIT = 0x1  # a partition state that accepts jobs (UP and DOWN have it, DRAIN and INACTIVE not)
ALLOC_SID_USER_HOLD = 2


@dataclass(frozen=True, slots=True)
class ArraySpec:
    task_ids: TaskSet
    max_running: int  # 0 = no "%N" limit
    size: int  # bitmap size slurmctld uses for the array: highest task id + 1


def parse_array(text: str, max_array_size: int = DEFAULT_MAX_ARRAY_SIZE) -> ArraySpec:
    """``--array`` text: "1-5", "1,3,7", "0-15:4", "1-100%10", with optional brackets."""
    body, _, limit = text.partition("%")
    try:
        tasks = TaskSet.parse(body, max_array_size)
    except TaskSetError:
        raise SlurmError(SlurmRC.ESLURM_INVALID_ARRAY) from None
    max_running = 0
    if limit:
        if not limit.isdigit():
            raise SlurmError(SlurmRC.ESLURM_INVALID_ARRAY)
        max_running = int(limit)
    return ArraySpec(tasks, max_running, tasks.last() + 1)


def _set(v: int, unset: int) -> bool:
    return v != unset


def build_job(
    desc: JobDesc,
    uid: int,
    gid: int,
    is_admin: bool,
    cluster: Cluster,
    alloc_host: str,
    now: int,
    *,
    interactive: bool = False,
) -> tuple[Job, ArraySpec | None, int]:
    """Validate a submission and build its (not yet numbered) job. Returns (job, array, error_code).

    The job's numbers are slurmctld's job details after _validate_job_desc and
    _copy_job_desc_to_job_record: min_nodes defaults to 1, min_cpus to min_nodes, pn_min_cpus to 1
    and then at least cpus_per_task (or cpus_per_task x ntasks_per_node when several tasks are
    asked for); num_tasks stays what sbatch sent (0 = not given).

    error_code is what RESPONSE_SUBMIT_BATCH_JOB carries for an accepted job (2042 held, 0 otherwise).
    ``interactive``: an allocation for srun/salloc (REQUEST_RESOURCE_ALLOCATION), which has no script.
    """
    # who may ask for what: the job runs as the credential's uid and gid unless root or SlurmUser
    # submit on someone's behalf
    caller = Caller(uid, gid, is_admin)
    desc = submission_as_caller(desc, caller, cluster.config.max_script_size)
    uid, gid = desc.user_id, desc.group_id

    if not desc.script and not interactive:
        raise SlurmError(SlurmRC.ESLURM_JOB_SCRIPT_MISSING)
    refuse_unhonoured(desc)

    # partition
    if desc.partition:
        names = [p for p in desc.partition.split(",") if p]
        for name in names:
            if name not in cluster.partitions:
                raise SlurmError(
                    SlurmRC.ESLURM_INVALID_PARTITION_NAME, f"invalid partition specified: {name}"
                )
        partition = ",".join(names)
    elif desc.reservation and _resv_partition(cluster, desc.reservation):
        partition = _resv_partition(cluster, desc.reservation) or ""
    elif cluster.default_partition is not None:
        partition = cluster.default_partition
    else:
        raise SlurmError(SlurmRC.ESLURM_DEFAULT_PARTITION_NOT_SET)
    part = cluster.partitions[partition.split(",")[0]]
    check_partitions([part.name], cluster.partitions, caller)
    check_groups(part, uid, cluster.config.slurm_user_uid)
    if not any(cluster.partitions[p].state_up & PARTITION_SUBMIT for p in partition.split(",")):
        raise SlurmError(SlurmRC.ESLURM_PARTITION_NOT_AVAIL)  # DRAIN or INACTIVE: no new jobs

    try:
        licenses.validate(desc.licenses, licenses.configured(cluster.config.licenses))
    except licenses.LicenseError:
        raise SlurmError(SlurmRC.ESLURM_INVALID_LICENSES) from None
    array = parse_array(desc.array_inx, cluster.config.max_array_size) if desc.array_inx else None
    if desc.dependency:
        try:
            dependencies.parse(desc.dependency)
        except dependencies.DependencyError:
            raise SlurmError(SlurmRC.ESLURM_DEPENDENCY) from None
    for nodes in (desc.req_nodes, desc.exc_nodes):
        if nodes and any(n not in cluster.nodes for n in expand_nodes(nodes)):
            raise SlurmError(SlurmRC.ESLURM_INVALID_NODE_NAME)
    if (
        desc.req_nodes
        and desc.exc_nodes
        and set(expand_nodes(desc.req_nodes)) & set(expand_nodes(desc.exc_nodes))
    ):
        raise SlurmError(SlurmRC.ESLURM_INVALID_NODE_NAME)  # "required and excluded node lists overlap"
    features = constraints.normalized(desc.features) if desc.features else None
    check_gres(desc, cluster)

    # sizes, as slurmctld fills in a job's details
    min_nodes = desc.min_nodes if _set(desc.min_nodes, NO_VAL) else 1
    max_nodes = desc.max_nodes if _set(desc.max_nodes, NO_VAL) else 0
    if max_nodes and max_nodes < min_nodes:
        raise SlurmError(SlurmRC.ESLURM_INVALID_NODE_COUNT)
    min_cpus = desc.min_cpus if _set(desc.min_cpus, NO_VAL) else min_nodes
    if desc.req_nodes:
        # every required node counts: at least that many nodes and CPUs
        required = len(set(expand_nodes(desc.req_nodes)))
        min_nodes = max(min_nodes, required)
        min_cpus = max(min_cpus, required)
        if max_nodes and min_nodes > max_nodes:
            raise SlurmError(SlurmRC.ESLURM_INVALID_NODE_COUNT)
    cpus_set = _set(desc.cpus_per_task, NO_VAL16)
    cpus_per_task = max(desc.cpus_per_task, 1) if cpus_set else 1
    tasks_set = _set(desc.num_tasks, NO_VAL) and desc.num_tasks > 0
    ntasks_per_node = desc.ntasks_per_node if _set(desc.ntasks_per_node, NO_VAL16) else 0
    overcommit = desc.overcommit not in (NO_VAL8, 0)
    pn_min_cpus = desc.pn_min_cpus if _set(desc.pn_min_cpus, NO_VAL16) and desc.pn_min_cpus else 1
    mem_set = _set(desc.pn_min_memory, NO_VAL64)
    memory = desc.pn_min_memory if mem_set else (part.def_mem_per_cpu or cluster.config.def_mem_per_cpu)
    first = cluster.partition_nodes(part)[:1]
    fitted = fit_memory_limit(
        memory,
        part.max_mem_per_cpu or cluster.config.max_mem_per_cpu,
        cpus_per_task,
        pn_min_cpus,
        ntasks_per_node,
        first[0].real_memory if first else 0,
    )
    memory, pn_min_cpus = fitted.memory, fitted.pn_min_cpus
    if fitted.cpus_per_task != cpus_per_task:
        cpus_per_task, cpus_set = fitted.cpus_per_task, True
    if ntasks_per_node and not overcommit and tasks_set and desc.num_tasks > 1:
        pn_min_cpus = max(pn_min_cpus, cpus_per_task * ntasks_per_node)
    pn_min_cpus = max(pn_min_cpus, cpus_per_task)
    if tasks_set:
        num_tasks = desc.num_tasks
    elif ntasks_per_node:
        num_tasks = min_nodes * ntasks_per_node
    else:
        num_tasks = min_nodes
    if fitted.per_cpu_ratio > 1:
        min_cpus = max(min_cpus, num_tasks * cpus_per_task)

    bitflags = desc.bitflags & ~(JobFlag.USE_DEFAULT_PART if desc.partition else 0)
    bitflags &= ~_CLIENT_CLEARED
    if tasks_set:
        bitflags |= JobFlag.JOB_NTASKS_SET
    if mem_set:
        bitflags |= JobFlag.JOB_MEM_SET
    if not desc.partition:
        bitflags |= JobFlag.JOB_PART_ASSIGNED
    bitflags |= JobFlag.JOB_DEPENDENT  # until the first dependency test finds none

    # held at submit (priority 0): a user hold. NO_VAL marks "give it the next priority".
    error_code = 0
    priority, reason = NO_VAL, 0
    if desc.priority == 0:
        # sbatch --hold is a user hold, whoever submits (slurmctld shows JobHeldUser even for root)
        priority, reason = 0, JobStateReason.WAIT_HELD_USER
        error_code = SlurmRC.ESLURM_JOB_HELD
    elif _set(desc.priority, NO_VAL) and desc.priority != INFINITE and is_admin:
        priority = desc.priority  # only an operator sets a priority; a user's is ignored

    time_limit = desc.time_limit
    if time_limit == NO_VAL and part.default_time is not None:
        time_limit = part.default_time
    begin_time = desc.begin_time if desc.begin_time > now else 0
    job = job_from_spec(
        JobSpec(
            name=desc.name if desc.name is not None else "sbatch",
            user_id=uid,
            group_id=gid,
            partition=partition,
            script=None if interactive else desc.script,
            argv=tuple(desc.argv),
            environment=tuple(desc.environment),
            spank_job_env=tuple(desc.spank_job_env),
            work_dir=desc.work_dir,
            std_in=desc.std_in,
            std_out=desc.std_out,
            std_err=desc.std_err,
            open_mode=desc.open_mode,
            min_nodes=min_nodes,
            max_nodes=max_nodes,
            num_tasks=num_tasks,
            tasks_set=tasks_set,
            cpus_per_task=cpus_per_task,
            cpus_set=cpus_set,
            ntasks_per_node=ntasks_per_node,
            min_cpus=min_cpus,
            pn_min_cpus=pn_min_cpus,
            pn_min_memory=memory,
            mem_set=mem_set,
            time_limit=time_limit,
            time_min=desc.time_min,
            shared=desc.shared,
            contiguous=desc.contiguous,
            requeue=desc.requeue if desc.requeue != NO_VAL16 else default_requeue(cluster.config),
            kill_on_node_fail=desc.kill_on_node_fail,
            features=features,
            req_nodes=desc.req_nodes,
            exc_nodes=desc.exc_nodes,
            account=desc.account,
            qos=desc.qos,
            comment=desc.comment,
            reservation=desc.reservation,
            licenses=desc.licenses,
            mail_type=desc.mail_type,
            mail_user=desc.mail_user,
            begin_time=begin_time,
            deadline=desc.deadline,
            nice=desc.nice,  # (a negative one is an operator's: rights.py)
            dependency=desc.dependency,
            submit_line=desc.submit_line,
            alloc_node=alloc_host,
            alloc_sid=desc.alloc_sid,
            bitflags=bitflags,
            cpus_per_tres=desc.cpus_per_tres,
            mem_per_tres=desc.mem_per_tres,
            tres_per_job=desc.tres_per_job,
            tres_per_node=desc.tres_per_node,
            tres_per_socket=desc.tres_per_socket,
            tres_per_task=desc.tres_per_task,
            # --gpu-bind / --gpu-freq (24.11's sbatch --gpus-per-task sets "gres/gpu:per_task:1"): kept and
            # shown; slurmstepd binds from the job's environment and its steps' own tres_bind
            tres_bind=desc.tres_bind,
            tres_freq=desc.tres_freq,
            array_task_pending=array.task_ids if array is not None else EMPTY,
            array_max_tasks=array.max_running if array is not None else 0,
            state_reason=reason,
            priority=priority,
            submit_time=now,
            eligible_time=begin_time,
            last_sched_eval=now,
        )
    )
    job.tres_req = tres_req_string(job, cluster)
    job.sockets_per_node, job.cores_per_socket = desc.sockets_per_node, desc.cores_per_socket
    job.threads_per_core, job.ntasks_per_core = desc.threads_per_core, desc.ntasks_per_core
    job.pn_min_tmp_disk = desc.pn_min_tmp_disk if _set(desc.pn_min_tmp_disk, NO_VAL) else 0
    job.warn_signal, job.warn_time, job.warn_flags = desc.warn_signal, desc.warn_time, desc.warn_flags
    return job, array, error_code


@dataclass(frozen=True, slots=True)
class FittedMemory:
    memory: int  # MiB per node, or MEM_PER_CPU | MiB per CPU
    cpus_per_task: int
    pn_min_cpus: int
    per_cpu_ratio: int  # > 1: the CPUs per task were multiplied by it


def fit_memory_limit(
    memory: int, limit: int, cpus_per_task: int, pn_min_cpus: int, ntasks_per_node: int, node_memory: int = 0
) -> FittedMemory:
    """A job's memory brought within MaxMemPerCPU as slurmctld does (job_mgr.c _valid_pn_min_mem):
    more memory per CPU than the limit gives each task more CPUs and each CPU less memory; memory per
    node gives the job at least as many CPUs per node as the limit needs for it, and so does a job
    that asks no memory (and has no default) for ``node_memory``, the memory of its partition's first
    node. (A job beyond a MaxMemPerNode is not adjusted.)"""
    same = FittedMemory(memory, cpus_per_task, pn_min_cpus, 1)
    if not limit & MEM_PER_CPU or limit == MEM_PER_CPU or memory == MEM_PER_CPU:
        return same
    per_cpu = limit & ~MEM_PER_CPU
    if memory & MEM_PER_CPU:
        wanted = memory & ~MEM_PER_CPU
        if wanted <= per_cpu:
            return same
        ratio = -(-wanted // per_cpu)
        return FittedMemory(-(-wanted // ratio) | MEM_PER_CPU, cpus_per_task * ratio, pn_min_cpus, ratio)
    cpus = -(-(memory or node_memory) // per_cpu)
    if pn_min_cpus >= cpus:
        return same
    if ntasks_per_node:
        cpus_per_task = -(-cpus // ntasks_per_node)
    return FittedMemory(memory, cpus_per_task, cpus, 1)


# Placement options flurm does not apply: a job asking for one is refused rather than run without it.
# (field, option, the values that mean "not given" as sbatch, salloc and srun send them)
_UNSET_U16 = frozenset({0, NO_VAL16})
_UNHONOURED: tuple[tuple[str, str, frozenset[int | None]], ...] = (
    ("boards_per_node", "boards per node", _UNSET_U16),
    ("sockets_per_board", "sockets per board", _UNSET_U16),
    ("ntasks_per_board", "tasks per board", _UNSET_U16),
    ("prefer", "--prefer", frozenset({None})),
    ("batch_features", "--batch", frozenset({None})),
    # 24.11 and 26.05 options (the clients send NO_VAL16 or 0 when not given)
    ("job_size_str", "--nodes with a list of node counts", frozenset({None})),
    ("oom_kill_step", "--oom-kill-step", _UNSET_U16),
    ("container_id", "--container-id", frozenset({None})),
    ("container_type", "--container-type", frozenset({None})),
    ("mem_update_margin", "--mem-update", _UNSET_U16),
    ("mem_update_delay", "--mem-update", _UNSET_U16),
)
_SHARED_KNOWN = frozenset({0, 1, NO_VAL16})  # exclusive, oversubscribe, the partition's default


def refuse_unhonoured(desc: JobDesc) -> None:
    """Refuse a job that asks for what flurm cannot give it (slurmctld would), before it uses a job id:
    X11 forwarding
    (ESLURM_X11_NOT_AVAIL, as slurmctld without PrologFlags=X11), the options of _UNHONOURED,
    --exclusive=user|mcs and --spread-job (ESLURM_NOT_SUPPORTED, naming the option), and 24.11's
    --resv-ports of a job (ESLURM_PORTS_INVALID, as slurmctld without stepmgr). 24.11's --segment is
    for topology/block alone: topology/none keeps it and changes nothing, and so does flurm."""
    if desc.x11:
        raise SlurmError(SlurmRC.ESLURM_X11_NOT_AVAIL)
    for name, option, unset in _UNHONOURED:
        if getattr(desc, name) not in unset:
            raise SlurmError(SlurmRC.ESLURM_NOT_SUPPORTED, f"{option} is not supported")
    if desc.shared not in _SHARED_KNOWN:
        raise SlurmError(SlurmRC.ESLURM_NOT_SUPPORTED, "--exclusive=user|mcs is not supported")
    if desc.bitflags & JobFlag.SPREAD_JOB:
        raise SlurmError(SlurmRC.ESLURM_NOT_SUPPORTED, "--spread-job is not supported")
    if desc.resv_port_cnt not in _UNSET_U16:
        # 24.11's answer without stepmgr (resv_port_check_job_request_cnt), which flurm does not run
        raise SlurmError(SlurmRC.ESLURM_PORTS_INVALID)


def gres_names(cluster: Cluster) -> set[str]:
    """The GRES names a job may ask for: GresTypes (gres_init loads a plugin for each)."""
    names = {n.strip() for n in (cluster.config.gres_types or "").split(",") if n.strip()}
    return names


def check_gres(desc: JobDesc, cluster: Cluster) -> None:
    """gres_job_state_validate at submit: the GRES options parse, name configured GRES and agree
    with each other and with the job's shape; else ESLURM_INVALID_GRES (ESLURM_UNSUPPORTED_GRES for
    a count per job, socket or task, or CPUs or memory per GRES, without select/cons_tres)."""
    texts = (desc.tres_per_job, desc.tres_per_node, desc.tres_per_socket, desc.tres_per_task)
    if not any(texts) and not desc.cpus_per_tres and not desc.mem_per_tres:
        return
    others = (desc.tres_per_job, desc.tres_per_socket, desc.tres_per_task, desc.cpus_per_tres)
    if cluster.config.select_type != "select/cons_tres" and (any(others) or desc.mem_per_tres):
        raise SlurmError(SlurmRC.ESLURM_UNSUPPORTED_GRES)
    min_nodes = desc.min_nodes if _set(desc.min_nodes, NO_VAL) else 0
    tasks = desc.num_tasks if _set(desc.num_tasks, NO_VAL) else 0
    spn = desc.sockets_per_node if desc.sockets_per_node not in (0, NO_VAL16) else 0
    tps = desc.ntasks_per_socket if desc.ntasks_per_socket not in (0, NO_VAL16) else 0
    try:
        gres.job_requests(
            tres_per_job=desc.tres_per_job,
            tres_per_node=desc.tres_per_node,
            tres_per_socket=desc.tres_per_socket,
            tres_per_task=desc.tres_per_task,
            cpus_per_tres=desc.cpus_per_tres,
            mem_per_tres=desc.mem_per_tres,
            known_names=gres_names(cluster),
            shape=gres.JobShape(
                num_tasks=tasks,
                min_nodes=min_nodes,
                max_nodes=desc.max_nodes if _set(desc.max_nodes, NO_VAL) else 0,
                sockets_per_node=spn,
                ntasks_per_socket=tps,
            ),
        )
    except gres.GresError as e:
        raise SlurmError(e.rc) from None


def _resv_partition(cluster: Cluster, reservation: str) -> str | None:
    """A job naming a reservation and no partition runs in the reservation's partition."""
    resv = cluster.reservations.items.get(reservation)
    return resv.partition if resv is not None and resv.partition in cluster.partitions else None


# bits slurmctld clears from what the client sent (_validate_job_desc)
_CLIENT_CLEARED = (
    JobFlag.BACKFILL_TEST
    | JobFlag.BF_WHOLE_NODE_TEST
    | JobFlag.JOB_ACCRUE_OVER
    | JobFlag.JOB_KILL_HURRY
    | JobFlag.SIB_JOB_FLUSH
    | JobFlag.TRES_STR_CALC
    | JobFlag.JOB_WAS_RUNNING
    | JobFlag.CRON_JOB
)


def tres_req_string(job: Job, cluster: Cluster) -> str:
    """The TRES a job asks for, as slurmctld computes it at submit (job_get_tres_mem for memory):
    cpu=min_cpus, mem=per-node memory x nodes (or per-CPU memory x CPUs; a job that asked for no
    memory counts the first node of its partition, one with --mem-per-gpu that times its GPUs),
    node=min_nodes, billing=cpus."""
    mem = job.pn_min_memory
    if mem == 0:
        part = cluster.partitions.get(job.partition.split(",")[0])
        first = cluster.partition_nodes(part)[:1] if part is not None else []
        mem = first[0].real_memory if first else 0
    total = (mem & ~MEM_PER_CPU) * job.min_cpus if mem & MEM_PER_CPU else mem * job.min_nodes
    per_gres = job_gres_mem(job)
    if per_gres is not None:
        total = per_gres
    parts = [f"cpu={job.min_cpus}"]
    if total:
        parts.append(f"mem={format_mem(total)}")
    parts.append(f"node={job.min_nodes}")
    parts.append(f"billing={job.min_cpus}")
    parts.extend(job_gres_req_tres(job, cluster))  # gres/gpu=N when AccountingStorageTRES counts it
    return ",".join(parts)


def check_features(job: Job, cluster: Cluster) -> None:
    """Refuse a constraint that does not parse or names a feature no node has (ESLURM_INVALID_FEATURE).
    slurmctld checks it once the job has its id (build_feature_list), which the refusal uses up."""
    if job.features:
        try:
            constraints.validate(job.features, constraints.cluster_features(cluster.node_list))
        except constraints.ConstraintError:
            raise SlurmError(SlurmRC.ESLURM_INVALID_FEATURE) from None


def _tests_nodes(reason: int, version: int) -> bool:
    """Does slurmctld of the client's release test the nodes of a partition whose limits give
    ``reason`` at submit (select_nodes, test only when the limits keep the job out)? 22.05 tests a
    partition that only its limits keep out only when it is DOWN (_select_nodes_parts), 24.11 every
    partition (_select_nodes_base), 26.05 all but those over their CPU or node limits."""
    if version >= SLURM_26_05_PROTOCOL_VERSION:
        return reason not in (JobStateReason.WAIT_PART_CONFIG, JobStateReason.WAIT_PART_NODE_LIMIT)
    if version >= SLURM_24_11_PROTOCOL_VERSION:
        return True
    return reason in (0, JobStateReason.WAIT_PART_DOWN)


def node_config_rejection(job: Job, cluster: Cluster, version: int = PROTOCOL_VERSION) -> str | None:
    """The message slurmctld of the client's ``version`` refuses a job with when no node of its
    partitions could ever hold it ("CPU count per node can not be satisfied", "Memory specification
    can not be satisfied"; "" for a refusal without a message: too few nodes or CPUs, or none left
    once excluded nodes and features are applied), or None. The partitions that release does not
    test (_tests_nodes) are not looked at: such a job is queued (PartitionConfig ...)."""
    msg = None
    for part in (cluster.partitions[p] for p in job.partition.split(",") if p in cluster.partitions):
        if not _tests_nodes(limits_reason(job, part, cluster), version):
            continue
        nodes = cluster.partition_nodes(part)
        if job.exc_nodes:
            excluded = set(expand_nodes(job.exc_nodes))
            nodes = [n for n in nodes if n.name not in excluded]
        if job.features:
            nodes = constraints.candidates(job.features, nodes)
        if job.req_nodes and not set(expand_nodes(job.req_nodes)) <= {n.name for n in nodes}:
            nodes = []  # a required node outside the partition (or excluded, or without the features)
        if len(nodes) < job.min_nodes or sum(n.cpus for n in nodes) < job.min_cpus:
            # (also when no node is left): the select plugin's test fails, without a message
            msg = msg or ""
            continue
        err = node_config_error(job, nodes)
        if err is None and job.priority != 0 and gres_fit.never_fits(job, nodes):
            err = ""  # (a held job's GRES are not tested)
        if err is None:
            return None
        msg = msg or err
    return msg


def waits_for_partition_config(job: Job, cluster: Cluster, version: int = PROTOCOL_VERSION) -> bool:
    """Does slurmctld of the client's ``version`` queue the job without testing its nodes, since
    the limits of each of its partitions keep it out and that release tests none of them? Its
    select_nodes answer then stays ESLURM_REQUESTED_PART_CONFIG_UNAVAILABLE, which the client
    hears with the job id (srun and salloc print "Requested partition configuration not
    available now")."""
    reasons = [limits_reason(job, p, cluster) for p in job_partitions(job, cluster)]
    return bool(reasons) and all(r and not _tests_nodes(r, version) for r in reasons)


class RefusedJob(SlurmError):
    """A submission refused after its job got an id: the FAILED record it leaves is ``job``."""

    def __init__(self, job: Job, rc: int, message: str | None = None) -> None:
        super().__init__(rc, message)
        self.job = job


def reject_as_failed(job: Job, now: int) -> None:
    """The record slurmctld keeps for a submission refused for its constraints."""
    job.state = JobState.FAILED
    job.state_reason = JobStateReason.FAIL_BAD_CONSTRAINTS
    job.exit_code = 1
    job.start_time = now
    job.end_time = now
    job.last_sched_eval = now
