"""What clients see: job, node and partition records built from the controller's objects.

Each job's encoded record is kept in the job's cache (keyed by show_flags and, for a release newer
than 22.05, the protocol version) and rebuilt only when the job changes, so a reply to ``squeue`` with
10,000 jobs joins cached bytes instead of packing 10,000 records. The values follow what slurmctld
22.05 packs for each state (job_mgr.c:pack_job); the fields a newer release added get what that
release's slurmctld packs (:func:`_newer_job_fields`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from flurm.config.hostlists import HostlistError, compress, expand
from flurm.protocol.constants import (
    INFINITE,
    INFINITE16,
    MEM_PER_CPU,
    NICE_OFFSET,
    NO_VAL,
    NO_VAL16,
    PROTOCOL_VERSION,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    JobStateFlag,
    NodeState,
    NodeStateFlag,
    PartitionFlag,
    ShowFlags,
)
from flurm.protocol.messages.job_info import (
    JobRecord,
    JobResources,
    MultiCore,
    job_info_header,
    job_info_response_body,
)
from flurm.protocol.messages.nodes import NodeRecord, SelectNodeInfo
from flurm.protocol.messages.partitions import PartitionRecord
from flurm.protocol.wire import Bitmap
from flurm.state import gres, gres_alloc, gres_node, multicore, step_use
from flurm.state.cluster import Cluster
from flurm.state.layout import core_layout, rle
from flurm.state.model import Job, Node, Partition
from flurm.state.reasons import shown_reason
from flurm.users import user_name

CR_CORE = 4  # SelectTypeParameters=CR_Core as packed in job_resources.cr_type
_MULTI_CORE = MultiCore(0, 0, NO_VAL16, NO_VAL16, NO_VAL16, 0, INFINITE16, INFINITE16, 0)


def _multi_core(job: Job) -> MultiCore:
    """The job's -B/--*-per-* options as slurmctld keeps them (_set_multi_core_data)."""
    if (job.sockets_per_node, job.cores_per_socket, job.threads_per_core, job.ntasks_per_core) == (
        NO_VAL16,
        NO_VAL16,
        NO_VAL16,
        NO_VAL16,
    ):
        return _MULTI_CORE
    ntasks_per_core = INFINITE16 if job.ntasks_per_core == NO_VAL16 else job.ntasks_per_core
    return MultiCore(
        sockets_per_node=job.sockets_per_node,
        cores_per_socket=job.cores_per_socket,
        threads_per_core=job.threads_per_core,
        ntasks_per_socket=INFINITE16,
        ntasks_per_core=ntasks_per_core,
    )


def format_mem(mib: int) -> str:
    """TRES memory the way SLURM prints it: 1000M, 2G, 1536M (a bigger unit only when exact)."""
    units = "MGTPE"
    i = 0
    while mib and mib % 1024 == 0 and i < len(units) - 1:
        mib //= 1024
        i += 1
    return f"{mib}{units[i]}"


def tres_string(cpus: int, mem_mib: int, nodes: int, extra: Iterable[str] = ()) -> str:
    """``extra``: the GRES TRES slurmctld counts (``gres/gpu=2``: :func:`gres_tres`), after billing."""
    parts = [f"cpu={cpus}"]
    if mem_mib:
        parts.append(f"mem={format_mem(mem_mib)}")
    parts.append(f"node={nodes}")
    parts.append(f"billing={cpus}")
    parts.extend(extra)
    return ",".join(parts)


def gres_tres_names(cluster: Cluster) -> tuple[str, ...]:
    """The GRES TRES slurmctld counts: the ``gres/`` items of AccountingStorageTRES (``gres/gpu``,
    ``gres/gpu:tesla``), in the order slurmdbd numbers them. None without slurmdbd (slurmctld refuses
    to start with one then)."""
    config = cluster.config
    if config.accounting_storage_type.lower() != "accounting_storage/slurmdbd":
        return ()
    return gres_node.tres_names(config.raw.get("accountingstoragetres"))


def gres_tres_counts(names: Iterable[str], counts: Iterable[tuple[str, str | None, int]]) -> dict[str, int]:
    """_set_type_tres_cnt: ``gres/NAME`` counts every (name, type, count) of that name, ``gres/NAME:TYPE``
    those of the type (TRES names match whatever their case, as assoc_mgr_find_tres_pos); by TRES name
    of ``names``, in their order, counts of 0 left out."""
    totals: dict[str, int] = {}
    for name, gtype, count in counts:
        key = f"gres/{name}".lower()
        totals[key] = totals.get(key, 0) + count
        if gtype:
            key = f"gres/{name}:{gtype}".lower()
            totals[key] = totals.get(key, 0) + count
    return {n: totals[n.lower()] for n in names if totals.get(n.lower())}


