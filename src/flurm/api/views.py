"""JSON views of jobs, nodes and partitions for the HTTP API (plain dicts, stable field names)."""

from __future__ import annotations

from typing import Any

from flurm.config.hostlists import compress
from flurm.config.timefmt import format_time_minutes
from flurm.protocol.constants import (
    INFINITE,
    NO_VAL,
    REASON_TEXT,
    JobState,
    JobStateFlag,
    NodeState,
    NodeStateFlag,
)
from flurm.state import gres, gres_alloc
from flurm.state.cluster import Cluster
from flurm.state.model import Job, Node, Partition
from flurm.state.records import job_gres_records
from flurm.users import user_name

_NODE_FLAG_NAMES = {
    NodeStateFlag.DRAIN: "DRAIN",
    NodeStateFlag.COMPLETING: "COMPLETING",
    NodeStateFlag.NO_RESPOND: "NOT_RESPONDING",
    NodeStateFlag.FAIL: "FAIL",
    NodeStateFlag.MAINT: "MAINT",
    NodeStateFlag.POWERED_DOWN: "POWERED_DOWN",
    NodeStateFlag.REBOOT_REQUESTED: "REBOOT_REQUESTED",
}


def job_state_name(job: Job) -> str:
    """SLURM's name for the state, as ``squeue -o %T`` prints it (COMPLETING while the epilog runs)."""
    if job.state & JobStateFlag.COMPLETING:
        return "COMPLETING"
    try:
        return JobState(job.base_state).name.replace("COMPLETE", "COMPLETED")
    except ValueError:
        return "UNKNOWN"


def job_id_text(job: Job) -> str:
    if job.array_job_id and job.array_task_id != NO_VAL:
        return f"{job.array_job_id}_{job.array_task_id}"
    if job.array_job_id and job.array_task_pending:
        return f"{job.array_job_id}_[{job.array_task_pending.ranges()}]"
    return str(job.job_id)


def _exit_code(status: int) -> str:
    """ExitCode as scontrol shows it: exit status and terminating signal."""
    return f"{(status >> 8) & 0xFF}:{status & 0x7F}"


def job_view(job: Job, cluster: Cluster) -> dict[str, Any]:
    part = cluster.partitions.get(job.partition.split(",")[0])
    limit = job.time_limit
    if limit == NO_VAL:
        limit = part.max_time if part is not None and part.max_time is not None else INFINITE
    pending = job.is_pending()
    return {
        "id": job.job_id,
        "job_id": job_id_text(job),
        "array_job_id": job.array_job_id or None,
        "array_task_id": job.array_task_id if job.array_task_id != NO_VAL else None,
        "name": job.name,
        "user": user_name(job.user_id),
        "uid": job.user_id,
        "gid": job.group_id,
        "partition": job.partition,
        "state": job_state_name(job),
        "reason": REASON_TEXT.get(job.state_reason, str(job.state_reason)) if pending else None,
        "priority": job.priority,
        "nodes": compress(job.nodes),
        "num_nodes": len(job.nodes) if job.nodes else job.min_nodes,
        "num_cpus": sum(job.cpus_alloc) if job.cpus_alloc else job.min_cpus,
        "time_limit": format_time_minutes(None if limit == INFINITE else limit),
        "time_limit_minutes": None if limit == INFINITE else limit,
        "submit_time": job.submit_time or None,
        "start_time": job.start_time if job.start_time and not pending else None,
        "end_time": job.end_time if job.end_time and job.is_finished() else None,
        "exit_code": _exit_code(job.exit_code),
        "work_dir": job.work_dir,
        "dependency": job.dep_text,
        **job_gres_view(job, cluster),
    }


