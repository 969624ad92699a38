"""What is free on each node during a scheduling pass, and select/cons_tres's best fit of a one-node job.

A pass starts from :func:`free_now` (every node's cores, memory and GRES not held by running jobs) and
takes from it what each start holds (:func:`take`); the backfill's simulations give back what jobs that
end hold (:func:`release`). Every change is logged by node name in the :class:`FreeMap`.

The best fit (:func:`best_fit_node`) looked at every node of the partition for each job placed: at
5,000 nodes that was 120 of the 122 ms a pass spent per job started (cProfile of a pass starting 100
plain jobs). For a plain job (no GRES, no socket/core options) the answer depends only on each node's
free CPUs, so a :class:`BestFitIndex` per partition, exclusivity and set of excluded nodes keeps them
between jobs of the pass: the runs of consecutive nodes of equal weight that have some free, and the
nodes by free CPU count; it follows the free map's log, one changed node at a time.

Pure logic: no I/O.
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flurm.scheduler import gres_fit
from flurm.state import gres, multicore
from flurm.state.cluster import Allocation, Cluster
from flurm.state.gres import NodeGres
from flurm.state.model import Job, Node, Partition


@dataclass(slots=True)
class Free:
    """Free resources of one node during a planning pass."""

    node: Node
    cores: set[int]
    mem: int
    idle: bool  # nothing allocated: an exclusive job may take it
    # the node's GRES as this pass sees them: None while they are the node's own (copied on write)
    gres: dict[str, NodeGres] | None = None

    def copy(self) -> Free:
        own = None if self.gres is None else gres.copy_inventory(self.gres)
        return Free(self.node, set(self.cores), self.mem, self.idle, own)

    @property
    def gres_inv(self) -> dict[str, NodeGres]:
        return self.node.gres_inv if self.gres is None else self.gres

    def own_gres(self) -> dict[str, NodeGres]:
        if self.gres is None:
            self.gres = gres.copy_inventory(self.node.gres_inv)
        return self.gres


class FreeMap(dict[str, Free]):
    """Node name -> what is free on it, with the names of the nodes changed since it was built (in
    order) for the indexes built on it to catch up from.

    Copy on write: a map starts out sharing its nodes' :class:`Free` records with the map it was made
    from (the cluster's, kept between passes, or the pass's for a backfill simulation); a record is
    copied the first time this map changes it (:meth:`own`)."""

    __slots__ = ("changed", "indexes", "owned")

    def __init__(self, items: Iterable[tuple[str, Free]] | dict[str, Free] = ()) -> None:
        super().__init__(items)
        self.changed: list[str] = []
        self.indexes: dict[tuple[object, ...], BestFitIndex] = {}
        self.owned: set[str] = set()

    def own(self, name: str) -> Free:
        """The node's record, this map's own to change."""
        f = self[name]
        if name not in self.owned:
            f = self[name] = f.copy()
            self.owned.add(name)
        return f

    def copy(self) -> FreeMap:
        """A map of the same free resources, to change apart from this one (without indexes)."""
        return FreeMap(self)


_ALL_CORES: dict[int, set[int]] = {}  # never changed: copied


def _free_of(node: Node) -> Free:
    base = _ALL_CORES.get(node.total_cores)
    if base is None:
        base = _ALL_CORES[node.total_cores] = set(range(node.total_cores))
    cores = base.copy()
    cores -= node.alloc_cores
    return Free(node, cores, node.real_memory - node.alloc_mem, not node.jobs)


@dataclass(slots=True)
class _Seen:
    """What a node's record in the kept map was built from."""

    node: Node
    alloc_cores: set[int]
    alloc_mem: int
    busy: bool
    total_cores: int
    real_memory: int


# per cluster: (its node list, {node name: what its record was built from}, the records)
_KEPT: weakref.WeakKeyDictionary[Cluster, tuple[list[Node], dict[str, _Seen], dict[str, Free]]] = (
    weakref.WeakKeyDictionary()
)