def gres_tres(names: Iterable[str], counts: Iterable[tuple[str, str | None, int]]) -> list[str]:
    """:func:`gres_tres_counts` as ``gres/gpu=2`` strings."""
    return [f"{n}={c}" for n, c in gres_tres_counts(names, counts).items()]


def step_tres_string(cpus: int, mem_mib: int, nodes: int, gres: Iterable[str] = ()) -> str:
    """A step's TRES= (step_set_alloc_tres): ``cpu=1,mem=0,node=1``; with the GRES TRES slurmctld counts
    (:func:`gres_tres` of what the step holds) among them in name order: ``cpu=1,gres/gpu=1,mem=0,node=1``."""
    parts = [f"cpu={cpus}", f"mem={format_mem(mem_mib) if mem_mib else 0}", f"node={nodes}", *gres]
    return ",".join(sorted(parts, key=lambda p: p.split("=", 1)[0]))


def job_gres_alloc_counts(job: Job, nodes: Mapping[str, Node], names: Sequence[str]) -> dict[str, int]:
    """The GRES TRES of ``names`` that the job holds (its gres_list_alloc; ``nodes``: the cluster's, for
    their GRES), by TRES name (gres_ctld_set_job_tres_cnt): what its AllocTRES shows and slurmdbd records."""
    if not names or not job.gres_alloc:
        return {}
    return gres_tres_counts(names, ((r.name, r.type, r.shown_total) for r in job_alloc_records(job, nodes)))


def job_gres_alloc_tres(job: Job, cluster: Cluster) -> list[str]:
    """The GRES TRES of what the job holds (its gres_list_alloc)."""
    counts = job_gres_alloc_counts(job, cluster.nodes, gres_tres_names(cluster))
    return [f"{n}={c}" for n, c in counts.items()]


def job_gres_req_tres(job: Job, cluster: Cluster) -> list[str]:
    """The GRES TRES of what the job asks for (each request's total_gres, gres_job_state_validate)."""
    names = gres_tres_names(cluster)
    requests = _job_requests(job) if names else None
    if not requests:
        return []
    return gres_tres(names, ((r.name, r.type, r.total) for r in requests))


def _first_node_mem(job: Job, cluster: Cluster) -> int:
    part = cluster.partitions.get(job.partition.split(",")[0])
    if part is None or not part.nodes:
        return 0
    node = cluster.nodes.get(part.nodes[0])
    return node.real_memory if node else 0


def _max_cpus_per_node(job: Job, cluster: Cluster) -> int:
    """The most CPUs a node of the job's partition has: remembered per partition node list and node
    table (each job record scanned every node again: at 5,000 nodes and 10,000 jobs a squeue took
    longer than the client waits)."""
    part = cluster.partitions.get(job.partition.split(",")[0])
    members = part.nodes if part else None
    hit = _MAX_CPUS.get(id(part))
    if hit is not None and hit[0] is part and hit[1] is members and hit[2] is cluster.node_list:
        return hit[3]
    nodes = cluster.partition_nodes(part) if part else cluster.node_list
    most = max((n.cpus for n in nodes), default=1) or 1
    if len(_MAX_CPUS) > 1024:  # partitions come and go (tests build many clusters)
        _MAX_CPUS.clear()
    _MAX_CPUS[id(part)] = (part, members, cluster.node_list, most)
    return most


# id(partition) -> (the partition, its node list, the node table, the most CPUs of its nodes)
_MAX_CPUS: dict[int, tuple[object, object, object, int]] = {}


def job_gres_mem(job: Job) -> int | None:
    """The memory a job asking for memory per GPU (--mem-per-gpu, and no --mem) asks for in all
    (job_get_tres_mem); None for another job."""
    if job.mem_set or not job.mem_per_tres:
        return None
    return gres.requested_mem(
        job.mem_per_tres, _gres_ask(job, job.min_nodes, job.num_tasks if job.tasks_set else 0)
    )


def _gres_ask(job: Job, nodes: int, num_tasks: int) -> gres.GresAsk:
    return gres.GresAsk(
        tres_per_job=job.tres_per_job,
        tres_per_node=job.tres_per_node,
        tres_per_socket=job.tres_per_socket,
        tres_per_task=job.tres_per_task,
        nodes=nodes,
        sockets_per_node=0 if job.sockets_per_node == NO_VAL16 else job.sockets_per_node,
        num_tasks=num_tasks,
    )


def requested_mem(job: Job, cluster: Cluster) -> int:
    """Total memory a job asks for, as the TRES request shows it (job_get_tres_mem)."""
    per_gres = job_gres_mem(job)
    if per_gres is not None:
        return per_gres
    mem = job.pn_min_memory or _first_node_mem(job, cluster)
    if mem & MEM_PER_CPU:
        return (mem & ~MEM_PER_CPU) * job.cpus_needed()
    return mem * job.min_nodes