def job_gres_view(job: Job, cluster: Cluster) -> dict[str, Any]:
    """What the job asks of GRES (SLURM's tres_per_* strings, as scontrol shows them) and what it holds:
    in all (``scontrol show job -d``'s JOB_GRES) and per node, with the device indexes."""
    records = job_gres_records(job, cluster)
    total, _ = gres_alloc.job_details(records, len(job.nodes))
    per_node = []
    for i, name in enumerate(job.nodes):
        held = [
            {
                "name": rec.name,
                "type": rec.type,
                "count": rec.count_on(i),
                "indexes": list(bits) if (bits := rec.indexes(i)) is not None else None,
            }
            for rec in records
            if rec.counts[i] or rec.indexes(i)
        ]
        if held:
            per_node.append({"node": name, "gres": held})
    return {
        "tres_per_job": job.tres_per_job,
        "tres_per_node": job.tres_per_node,
        "tres_per_socket": job.tres_per_socket,
        "tres_per_task": job.tres_per_task,
        "cpus_per_tres": job.cpus_per_tres,
        "mem_per_tres": job.mem_per_tres,
        "gres": total,
        "gres_nodes": per_node,
        "gpus": sum(rec.total for rec in records if rec.name == "gpu"),
    }


def node_state_name(node: Node) -> str:
    """The state as sinfo's long form prints it."""
    base = node.base_state
    drain = bool(node.flags & NodeStateFlag.DRAIN)
    if base == NodeState.DOWN:
        return "down"
    if drain:
        return "draining" if node.alloc_cpus or node.flags & NodeStateFlag.COMPLETING else "drained"
    if base == NodeState.UNKNOWN:
        return "unknown"
    if base == NodeState.FUTURE:
        return "future"
    if node.alloc_cpus:
        return "allocated" if node.alloc_cpus >= node.cpus else "mixed"
    if node.flags & NodeStateFlag.COMPLETING:
        return "completing"
    return "idle"


def node_view(node: Node) -> dict[str, Any]:
    return {
        "name": node.name,
        "state": node_state_name(node),
        "state_flags": [name for flag, name in _NODE_FLAG_NAMES.items() if node.flags & flag],
        "cpus": node.cpus,
        "alloc_cpus": node.alloc_cpus,
        "memory_mb": node.real_memory,
        "alloc_memory_mb": node.alloc_mem,
        "features": list(node.features),
        "reason": node.reason,
        "addr": node.addr,
        "port": node.port,
        "slurmd_version": node.version,
        **node_gres_view(node),
    }


def node_gres_view(node: Node) -> dict[str, Any]:
    """The node's GRES (Gres= of slurm.conf) and, per name and type, how many it has and jobs hold."""
    items = [u for g in node.gres_inv.values() for u in gres.usage(g)]
    gpus = [u for u in items if u.name == "gpu"]
    return {
        "gres": node.gres,
        "gres_usage": [
            {
                "name": u.name,
                "type": u.type,
                "total": u.total,
                "used": u.used,
                "used_indexes": list(u.used_bits),
            }
            for u in items
        ],
        "gpus": sum(u.total for u in gpus),
        "alloc_gpus": sum(u.used for u in gpus),
    }


def gpu_counts(nodes: list[Node]) -> tuple[int, int]:
    """GPUs these nodes have and GPUs their jobs hold."""
    total = used = 0
    for node in nodes:
        g = node.gres_inv.get("gpu")
        if g is not None:
            for u in gres.usage(g):
                total += u.total
                used += u.used
    return total, used


def partition_view(part: Partition, cluster: Cluster) -> dict[str, Any]:
    nodes = cluster.partition_nodes(part)
    available = {3: "up", 1: "down", 2: "drain", 0: "inactive"}.get(part.state_up, "unknown")
    gpus = gpu_counts(nodes)
    return {
        "name": part.name,
        "available": available,
        "default": part.default,
        "time_limit": format_time_minutes(part.max_time),
        "time_limit_minutes": part.max_time,
        "total_nodes": len(nodes),
        "total_cpus": sum(n.cpus for n in nodes),
        "nodes": compress(part.nodes),
        "total_gpus": gpus[0],
        "alloc_gpus": gpus[1],
    }