def free_now(cluster: Cluster) -> FreeMap:
    """Every node's free resources as the running jobs leave them.

    The records are kept between passes and rebuilt for the nodes whose allocation changed since
    (compared field by field, so that no path that changes an allocation can leave a record stale):
    building 5,000 of them for each pass was a fifth of the controller's CPU in a high-throughput run
    (py-spy). The pass gets a copy-on-write map over them."""
    kept = _KEPT.get(cluster)
    if kept is None or kept[0] is not cluster.node_list or len(kept[2]) != len(cluster.node_list):
        kept = (cluster.node_list, {}, {})
        _KEPT[cluster] = kept
    seen, records = kept[1], kept[2]
    for node in cluster.node_list:
        was = seen.get(node.name)
        if (
            was is None
            or was.node is not node
            or was.alloc_mem != node.alloc_mem
            or was.busy != bool(node.jobs)
            or was.alloc_cores != node.alloc_cores
            or was.total_cores != node.total_cores
            or was.real_memory != node.real_memory
        ):
            records[node.name] = _free_of(node)
            seen[node.name] = _Seen(
                node,
                set(node.alloc_cores),
                node.alloc_mem,
                bool(node.jobs),
                node.total_cores,
                node.real_memory,
            )
    return FreeMap(records)


def empty_free(n: Node, job_gres: bool) -> Free:
    """The node as if no job ran on it."""
    inv = gres.empty_inventory(n.gres_inv) if job_gres else None
    return Free(n, set(range(n.total_cores)), n.real_memory, True, inv)


def take(free: FreeMap, alloc: Allocation, consumable: bool) -> None:
    """What a start holds leaves the free map."""
    for i, (name, cores, mem) in enumerate(zip(alloc.nodes, alloc.cores, alloc.mem, strict=True)):
        f = free.own(name)
        f.cores.difference_update(cores)
        if consumable:
            f.mem -= mem
        f.idle = False
        if i < len(alloc.gres) and alloc.gres[i]:
            gres.claim(f.own_gres(), alloc.gres[i])
        free.changed.append(name)


def release(free: FreeMap, alloc: Allocation, consumable: bool) -> None:
    """What an ending job holds comes back to the free map."""
    for i, name in enumerate(alloc.nodes):
        if name not in free:
            continue
        f = free.own(name)
        if i < len(alloc.cores):
            f.cores.update(alloc.cores[i])
        if consumable and i < len(alloc.mem):
            f.mem += alloc.mem[i]
        if i < len(alloc.gres) and alloc.gres[i]:
            gres.release(f.own_gres(), alloc.gres[i])
        f.idle = len(f.cores) >= f.node.total_cores
        free.changed.append(name)


def _by_index(node: Node) -> int:
    return node.index


def best_fit_node(
    job: Job,
    part: Partition,
    candidates: list[Node],
    free: FreeMap,
    excluded: set[str],
    exclusive: bool,
    cpus: int,
    reqs: tuple[gres.GresRequest, ...] = (),
) -> Node | None:
    """The node select/cons_tres gives a one-node job: the available nodes form runs of consecutive
    nodes of equal weight; the run of lowest weight that can hold the job and has the fewest CPUs
    free wins, and in it the node with the fewest CPUs free that can hold the job. Of a job asking
    for GRES, a node's free CPUs are those select/cons_tres's first pass leaves it
    (gres_fit.first_pass_cores). ``candidates``: the partition's nodes."""
    if not reqs and not multicore.has_options(job):  # a node's free CPUs are its free threads
        return _plain_index(part, candidates, free, excluded, exclusive).best(cpus)
    min_cpus = max(1, job.num_tasks if job.tasks_set else 1) * max(1, job.cpus_per_task)

    def avail_of(node: Node) -> int:
        f = free.get(node.name)
        if f is None or node.name in excluded or not node.is_usable() or (exclusive and not f.idle):
            return 0
        if reqs and not gres_fit.holds_alone(reqs, f.gres_inv, node.cores_per_socket, job):
            return 0  # (its GRES cannot hold the job: cons_tres's gres_sched_sufficient)
        if reqs:  # the cores of the sockets close to its free devices (the first pass)
            return multicore.free_cpus(
                job, node, gres_fit.first_pass_cores(reqs, f.gres_inv, node, f.cores, min_cpus)
            )
        return multicore.free_cpus(job, node, f.cores)

    return BestFitIndex(sorted(candidates, key=_by_index), avail_of, 0).best(cpus)


def _plain_index(
    part: Partition, candidates: list[Node], free: FreeMap, excluded: set[str], exclusive: bool
) -> BestFitIndex:
    """The pass's index of plain free CPUs for this partition and these excluded nodes, caught up
    with the free map's changes."""
    key = (id(part), id(part.nodes), exclusive, frozenset(excluded))
    index = free.indexes.get(key)
    if index is None:

        def avail_of(node: Node) -> int:
            f = free.get(node.name)
            if f is None or node.name in excluded or not node.is_usable() or (exclusive and not f.idle):
                return 0
            return len(f.cores) * node.threads_per_core

        if len(free.indexes) > 64:  # (a pass with many different exclusions: keep memory bounded)
            free.indexes.clear()
        index = free.indexes[key] = BestFitIndex(
            sorted(candidates, key=_by_index), avail_of, len(free.changed)
        )
    else:
        index.catch_up(free.changed)
    return index