def node_count_estimate(job: Job, cluster: Cluster) -> int:
    """How many nodes a pending job will need (slurmctld's estimate in the job record)."""
    max_cpus = _max_cpus_per_node(job, cluster)
    if job.ntasks_per_node:
        return max(job.num_tasks // job.ntasks_per_node, job.min_nodes)
    if job.cpus_per_task > 1:
        per_node = max(max_cpus // job.cpus_per_task, 1)
        n = max(job.num_tasks // per_node, job.min_nodes)
        if job.num_tasks % per_node:
            n += 1
        return n
    return max((job.num_tasks + max_cpus - 1) // max_cpus, job.min_nodes)


def _array_task_str(job: Job) -> str | None:
    if not job.is_array_meta() or not job.array_task_pending:
        return None
    return job.array_task_pending.hex(job.array_size_hint)


def _gres_min_cpus(job: Job, nodes: int) -> int:
    """The CPUs --cpus-per-gpu gives the job (gres_select_util_job_min_cpus), 0 without it."""
    if not job.cpus_per_tres:
        return 0
    return gres.min_cpus(job.cpus_per_tres, _gres_ask(job, nodes, job.num_tasks))


def _job_resources(job: Job, cluster: Cluster) -> JobResources | None:
    if not job.nodes or not job.cores_alloc:
        return None
    nodes = [cluster.nodes[n] for n in job.nodes if n in cluster.nodes]
    if len(nodes) != len(job.nodes):
        return None
    cpus = tuple(job.cpus_alloc)
    vals, reps = rle(multicore.cpu_array(job, cluster.nodes))
    layout = core_layout(nodes, job.cores_alloc)
    # what the job's running steps use of it (_step_alloc_lps: cpus_used, core_bitmap_used)
    cpus_used, cores_used = step_use.job_use(job, cluster.nodes)
    return JobResources(
        nhosts=len(nodes),
        # what the select plugin counts as the job's CPUs (not what whole nodes give it); a job
        # that lost a node counts what it holds (extract_job_resources_node)
        ncpus=sum(cpus)
        if job.resize_time
        else max(
            len(nodes) * (job.ntasks_per_node or 1),
            job.min_cpus,
            len(nodes) * job.pn_min_cpus,
            _gres_min_cpus(job, len(nodes)),
        ),
        node_req=1,
        nodes=compress(job.nodes),
        whole_node=1 if job.shared == 0 else 0,
        threads_per_core=job.threads_per_core,
        cr_type=CR_CORE,
        cpu_array_reps=reps,
        cpu_array_value=vals,
        cpus=cpus,
        cpus_used=cpus_used,
        memory_allocated=tuple(job.mem_alloc),
        memory_used=tuple(0 for _ in cpus),
        sockets_per_node=layout.sockets_per_node,
        cores_per_socket=layout.cores_per_socket,
        sock_core_rep_count=layout.sock_core_rep_count,
        core_bitmap=layout.core_bitmap,
        core_bitmap_used=core_layout(nodes, cores_used).core_bitmap,
    )


def job_gres_records(job: Job, cluster: Cluster) -> list[gres_alloc.AllocRecord]:
    """The job's GRES per (name, type) as slurmctld's gres_list_alloc holds them (state/gres_alloc.py)."""
    return job_alloc_records(job, cluster.nodes)


def job_alloc_records(job: Job, nodes: Mapping[str, Node]) -> list[gres_alloc.AllocRecord]:
    """:func:`job_gres_records` from the cluster's nodes (by name) alone."""
    if not job.gres_alloc:
        return []
    inventories = gres_alloc.inventories(nodes, job.nodes)
    return gres_alloc.alloc_records(job.nodes, job.gres_alloc, inventories, gres_alloc.job_untyped_names(job))


def _job_requests(job: Job) -> tuple[gres.GresRequest, ...] | None:
    """The job's GRES requests (gres_list_req), parsed again from its tres_per_* (None: none parse)."""
    texts = (job.cpus_per_tres, job.tres_per_job, job.tres_per_node, job.tres_per_socket, job.tres_per_task)
    if not any(texts[1:]):
        return None
    try:
        return gres.job_requests(
            tres_per_job=job.tres_per_job,
            tres_per_node=job.tres_per_node,
            tres_per_socket=job.tres_per_socket,
            tres_per_task=job.tres_per_task,
            cpus_per_tres=job.cpus_per_tres,
            known_names=[item[0] for t in texts for item in gres.tres_items(t)],
            shape=gres.JobShape(
                num_tasks=job.num_tasks if job.tasks_set else 0,
                min_nodes=job.min_nodes,
                sockets_per_node=0 if job.sockets_per_node == NO_VAL16 else job.sockets_per_node,
            ),
        )
    except gres.GresError:
        return None


def job_gres_details(job: Job, cluster: Cluster) -> tuple[str | None, tuple[str | None, ...]]:
    """The job's GRES in all (gres_used, JOB_GRES= of ``scontrol show job -d``) and per node (GRES=)."""
    return gres_alloc.job_details(job_gres_records(job, cluster), len(job.nodes))


def _gres_detail_str(job: Job, per_node: tuple[str | None, ...], show_flags: int) -> tuple[str, ...]:
    """_pack_job_gres: the per node strings with SHOW_DETAIL, for a job that runs (or is suspended)."""
    if not show_flags & ShowFlags.DETAIL or job.is_pending() or job.is_finished():
        return ()
    return tuple(s or "" for s in per_node)


def _native_job_record(job: Job, cluster: Cluster, show_flags: int) -> JobRecord:
    part = cluster.partitions.get(job.partition.split(",")[0])
    pending = job.is_pending()
    # the partition slurmctld last looked at for the job: the last of a pending job's list
    limit_part = cluster.partitions.get(job.partition.split(",")[-1]) if pending else part
    # a requeued job holds its nodes until their epilogs ran (PENDING|COMPLETING)
    started = bool(job.nodes) and (not pending or job.is_completing())
    time_limit = job.time_limit
    if time_limit == NO_VAL:
        time_limit = limit_part.max_time if limit_part and limit_part.max_time is not None else INFINITE
    start_time, end_time = job.start_time, job.end_time
    if pending and start_time:
        # the expected start the backfill scheduler planned
        end_time = max(job.end_time, start_time + time_limit * 60) if time_limit != NO_VAL else 0
    elif pending and job.begin_time:
        # the earliest start: the begin time
        start_time = job.begin_time
        if time_limit != NO_VAL:  # an unlimited job gets an end far beyond any date (shown Unknown)
            end_time = max(job.end_time, start_time + time_limit * 60)
    name_of_user = user_name(job.user_id)
    alloc_cpus = sum(job.cpus_alloc)
    n_alloc = len(job.nodes)
    nodes_str = compress(job.completing_nodes if job.is_completing() and job.completing_nodes else job.nodes)
    if pending:
        num_cpus, max_cpus = job.min_cpus, job.max_cpus
    else:
        num_cpus, max_cpus = (alloc_cpus or job.min_cpus), 0
    # as _pack_default_job_details, whatever the state: the allocation, that of the run before a
    # requeue, the guess of the submit's test of the nodes, else an estimate from the request
    if n_alloc:
        num_nodes, max_nodes = n_alloc, 0
    elif job.requeued_nodes:
        num_nodes, max_nodes = job.requeued_nodes, 0
    elif job.sched_node_count:
        num_nodes, max_nodes = job.sched_node_count, job.max_nodes
    else:
        num_nodes, max_nodes = node_count_estimate(job, cluster), job.max_nodes
    # details->num_tasks is 0 unless -n was given (job_mgr.c:_pack_default_job_details)
    if job.tasks_set:
        num_tasks = job.num_tasks
    elif pending:
        num_tasks = job.min_nodes
    elif n_alloc:
        num_tasks = n_alloc
    else:
        num_tasks = NO_VAL
    mem_req = requested_mem(job, cluster)
    node_bitmap = None
    if job.nodes:
        node_bitmap = Bitmap.from_indexes(
            len(cluster.node_list), [cluster.nodes[n].index for n in job.nodes if n in cluster.nodes]
        )
    eligible = job.eligible_time
    gres_total, gres_per_node = job_gres_details(job, cluster)
    return JobRecord(
        array_job_id=job.array_job_id,
        array_task_id=job.array_task_id,
        array_task_str=_array_task_str(job),
        array_max_tasks=job.array_max_tasks,
        job_id=job.job_id,
        user_id=job.user_id,
        group_id=job.group_id,
        job_state=job.state,
        batch_flag=1 + job.launch_requeues if job.script is not None else 0,
        state_reason=job.state_reason,
        restart_cnt=job.restart_cnt,
        show_flags=show_flags,
        deadline=job.deadline,
        alloc_sid=job.alloc_sid,
        time_limit=time_limit,
        time_min=job.time_min,
        nice=NICE_OFFSET + job.nice,
        submit_time=job.submit_time,
        eligible_time=eligible,
        accrue_time=job.accrue_time,
        start_time=start_time,
        end_time=end_time,
        resize_time=job.resize_time,
        suspend_time=job.suspend_time,
        pre_sus_time=job.pre_sus_time,
        last_sched_eval=job.last_sched_eval,
        priority=job.priority,
        billable_tres=float(alloc_cpus) if started else float(job.requeued_cpus or NO_VAL),
        cluster=cluster.config.cluster_name,
        nodes=nodes_str,
        sched_nodes=job.sched_nodes if pending else None,
        partition=job.partition,
        account=job.account,
        site_factor=job.site_factor,
        admin_comment=job.admin_comment,
        network=job.network,
        wckey=job.wckey,
        delay_boot=job.delay_boot,
        req_switch=job.req_switch,
        wait4switch=job.wait4switch,
        comment=job.comment,
        batch_host=job.batch_host if started else None,
        qos=job.qos,
        licenses=job.licenses,
        state_desc=job.state_desc,
        resv_name=job.reservation,
        exit_code=job.exit_code,
        derived_ec=job.derived_ec,
        gres_used=gres_total,
        gres_detail_str=_gres_detail_str(job, gres_per_node, show_flags),
        job_resources=_job_resources(job, cluster) if show_flags & ShowFlags.DETAIL else None,
        name=job.name,
        alloc_node=job.alloc_node,
        node_bitmap=node_bitmap,
        features=job.features,
        work_dir=job.work_dir,
        dependency=job.dep_text,
        command=" ".join(job.argv) if job.argv else None,
        num_cpus=num_cpus,
        max_cpus=max_cpus,
        num_nodes=num_nodes,
        max_nodes=max_nodes,
        requeue=job.requeue,
        ntasks_per_node=job.ntasks_per_node,
        num_tasks=num_tasks,
        shared=_shared(job, part),
        contiguous=job.contiguous,
        cpus_per_task=job.cpus_per_task,
        pn_min_cpus=job.pn_min_cpus,
        pn_min_memory=job.pn_min_memory,
        pn_min_tmp_disk=job.pn_min_tmp_disk,
        req_nodes=job.req_nodes,
        req_node_bitmap=_node_bitmap(job.req_nodes, cluster),
        exc_nodes=job.exc_nodes,
        exc_node_bitmap=_node_bitmap(job.exc_nodes, cluster),
        std_err=job.std_err,
        std_in=job.std_in,
        std_out=job.std_out,
        multi_core=_multi_core(job),
        bitflags=job.bitflags,
        tres_alloc_str=tres_string(alloc_cpus, sum(job.mem_alloc), n_alloc, job_gres_alloc_tres(job, cluster))
        if started
        else None,
        tres_req_str=job.tres_req
        or tres_string(
            job.cpus_needed() if pending else (alloc_cpus or job.min_cpus),
            mem_req,
            job.min_nodes if pending else (n_alloc or job.min_nodes),
            job_gres_req_tres(job, cluster),
        ),
        cpus_per_tres=job.cpus_per_tres,
        mem_per_tres=job.mem_per_tres,
        tres_per_job=job.tres_per_job,
        tres_per_node=job.tres_per_node,
        tres_per_socket=job.tres_per_socket,
        tres_per_task=job.tres_per_task,
        tres_bind=job.tres_bind,
        tres_freq=job.tres_freq,
        mail_type=job.mail_type,
        mail_user=job.mail_user or name_of_user,
    )


def job_sluid(job: Job, cluster: Cluster) -> int:
    """The job's SLUID (state/sluid.py: drawn at submission and at each requeue, as 26.05 does); a job
    from before flurm gave sluids gets one now, kept from then on."""
    if not job.sluid:
        job.sluid = cluster.new_sluid()
    return job.sluid


def _newer_node_counts(job: Job, cluster: Cluster) -> tuple[int, int] | None:
    """From 24.11 _pack_default_job_details estimates a waiting job's node count a little otherwise:
    with --cpus-per-task the task count is not rounded up, from the task count alone the maximum is at
    least the minimum. None where 22.05's count stands (an allocation, a requeue's, the submit's
    guess, --ntasks-per-node)."""
    if job.nodes or job.requeued_nodes or job.sched_node_count or job.ntasks_per_node:
        return None
    if job.cpus_per_task > 1:
        per_node = max(_max_cpus_per_node(job, cluster) // job.cpus_per_task, 1)
        return max(job.num_tasks // per_node, job.min_nodes), job.max_nodes
    n = node_count_estimate(job, cluster)
    return n, max(n, job.max_nodes)


def _newer_job_fields(job: Job, cluster: Cluster, version: int) -> dict[str, Any]:
    """The record fields 24.11 and 26.05 added or count otherwise, as their slurmctld fills them for a
    flurm job."""
    fields: dict[str, Any] = {}
    counts = _newer_node_counts(job, cluster)
    if counts is not None:
        fields.update(num_nodes=counts[0], max_nodes=counts[1])
    reason = shown_reason(job, version)
    if reason != (job.state_reason, job.state_desc):
        fields.update(state_reason=reason[0], state_desc=reason[1])
    if version >= SLURM_26_05_PROTOCOL_VERSION:
        part = cluster.partitions.get(job.partition.split(",")[0])
        max_share = part.max_share if part is not None else 1
        # get_job_exclusive_display_value / get_job_oversubscribe_value
        if job.shared == 1:
            exclusive, oversubscribe = 0, 1  # NONE, YES
        elif job.shared == 0 or max_share == 0:
            exclusive, oversubscribe = 1, 0  # NODE, NO
        else:
            exclusive = 0
            oversubscribe = 2 if max_share > 1 or max_share & 0x8000 else 0  # OK, NO
        fields.update(
            sluid=job_sluid(job, cluster),
            submit_line=job.submit_line,
            exclusive=exclusive,
            oversubscribe=oversubscribe,
        )
    return fields


def _node_bitmap(expr: str | None, cluster: Cluster) -> Bitmap | None:
    if not expr:
        return None
    try:
        names = expand(expr)
    except HostlistError:
        return None
    return Bitmap.from_indexes(
        len(cluster.node_list), [cluster.nodes[n].index for n in names if n in cluster.nodes]
    )


def _shared(job: Job, part: Partition | None) -> int:
    if job.shared in (0, 1):
        return job.shared
    if part is not None:
        if part.max_share & 0x8000 and (part.max_share & 0x7FFF) > 1:
            return 1
        if part.max_share == 0:
            return 0
    return NO_VAL16


def job_record_bytes(job: Job, cluster: Cluster, show_flags: int, version: int = PROTOCOL_VERSION) -> bytes:
    # 22.05's records are cached under show_flags alone (u16); a newer release's above them
    key = show_flags if version == PROTOCOL_VERSION else version << 16 | show_flags
    cached = job._cache.get(key)
    if cached is None:
        cached = build_job_record(job, cluster, show_flags, version).to_bytes(version)
        if len(job._cache) >= _RECORDS_KEPT:  # show_flags come from any client: bounded
            job._cache.clear()
        job._cache[key] = cached
    return cached


def job_info_body(
    jobs: Iterable[Job],
    cluster: Cluster,
    show_flags: int,
    now: int,
    last_backfill: int = 0,
    version: int = PROTOCOL_VERSION,
) -> bytes:
    records = [job_record_bytes(j, cluster, show_flags, version) for j in jobs]
    return job_info_response_body(records, now, last_backfill)


class JobListCache:
    """The joined records of the whole job list, per show_flags and audience, until the next job change.

    ``squeue`` at 10,000 jobs then costs a header and one concatenation instead of a sort and 10,000
    lookups. Only the reply header (its time stamps) is built fresh each time.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[int, bool, int], tuple[int, int, bytes]] = {}

    def body(
        self,
        cluster: Cluster,
        key: tuple[int, bool],
        jobs: Callable[[], list[Job]],
        now: int,
        last_backfill: int,
        version: int = PROTOCOL_VERSION,
    ) -> bytes:
        """``key``: (show_flags, whether the asker sees every job); records in ``version``'s layout."""
        show_flags = key[0]
        entry = (show_flags, key[1], version)
        hit = self._entries.get(entry)
        if hit is None or hit[0] != cluster.job_generation:
            listed = jobs()
            joined = b"".join([job_record_bytes(j, cluster, show_flags, version) for j in listed])
            hit = (cluster.job_generation, len(listed), joined)
            self._entries[entry] = hit
        return job_info_header(hit[1], now, last_backfill) + hit[2]


# -- nodes ----------------------------------------------------------------------------------------


def node_tres(node: Node, gres_tres: Sequence[str] = ()) -> str:
    """CfgTRES: CPUs, memory, billing and the node's GRES of the TRES AccountingStorageTRES lists."""
    text = f"cpu={node.cpus},mem={format_mem(node.real_memory)},billing={node.cpus}"
    gres = gres_node.tres_counts(node.gres_inv, gres_tres, allocated=False)
    return f"{text},{gres_node.tres_text(gres)}" if gres else text


def _node_gres(node: Node, version: int, gres_names: Sequence[str]) -> str | None:
    """Gres= as the slurmctld of ``version`` shows it: Node.gres (22.05's), rebuilt where a later release
    writes it otherwise (no_consume); slurm.conf's text where nothing was built."""
    if version < SLURM_24_11_PROTOCOL_VERSION or not any(g.no_consume for g in node.gres_inv.values()):
        return node.gres
    built = gres_node.gres_text(
        node.gres_inv,
        gres_names,
        sockets=node.sockets,
        cores_per_socket=node.cores_per_socket,
        version=version,
    )
    return built or node.gres_conf


def _native_node_record(
    node: Node, show_flags: int, version: int, gres_names: Sequence[str], gres_tres: Sequence[str]
) -> NodeRecord:
    alloc_tres = None
    if node.alloc_cpus:
        alloc_tres = f"cpu={node.alloc_cpus}"
        if node.alloc_mem:
            alloc_tres += f",mem={format_mem(node.alloc_mem)}"
        gres_alloc = gres_node.tres_counts(node.gres_inv, gres_tres, allocated=True)
        if gres_alloc:
            alloc_tres += "," + gres_node.tres_text(gres_alloc)
    state = node.node_state
    detail = bool(show_flags & ShowFlags.DETAIL)
    return NodeRecord(
        name=node.name,
        node_hostname=node.hostname,
        node_addr=node.addr,
        port=node.port,
        next_state=node.next_state,
        node_state=state,
        version=node.version,
        cpus=node.cpus,
        boards=node.boards,
        sockets=node.sockets,
        cores=node.cores_per_socket,
        threads=node.threads_per_core,
        real_memory=node.real_memory,
        tmp_disk=node.tmp_disk,
        cpus_efctv=node.cpus,
        cpu_load=node.cpu_load,
        free_mem=node.free_mem,
        weight=node.weight,
        reason_uid=node.reason_uid,
        boot_time=node.boot_time,
        last_busy=node.last_busy,
        reason_time=node.reason_time,
        slurmd_start_time=node.slurmd_start_time,
        select_nodeinfo=SelectNodeInfo(
            alloc_cpus=node.alloc_cpus,
            alloc_memory=node.alloc_mem,
            tres_alloc_fmt_str=alloc_tres,
            tres_alloc_weighted=float(node.alloc_cpus),
        ),
        arch=node.arch,
        features=",".join(node.features) or None,
        features_act=",".join(node.features) or None,
        gres=_node_gres(node, version, gres_names),
        # gres_get_node_drain is "N/A" whatever the node has; both only with SHOW_DETAIL (slow in slurmctld)
        gres_drain="N/A" if detail else None,
        gres_used=gres_node.gres_used(node.gres_inv, gres_names, version) if detail else None,
        os=node.os,
        reason=node.reason,
        tres_fmt_str=node_tres(node, gres_tres),
        resv_name=node.resv_name,
    )


# -- partitions -----------------------------------------------------------------------------------


def _native_partition_record(part: Partition, cluster: Cluster, version: int) -> PartitionRecord:
    nodes = cluster.partition_nodes(part)
    flags = 0
    if part.default:
        flags |= PartitionFlag.DEFAULT
    if part.hidden:
        flags |= PartitionFlag.HIDDEN
    if part.root_only:
        flags |= PartitionFlag.ROOT_ONLY
    total_cpus = sum(n.cpus for n in nodes)
    total_mem = sum(n.real_memory for n in nodes)
    tres = f"cpu={total_cpus},mem={format_mem(total_mem)},node={len(nodes)},billing={total_cpus}"
    gres_tres = gres_node.tres_names(cluster.config.raw.get("accountingstoragetres"))
    if gres_tres:
        totals: dict[str, int] = {}
        for n in nodes:
            for name, count in gres_node.tres_counts(n.gres_inv, gres_tres, allocated=False):
                totals[name] = totals.get(name, 0) + count
        if totals:
            tres += "," + gres_node.tres_text([(t, totals[t]) for t in gres_tres if t in totals])
    return PartitionRecord(
        name=part.name,
        max_time=INFINITE if part.max_time is None else part.max_time,
        default_time=NO_VAL if part.default_time is None else part.default_time,
        max_nodes=INFINITE if part.max_nodes is None else part.max_nodes,
        min_nodes=part.min_nodes,
        total_nodes=len(nodes),
        total_cpus=total_cpus,
        def_mem_per_cpu=part.def_mem_per_cpu,
        max_cpus_per_node=INFINITE if part.max_cpus_per_node is None else part.max_cpus_per_node,
        max_mem_per_cpu=part.max_mem_per_cpu,
        flags=flags,
        max_share=part.max_share,
        priority_job_factor=part.priority_job_factor,
        priority_tier=part.priority_tier,
        state_up=part.state_up,
        allow_accounts=part.allow_accounts,
        allow_groups=part.allow_groups,
        allow_qos=part.allow_qos,
        deny_accounts=part.deny_accounts,
        deny_qos=part.deny_qos,
        nodes=compress(part.nodes),
        nodesets=_nodesets(part, version),
        node_bitmap=Bitmap.from_indexes(len(cluster.node_list), [n.index for n in nodes]),
        tres_fmt_str=tres,
    )


def _nodesets(part: Partition, version: int) -> str | None:
    """From 24.11 slurmctld names Nodes=ALL among a partition's node sets (nodespec_to_hostlist)."""
    if version >= SLURM_24_11_PROTOCOL_VERSION and (part.nodes_expr or "").upper() == "ALL":
        return "ALL"
    return None


def node_is_idle(node: Node) -> bool:
    return node.base_state == NodeState.IDLE and not node.flags & NodeStateFlag.NO_RESPOND


def job_completing(job: Job) -> bool:
    return bool(job.state & JobStateFlag.COMPLETING)


# -- imported objects -----------------------------------------------------------------------------
# An object imported from slurmctld carries ``record_overrides``: the record fields whose values
# slurmctld reported and flurm would not compute the same way. Applying them last keeps the mirror
# lossless; flurm drops them once it changes the object itself.


def build_job_record(
    job: Job, cluster: Cluster, show_flags: int, version: int = PROTOCOL_VERSION
) -> JobRecord:
    rec = _native_job_record(job, cluster, show_flags)
    if version > PROTOCOL_VERSION:
        rec = replace(rec, **_newer_job_fields(job, cluster, version))
    if not job.record_overrides:
        return rec
    overrides = job.record_overrides
    if "gres_detail_str" in overrides:  # a list kept as slurmctld showed it, sent with SHOW_DETAIL only
        overrides = dict(overrides)
        detail = overrides.pop("gres_detail_str")
        if show_flags & ShowFlags.DETAIL:
            overrides["gres_detail_str"] = tuple(detail)
    return replace(rec, **overrides)


def build_node_record(
    node: Node,
    show_flags: int,
    version: int = SLURM_22_05_PROTOCOL_VERSION,
    gres_names: Sequence[str] | None = None,
    gres_tres: Sequence[str] = (),
) -> NodeRecord:
    """The record as the slurmctld of the release speaking ``version`` fills it; ``gres_names`` are the
    names GresTypes lists, in slurmctld's order (config.gres_names; by default the node's own);
    ``gres_tres`` the GRES TRES AccountingStorageTRES lists (gres_node.tres_names)."""
    names = tuple(node.gres_inv) if gres_names is None else gres_names
    rec = _native_node_record(node, show_flags, version, names, gres_tres)
    return replace(rec, **node.record_overrides) if node.record_overrides else rec


def encoded_node_record(
    node: Node,
    show_flags: int,
    version: int,
    gres_names: Sequence[str],
    gres_tres: Sequence[str],
    node_table: object,
) -> bytes:
    """The node's record as bytes, rebuilt only when something it shows changed: each sinfo and
    scontrol show node packed every node again (at 5,000 nodes 150 ms of flurm's CPU per call, and
    sinfo polled during a registration storm held the storm up). What the record shows is compared
    field by field (``node_table``: the node list a reconfigure replaces, for the configured values);
    a node with GRES, whose counts change in place, is always built afresh."""
    if node.gres_inv:
        return build_node_record(node, show_flags, version, gres_names, gres_tres).encode(version)
    seen = (
        tuple(gres_names),
        tuple(gres_tres),
        node.base_state,
        node.flags,
        node.registered,
        node.next_state,
        node.alloc_cpus,
        node.alloc_mem,
        node.cpu_load,
        node.free_mem,
        node.reason,
        node.reason_time,
        node.reason_uid,
        node.last_busy,
        node.boot_time,
        node.slurmd_start_time,
        node.version,
        node.arch,
        node.os,
        node.weight,
        node.features,
        node.gres,
        node.resv_name,
        id(node.record_overrides),
        len(node.record_overrides),
    )
    key = (show_flags, version)
    hit = node._records.get(key)
    if hit is not None and hit[0] is node_table and hit[1] == seen:
        return hit[2]
    raw = build_node_record(node, show_flags, version, gres_names, gres_tres).encode(version)
    if len(node._records) >= _RECORDS_KEPT:  # show_flags come from any client: bounded
        node._records.clear()
    node._records[key] = (node_table, seen, raw)
    return raw


# encoded records kept per node or job: clients ask with a few show_flags in one or two releases
_RECORDS_KEPT = 8


def build_partition_record(
    part: Partition, cluster: Cluster, version: int = SLURM_22_05_PROTOCOL_VERSION
) -> PartitionRecord:
    """The record as the slurmctld of the release speaking ``version`` fills it."""
    rec = _native_partition_record(part, cluster, version)
    return replace(rec, **part.record_overrides) if part.record_overrides else rec
