"""Turning what slurmctld reports into flurm's own objects, losslessly.

A job record becomes a :class:`~flurm.state.model.Job` that flurm can schedule, adopt and show.
Whatever flurm would show differently from slurmctld for that job (a field flurm does not model, or
computes another way) is kept in ``record_overrides``, so the imported job looks in ``scontrol`` and
``squeue`` exactly as slurmctld showed it. The same goes for nodes and partitions.

GRES are state, not display: a job's devices per node (``gres_detail_str``) become its ``gres_alloc`` and a
node's GresUsed its allocation counts (migration/gres_import.py), so what flurm computes from them (views,
metrics, the takeover's claims) is slurmctld's; only what still differs is kept as an override.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from flurm.errors import SlurmError
from flurm.migration import gres_import
from flurm.protocol.constants import (
    NO_VAL,
    NODE_STATE_BASE,
    PROTOCOL_VERSION,
    JobFlag,
    JobStateFlag,
    ShowFlags,
)
from flurm.protocol.messages.job_info import JobRecord
from flurm.protocol.messages.nodes import NodeRecord
from flurm.protocol.messages.partitions import PartitionRecord
from flurm.protocol.messages.reservations import ReservationRecord
from flurm.protocol.wire import Bitmap
from flurm.state import gres, multicore, records
from flurm.state.cluster import Cluster
from flurm.state.job_builder import JobSpec, expand_nodes, job_from_spec
from flurm.state.model import Job, Node, Partition
from flurm.state.reservations import Reservation, parse_accounts, parse_users
from flurm.state.tasks import EMPTY, TaskSet

# Fields never carried as overrides: they depend on the request or are rebuilt from flurm's own state.
_JOB_SKIP = frozenset({"show_flags", "job_resources", "gres_detail_str"})
_NODE_SKIP: frozenset[str] = frozenset()
_PART_SKIP: frozenset[str] = frozenset()


def _json_safe(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _overrides(native: Any, reported: Any, skip: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(reported):
        if f.name in skip:
            continue
        theirs = getattr(reported, f.name)
        if getattr(native, f.name) != theirs:
            if isinstance(theirs, Bitmap | tuple):
                continue  # rebuilt from flurm's state; bitmaps and lists are not display overrides
            if _json_safe(theirs):
                out[f.name] = theirs
    return out


def job_from_record(rec: JobRecord, cluster: Cluster, version: int = PROTOCOL_VERSION) -> Job:
    """A flurm job equivalent to a record slurmctld reported (with SHOW_DETAIL for allocations), in
    the layout of protocol ``version`` (its release: what flurm's own record is compared with)."""
    pending_tasks = EMPTY
    size_hint = 0
    if rec.array_task_str and rec.array_task_str.startswith("0x"):
        # a meta record shows its pending task ids as a hex bitmap ("0x78" = tasks 3-6)
        pending_tasks = TaskSet.from_hex(rec.array_task_str)
        size_hint = 4 * (len(rec.array_task_str) - 2)
    # a record names nodes of a pending job too (where it may run): only an allocation's count
    nodes = expand_nodes(rec.nodes) if rec.job_resources is not None or rec.node_bitmap is not None else ()
    job = job_from_spec(
        JobSpec(
            job_id=rec.job_id,
            name=rec.name,
            user_id=rec.user_id,
            group_id=rec.group_id,
            partition=rec.partition or "",
            # a batch job's script is not in its record; "" marks it as a batch job until the takeover
            # reads the script slurmctld saved (an allocation for srun/salloc has none)
            script="" if rec.batch_flag else None,
            argv=(rec.command,) if rec.command else (),
            work_dir=rec.work_dir,
            std_in=rec.std_in,
            std_out=rec.std_out,
            std_err=rec.std_err,
            # a record has no "not given": the counts slurmctld settled on, at least one of each
            min_nodes=max(1, rec.num_nodes if not nodes else len(nodes)),
            max_nodes=rec.max_nodes,
            num_tasks=rec.num_tasks if rec.num_tasks != NO_VAL else 1,
            tasks_set=bool(rec.bitflags & JobFlag.JOB_NTASKS_SET),
            cpus_per_task=rec.cpus_per_task,
            cpus_set=bool(rec.bitflags & JobFlag.JOB_CPUS_SET),
            ntasks_per_node=rec.ntasks_per_node,
            min_cpus=max(1, rec.num_cpus),
            pn_min_cpus=rec.pn_min_cpus,
            pn_min_memory=rec.pn_min_memory,
            mem_set=bool(rec.bitflags & JobFlag.JOB_MEM_SET),
            time_limit=rec.time_limit,
            time_min=rec.time_min,
            shared=rec.shared,
            contiguous=rec.contiguous,
            requeue=rec.requeue,
            features=rec.features,
            req_nodes=rec.req_nodes,
            exc_nodes=rec.exc_nodes,
            account=rec.account,
            qos=rec.qos,
            comment=rec.comment,
            reservation=rec.resv_name,
            licenses=rec.licenses,
            mail_type=rec.mail_type,
            mail_user=rec.mail_user,
            deadline=rec.deadline,
            nice=rec.nice,
            dependency=rec.dependency,
            dependency_shown=True,
            alloc_node=rec.alloc_node,
            alloc_sid=rec.alloc_sid,
            bitflags=rec.bitflags,
            cpus_per_tres=rec.cpus_per_tres,
            mem_per_tres=rec.mem_per_tres,
            tres_per_job=rec.tres_per_job,
            tres_per_node=rec.tres_per_node,
            tres_per_socket=rec.tres_per_socket,
            tres_per_task=rec.tres_per_task,
            array_job_id=rec.array_job_id,
            array_task_id=rec.array_task_id,
            array_task_pending=pending_tasks,
            array_max_tasks=rec.array_max_tasks,
            array_size_hint=size_hint,
            state=rec.job_state,
            state_reason=rec.state_reason,
            state_desc=rec.state_desc,
            priority=rec.priority,
            submit_time=rec.submit_time,
            eligible_time=rec.eligible_time,
            accrue_time=rec.accrue_time,
            start_time=rec.start_time,
            end_time=rec.end_time,
            last_sched_eval=rec.last_sched_eval,
            resize_time=rec.resize_time,
            batch_flag=rec.batch_flag,
            suspend_time=rec.suspend_time,
            pre_sus_time=rec.pre_sus_time,
            exit_code=rec.exit_code,
            derived_ec=rec.derived_ec,
            restart_cnt=rec.restart_cnt,
            nodes=nodes,
            job_resources=rec.job_resources,
            batch_host=rec.batch_host,
            # a record does not say which nodes are still completing: all of them
            completing_nodes=nodes if rec.job_state & JobStateFlag.COMPLETING else (),
        )
    )
    multicore.take_saved(job, rec.multi_core, rec.pn_min_tmp_disk)
    job.gres_alloc = _gres_alloc(rec, job)
    job.sluid = rec.sluid  # a 26.05 source's (0 from older ones: flurm draws one when it needs it)
    native = records.build_job_record(job, cluster, rec.show_flags & ~ShowFlags.DETAIL, version)
    job.record_overrides = _overrides(native, rec, _JOB_SKIP)
    if rec.gres_detail_str:
        # flurm writes a job's GRES per node from its nodes' devices (slurmd's registration), which it
        # has not seen in shadow: what slurmctld showed stays until flurm changes the job
        shown = records.build_job_record(job, cluster, ShowFlags.DETAIL, version).gres_detail_str
        if tuple(shown) != tuple(rec.gres_detail_str):
            job.record_overrides["gres_detail_str"] = list(rec.gres_detail_str)
    return job


def _gres_alloc(rec: JobRecord, job: Job) -> tuple[gres.NodeUses, ...]:
    """The GRES the job holds on each of its nodes, as its record's gres_detail_str shows them (with
    SHOW_DETAIL); GRES without devices, which the details leave out, from its per-node request."""
    if not job.nodes or not gres_import.holds_resources(job):
        return ()
    if not rec.gres_detail_str and not rec.tres_per_node:
        return ()
    try:
        requests = gres.job_requests(
            tres_per_node=rec.tres_per_node, known_names=[i[0] for i in gres.tres_items(rec.tres_per_node)]
        )
    except gres.GresError:
        requests = ()
    return gres_import.uses_from_details(rec.gres_detail_str, job.nodes, requests)


def apply_node_record(node: Node, rec: NodeRecord) -> None:
    """Make a node look as slurmctld reports it."""
    node.base_state = rec.node_state & NODE_STATE_BASE
    node.flags = rec.node_state & ~NODE_STATE_BASE
    node.reason = rec.reason
    node.reason_time = rec.reason_time
    node.reason_uid = rec.reason_uid
    node.boot_time = rec.boot_time
    node.slurmd_start_time = rec.slurmd_start_time
    node.last_busy = rec.last_busy
    node.version = rec.version
    node.arch = rec.arch
    node.os = rec.os
    node.cpu_load = rec.cpu_load
    node.free_mem = rec.free_mem
    node.alloc_cpus = rec.select_nodeinfo.alloc_cpus
    node.alloc_mem = rec.select_nodeinfo.alloc_memory
    node.registered = node.base_state != 0
    if rec.gres_used is not None:  # (sent with SHOW_DETAIL only, as the mirror asks)
        gres_import.apply_node_used(node.gres_inv, rec.gres_used)
    node.record_overrides = {}
    native = records.build_node_record(node, ShowFlags.DETAIL)
    node.record_overrides = _overrides(native, rec, _NODE_SKIP)


def apply_partition_record(part: Partition, rec: PartitionRecord, cluster: Cluster) -> None:
    part.state_up = rec.state_up
    part.max_time = None if rec.max_time == 0xFFFFFFFF else rec.max_time
    part.default_time = None if rec.default_time == NO_VAL else rec.default_time
    part.max_nodes = None if rec.max_nodes == 0xFFFFFFFF else rec.max_nodes
    part.min_nodes = rec.min_nodes
    part.default = bool(rec.flags & 0x1)
    part.hidden = bool(rec.flags & 0x2)
    part.record_overrides = {}
    native = records.build_partition_record(part, cluster)
    part.record_overrides = _overrides(native, rec, _PART_SKIP)


def partition_from_record(rec: PartitionRecord, cluster: Cluster) -> Partition:
    part = Partition(name=rec.name or "", nodes=expand_nodes(rec.nodes), nodes_expr=rec.nodes)
    apply_partition_record(part, rec, cluster)
    return part


def reservation_from_record(rec: ReservationRecord, cluster: Cluster) -> Reservation:
    """A reservation as slurmctld reports it. Its id is not on the wire: the number a generated name
    ends with stands for it (what the next generated name counts from)."""
    name = rec.name or ""
    suffix = name.rsplit("_", 1)[-1]
    try:
        user_ids, user_not = parse_users(rec.users) if rec.users else ((), False)
    except SlurmError:
        user_ids, user_not = (), False  # a user this host does not know: nobody matches
    accounts, account_not = parse_accounts(rec.accounts) if rec.accounts else ((), False)
    nodes = set(expand_nodes(rec.node_list)) if rec.node_list else set()
    resv = Reservation(
        name=name,
        resv_id=int(suffix) if "_" in name and suffix.isdigit() else 0,
        start_time=rec.start_time,
        end_time=rec.end_time,
        duration=(rec.end_time - rec.start_time) // 60,
        flags=rec.flags,
        nodes=tuple(n.name for n in cluster.node_list if n.name in nodes),
        node_list=rec.node_list,
        partition=rec.partition,
        users=rec.users,
        user_ids=user_ids,
        user_not=user_not,
        accounts=rec.accounts,
        account_list=accounts,
        account_not=account_not,
        groups=rec.groups,
        features=rec.features,
        licenses=rec.licenses,
        burst_buffer=rec.burst_buffer,
        purge_comp_time=rec.purge_comp_time,
        max_start_delay=rec.max_start_delay,
        resv_watts=rec.resv_watts,
        core_cnt=rec.core_cnt,
    )
    resv.cpu_cnt = sum(cluster.nodes[n].cpus for n in resv.nodes)
    shown = f"cpu={resv.cpu_cnt}" if resv.cpu_cnt else None
    if rec.tres_fmt_str != shown:
        resv.record_overrides = {"tres_fmt_str": rec.tres_fmt_str}
    return resv
