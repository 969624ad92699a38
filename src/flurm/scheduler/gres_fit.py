"""What a job's GRES requests ask of one node, for the scheduler (select/cons_tres's GRES tests).

The requests are parsed once per distinct request text (state/gres.py job_requests); a job that asks
for no GRES costs one tuple test. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from flurm.protocol.constants import NO_VAL16
from flurm.state import gres
from flurm.state.gres import GresError, GresRequest, NodeGres
from flurm.state.job_builder import expand_nodes
from flurm.state.model import Job, Node

# a request that cannot be parsed (a record imported from elsewhere): the job never fits
UNSATISFIABLE: tuple[GresRequest, ...] = (GresRequest("", per_node=1),)


def requests_of(job: Job) -> tuple[GresRequest, ...]:
    """The job's GRES requests (() when it asks for none)."""
    if not (job.tres_per_node or job.tres_per_job or job.tres_per_task or job.tres_per_socket):
        return ()
    spn = job.sockets_per_node if job.sockets_per_node not in (0, NO_VAL16) else 0
    return _parse(
        job.tres_per_job,
        job.tres_per_node,
        job.tres_per_socket,
        job.tres_per_task,
        job.cpus_per_tres,
        job.mem_per_tres,
        job.num_tasks if job.tasks_set else 0,
        job.min_nodes,
        job.max_nodes,
        spn,
    )


@lru_cache(maxsize=512)
def _parse(
    per_job: str | None,
    per_node: str | None,
    per_socket: str | None,
    per_task: str | None,
    cpus: str | None,
    mem: str | None,
    tasks: int,
    min_nodes: int,
    max_nodes: int,
    sockets: int,
) -> tuple[GresRequest, ...]:
    try:
        names = {n for text in (per_job, per_node, per_socket, per_task) for n, _, _ in gres.tres_items(text)}
        return gres.job_requests(
            tres_per_job=per_job,
            tres_per_node=per_node,
            tres_per_socket=per_socket,
            tres_per_task=per_task,
            cpus_per_tres=cpus,
            mem_per_tres=mem,
            known_names=names,
            shape=gres.JobShape(
                num_tasks=tasks, min_nodes=min_nodes, max_nodes=max_nodes, sockets_per_node=sockets
            ),
        )
    except GresError:
        return UNSATISFIABLE


def blocked(inv: Mapping[str, NodeGres], name: str) -> set[int]:
    """Devices a GRES of ``name`` may not be given on this node although its own count is free: a GPU
    whose shares (mps, shard) a job holds, the shares of a GPU a job holds whole."""
    if name == "gpu":
        return {b for s in gres.SHARED_NAMES if s in inv for b in inv[s].bit_alloc}
    if name in gres.SHARED_NAMES and "gpu" in inv:
        return set(inv["gpu"].bit_alloc)
    return set()


def free_of(inv: Mapping[str, NodeGres], r: GresRequest) -> int:
    """How much of the request's GRES (of its type) no job holds on the node (of a shared GRES: the
    most one device has left, which a job's count comes from)."""
    g = inv.get(r.name)
    if g is None:
        return 0
    free = gres.free_count(g, r.type)
    if not g.bit_count or g.no_consume:
        return free
    out = blocked(inv, r.name)
    if g.shared:
        left = [
            t.count // max(1, len(t.bits)) - g.bit_alloc.get(b, 0)
            for t in g.topo
            if r.type is None or t.type == r.type
            for b in t.bits
            if b not in out
        ]
        return max(left, default=0)
    if out:
        free = min(free, sum(1 for b in gres.free_bits(g, r.type) if b not in out))
    return free


def task_cap(reqs: Sequence[GresRequest], inv: Mapping[str, NodeGres]) -> int | None:
    """The most tasks the node's free GRES allow (--gpus-per-task); None: no limit."""
    cap: int | None = None
    for r in reqs:
        if r.per_task:
            n = free_of(inv, r) // r.per_task
            cap = n if cap is None else min(cap, n)
    return cap


def node_counts(
    reqs: Sequence[GresRequest],
    inv: Mapping[str, NodeGres],
    tasks: int,
    sockets: int,
    per_job_left: Sequence[int],
    cores_per_socket: int = 0,
) -> list[int] | None:
    """How much of each request the job takes on this node with ``tasks`` tasks there (the per-node,
    per-socket and per-task counts; of a per-job count, what is still wanted, up to what is free),
    or None if the node cannot give it."""
    out = []
    for i, r in enumerate(reqs):
        want = max(r.per_node, r.per_task * max(1, tasks), r.per_socket * max(1, sockets))
        free = free_of(inv, r)
        if r.per_job:
            want = max(want, min(free, per_job_left[i]))
            if want <= 0 and per_job_left[i] > 0:
                return None  # a node without any of it adds nothing (cons_tres leaves it out)
        if want > free:
            return None
        if r.per_socket and not _sockets_hold(inv, r, max(1, sockets), cores_per_socket):
            return None
        out.append(want)
    return out