class BestFitIndex:
    """The nodes of a partition in index order with their free CPUs (as ``avail_of`` counts them),
    grouped into runs (consecutive indexes, equal weight, some CPUs free) with their totals, and the
    nodes of each free CPU count (positions, sorted)."""

    def __init__(self, nodes: list[Node], avail_of: Callable[[Node], int], cursor: int) -> None:
        self.nodes = nodes
        self.avail_of = avail_of
        self.cursor = cursor  # how much of the free map's log is applied
        self.position = {n.name: p for p, n in enumerate(nodes)}
        # linked[p]: node p continues a run of node p - 1
        self.linked = [
            p > 0 and nodes[p - 1].index == n.index - 1 and nodes[p - 1].weight == n.weight
            for p, n in enumerate(nodes)
        ]
        self.avail = [avail_of(n) for n in nodes]
        self.by_avail: dict[int, list[int]] = {}
        for p, a in enumerate(self.avail):
            if a > 0:
                self.by_avail.setdefault(a, []).append(p)
        self.counts = sorted(self.by_avail)  # the free CPU counts some node has
        self._build_runs()

    def _build_runs(self) -> None:
        starts: list[int] = []
        ends: list[int] = []
        totals: list[int] = []
        for p, a in enumerate(self.avail):
            if a <= 0:
                continue
            if ends and ends[-1] == p and self.linked[p]:
                ends[-1] = p + 1
                totals[-1] += a
            else:
                starts.append(p)
                ends.append(p + 1)
                totals.append(a)
        self.run_starts, self.run_ends, self.run_totals = starts, ends, totals

    def catch_up(self, changed: list[str]) -> None:
        for name in changed[self.cursor :]:
            p = self.position.get(name)
            if p is not None:
                self._set(p, self.avail_of(self.nodes[p]))
        self.cursor = len(changed)

    def _set(self, p: int, new: int) -> None:
        old = self.avail[p]
        if new == old:
            return
        self.avail[p] = new
        if old > 0:
            bucket = self.by_avail[old]
            del bucket[bisect.bisect_left(bucket, p)]
            if not bucket:
                del self.by_avail[old]
                del self.counts[bisect.bisect_left(self.counts, old)]
        if new > 0:
            if new not in self.by_avail:
                self.by_avail[new] = []
                bisect.insort(self.counts, new)
            bisect.insort(self.by_avail[new], p)
        if old <= 0 or (new <= 0 and not self._split(p, old)):
            self._build_runs()  # a node joins runs (or a run ends oddly): rare within a pass
        elif new > 0:
            self.run_totals[bisect.bisect_right(self.run_starts, p) - 1] += new - old

    def _split(self, p: int, old: int) -> bool:
        """Node p has no CPUs free any more: its run ends before it and another starts after it."""
        r = bisect.bisect_right(self.run_starts, p) - 1
        if r < 0 or not self.run_starts[r] <= p < self.run_ends[r]:
            return False
        start, end, total = self.run_starts[r], self.run_ends[r], self.run_totals[r]
        left = sum(self.avail[start:p])
        right = total - old - left
        pieces = [(s, e, t) for s, e, t in ((start, p, left), (p + 1, end, right)) if s < e]
        self.run_starts[r : r + 1] = [s for s, _, _ in pieces]
        self.run_ends[r : r + 1] = [e for _, e, _ in pieces]
        self.run_totals[r : r + 1] = [t for _, _, t in pieces]
        return True

    def best(self, cpus: int) -> Node | None:
        best = -1
        best_key = (0, 0)
        for r, total in enumerate(self.run_totals):
            if total < cpus:
                continue
            key = (self.nodes[self.run_starts[r]].weight, total)
            if best < 0 or key < best_key:
                best, best_key = r, key
        if best < 0:
            return None
        start, end = self.run_starts[best], self.run_ends[best]
        for count in self.counts[bisect.bisect_left(self.counts, cpus) :]:
            bucket = self.by_avail[count]
            i = bisect.bisect_left(bucket, start)
            if i < len(bucket) and bucket[i] < end:
                return self.nodes[bucket[i]]
        return None