def holds_alone(
    reqs: Sequence[GresRequest], inv: Mapping[str, NodeGres], cores_per_socket: int, job: Job
) -> bool:
    """Can this one node give the job all its GRES, --gpus included (gres_sched_sufficient)?"""
    sockets = job.sockets_per_node if job.sockets_per_node not in (0, NO_VAL16) else 0
    wanted = [r.per_job for r in reqs]
    counts = node_counts(reqs, inv, 1, sockets, wanted, cores_per_socket)
    return counts is not None and all(n >= w for n, w in zip(counts, wanted, strict=True))


def _sockets_hold(inv: Mapping[str, NodeGres], r: GresRequest, sockets: int, cores_per_socket: int) -> bool:
    """Have ``sockets`` of the node's sockets --gpus-per-socket free devices each (when the node
    reported which cores its devices are close to)?"""
    g = inv.get(r.name)
    per = None if g is None else socket_free(g, r.type, cores_per_socket)
    return per is None or sum(1 for n in per if n >= r.per_socket) >= sockets


def whole_node(inv: Mapping[str, NodeGres]) -> tuple[gres.GresUse, ...]:
    """What a job given a whole node holds of its GRES (gres_ctld_job_alloc_whole_node): all of each
    but the shared ones (mps, shard) and those not consumed, per type."""
    out: list[gres.GresUse] = []
    for g in inv.values():
        if g.shared or g.no_consume or not g.configured:
            continue
        types: list[str | None] = list(g.types()) or [None]
        for gtype in types:
            count = g.type_available(gtype) if gtype else g.available
            bits = tuple(b for t in g.topo if gtype is None or t.type == gtype for b in t.bits)
            if g.bit_count and not g.topo:  # devices without a topology: all of the node's
                bits = tuple(range(g.bit_count))
            if count > 0:
                out.append(gres.GresUse(g.name, gtype, count, bits if g.bit_count else None))
    return tuple(out)


def near_cores(inv: Mapping[str, NodeGres], uses: Sequence[gres.GresUse]) -> set[int] | None:
    """The cores close to the devices ``uses`` holds (None: no device says, any core is as close)."""
    out: set[int] = set()
    for u in uses:
        g = inv.get(u.name)
        if g is None or not u.bits:
            continue
        for t in g.topo:
            if t.cores is not None and set(t.bits).intersection(u.bits):
                out.update(t.cores)
    return out or None


def socket_free(g: NodeGres, gres_type: str | None, cores_per_socket: int) -> list[int] | None:
    """Free devices of ``g`` close to each socket (a device without cores counts for every socket);
    None when the node reported no cores for them."""
    if not g.topo or cores_per_socket <= 0 or all(t.cores is None for t in g.topo):
        return None
    free = set(gres.free_bits(g, gres_type))
    sockets: dict[int, set[int]] = {}
    anywhere: set[int] = set()
    for t in g.topo:
        if gres_type is not None and t.type != gres_type:
            continue
        bits = {b for b in t.bits if b in free}
        if t.cores is None:
            anywhere |= bits
            continue
        for c in t.cores:
            sockets.setdefault(c // cores_per_socket, set()).update(bits)
    count = max(sockets, default=-1) + 1
    return [len(sockets.get(i, set()) | anywhere) for i in range(count)]


def first_pass_cores(
    reqs: Sequence[GresRequest],
    inv: Mapping[str, NodeGres],
    node: Node,
    cores: set[int],
    min_cpus: int,
) -> set[int]:
    """The free cores select/cons_tres counts for the job on this node in its first pass
    (gres_select_filter_sock_core), which its best fit compares. Of each request (those per socket
    first), the sockets are looked at from the one with most free cores on: a socket close to none
    of the request's free devices (or to fewer than --gpus-per-socket) loses its cores, from the
    highest down, while the node keeps more cores than ``min_cpus`` (its tasks' CPUs) need; once the
    sockets kept hold the count per node (or per job), the others lose theirs. A device close to
    every socket (or to no core) counts for any socket, one close to several for the first of them."""
    cps = node.cores_per_socket
    if cps <= 0 or node.sockets <= 1:
        return cores
    tpc = max(1, node.threads_per_core)
    min_cores = -(-min_cpus // tpc)
    left = set(cores)
    req_sock = [False] * node.sockets
    by_sock = [sum(1 for c in left if c // cps == s) for s in range(node.sockets)]
    order = sorted(
        reqs, key=lambda r: (2 if not _topo_cores(inv.get(r.name)) else 0) + (0 if r.per_socket else 1)
    )
    for r in order:
        g = inv.get(r.name)
        if g is None or not _topo_cores(g):
            continue
        any_sock, cnt = _sock_counts(inv, g, r, node)
        most = r.per_node or r.per_job
        if r.cpus_per_gres:
            cap = len(cores) * tpc // r.cpus_per_gres
            most = min(most, cap) if most else cap
        total = any_sock
        enough = False
        for s in sorted(range(node.sockets), key=lambda i: -by_sock[i]):
            n = cnt[s]
            if r.cpus_per_gres:
                n = min(n, by_sock[s] * tpc // r.cpus_per_gres)
            if r.per_socket > any_sock + n or any_sock + n == 0:
                for c in sorted((c for c in left if c // cps == s), reverse=True):
                    if len(left) <= min_cores:
                        break
                    left.discard(c)
                    by_sock[s] -= 1
            if by_sock[s] == 0:
                continue
            total += n
            if not enough:
                req_sock[s] = True
            if not any_sock and most and total >= most:
                enough = True
        for s in range(node.sockets):
            if not req_sock[s]:
                left.difference_update([c for c in left if c // cps == s])
                by_sock[s] = 0
    return left


def _topo_cores(g: NodeGres | None) -> bool:
    """Did the node report the cores close to its devices of this GRES?"""
    return g is not None and any(t.cores is not None and t.bits for t in g.topo)


def _sock_counts(
    inv: Mapping[str, NodeGres], g: NodeGres, r: GresRequest, node: Node
) -> tuple[int, list[int]]:
    """The request's free devices on the node close to any socket, and those close to each socket
    (gres_sched.c's cnt_any_sock and cnt_by_sock)."""
    cps = node.cores_per_socket
    out = blocked(inv, g.name)
    any_sock = 0
    cnt = [0] * node.sockets
    for t in g.topo:
        if r.type is not None and t.type != r.type:
            continue
        if g.shared:
            n = t.count - sum(g.bit_alloc.get(b, 0) for b in t.bits)
        else:
            n = sum(1 for b in t.bits if b not in g.bit_alloc and b not in out) if t.bits else 0
        if n <= 0:
            continue
        sockets = (
            sorted({c // cps for c in t.cores if c // cps < node.sockets}) if t.cores is not None else []
        )
        if not sockets or len(sockets) >= node.sockets:
            any_sock += n
        else:
            cnt[sockets[0]] += n
    return any_sock, cnt


def ever_fits(reqs: Sequence[GresRequest], node: Node, job: Job) -> bool:
    """Could the node hold the job's GRES were it idle (the submit test: more than a node has, a type
    it has not, more per socket than its sockets have, more CPUs per GRES than it has CPUs)?"""
    empty = gres.empty_inventory(node.gres_inv)
    spn = job.sockets_per_node if job.sockets_per_node not in (0, NO_VAL16) else 1
    tasks = max(1, job.ntasks_per_node) if job.ntasks_per_node else 1
    for r in reqs:
        g = empty.get(r.name)
        # (of a shared GRES the node's count: slurmctld accepts what no one device holds, and it waits)
        free = gres.free_count(g, r.type) if g is not None and g.shared else free_of(empty, r)
        need = max(r.per_node, r.per_task * tasks, r.per_socket * spn, 1 if r.per_job else 0)
        if need > free:
            return False
        if r.cpus_per_gres and r.cpus_per_gres * need > node.cpus:
            return False
        if r.per_socket and not _sockets_hold(empty, r, spn, node.cores_per_socket):
            return False
    return True


def total_free(reqs: Sequence[GresRequest], nodes_inv: Sequence[Mapping[str, NodeGres]]) -> list[int]:
    """Of each request, what all the given nodes have (were they idle)."""
    return [sum(free_of(gres.empty_inventory(inv), r) for inv in nodes_inv) for r in reqs]


def never_fits(job: Job, nodes: Sequence[Node]) -> bool:
    """Could no choice of ``nodes`` (all idle) ever give the job its GRES? As slurmctld's test at
    submit: a node short of the count per node (or of its type), too few such nodes, fewer GRES in
    all (of the job's most nodes) than --gpus asks, more tasks than --gpus-per-task lets the nodes
    hold, more CPUs per GRES than a node has."""
    reqs = requests_of(job)
    if not reqs:
        return False
    if reqs is UNSATISFIABLE:
        return True
    fit = [n for n in nodes if ever_fits(reqs, n, job)]
    if len(fit) < max(1, job.min_nodes):
        return True
    if job.req_nodes:
        names = {n.name for n in fit}
        if any(name not in names for name in expand_nodes(job.req_nodes)):
            return True  # a node it names could never hold them
    most = job.max_nodes or len(fit)
    for r in reqs:
        caps = []
        for n in fit:
            free = free_of(gres.empty_inventory(n.gres_inv), r)
            if r.cpus_per_gres:
                free = min(free, n.cpus // r.cpus_per_gres)
            caps.append(free)
        caps.sort(reverse=True)
        if r.per_job and sum(caps[:most]) < r.per_job:
            return True
        if r.per_task and job.tasks_set and sum(c // r.per_task for c in caps[:most]) < job.num_tasks:
            return True
    return False
