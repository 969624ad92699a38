"""The pass's best-fit index gives the node a scan of every node gives (select/cons_tres's best fit of a
one-node job), after any sequence of starts and ends within the pass."""

from __future__ import annotations

import random

from flurm.config import parse_text
from flurm.protocol.constants import NodeState, NodeStateFlag
from flurm.scheduler.free import FreeMap, best_fit_node, free_now, release, take
from flurm.state.cluster import Allocation, Cluster
from flurm.state.model import Job, Node, Partition

# weights change along the table, and the partition leaves nodes out: runs break at both
CONF = """\
ClusterName=test
SlurmctldHost=ctl(10.0.0.1)
SelectTypeParameters=CR_Core
NodeName=a[01-12] CPUs=8 RealMemory=1000 Weight=1
NodeName=b[01-06] CPUs=4 RealMemory=1000 Weight=5
NodeName=c[01-10] CPUs=8 Sockets=1 CoresPerSocket=4 ThreadsPerCore=2 RealMemory=1000 Weight=1
PartitionName=main Nodes=a[01-05,07-12],b[01-06],c[01-10] Default=YES State=UP
"""


def make_cluster() -> Cluster:
    cluster = Cluster(parse_text(CONF), None, clock=lambda: 0)
    for node in cluster.node_list:
        node.registered = True
        node.base_state = NodeState.IDLE
    return cluster


def scan(part_nodes: list[Node], free: FreeMap, excluded: set[str], exclusive: bool, cpus: int) -> str | None:
    """The best fit as a scan of every node (what the index replaces), written out plainly."""
    runs: list[list[tuple[Node, int]]] = []
    last = None
    for node in sorted(part_nodes, key=lambda n: n.index):
        f = free[node.name]
        ok = node.name not in excluded and node.is_usable() and (f.idle or not exclusive)
        avail = len(f.cores) * node.threads_per_core if ok else 0
        if avail <= 0:
            last = None
            continue
        if runs and last is not None and last.index == node.index - 1 and last.weight == node.weight:
            runs[-1].append((node, avail))
        else:
            runs.append([(node, avail)])
        last = node
    best = None
    for run in runs:
        total = sum(a for _, a in run)
        if total >= cpus and (
            best is None or (run[0][0].weight, total) < (best[0][0].weight, sum(a for _, a in best))
        ):
            best = run
    if best is None:
        return None
    fits = [(a, n.index, n.name) for n, a in best if a >= cpus]
    return min(fits)[2] if fits else None


def random_alloc(rng: random.Random, free: FreeMap, names: list[str]) -> Allocation | None:
    name = rng.choice(names)
    cores = sorted(free[name].cores)
    if not cores:
        return None
    got = tuple(rng.sample(cores, rng.randint(1, len(cores))))
    return Allocation((name,), (got,), (len(got),), (0,))


def test_the_index_answers_as_the_scan_through_starts_and_ends() -> None:
    rng = random.Random(13)
    cluster = make_cluster()
    part: Partition = cluster.partitions["main"]
    part_nodes = cluster.partition_nodes(part)
    names = [n.name for n in part_nodes]
    job = Job(job_id=1, name="j", user_id=1, group_id=1, partition="main", script="#!/bin/sh\n")
    compared = 0
    for trial in range(20):
        for node in cluster.node_list:  # some nodes drained for the whole pass
            node.flags = NodeStateFlag.DRAIN if rng.random() < 0.1 else 0
        free = free_now(cluster)
        excluded = set(rng.sample(names, rng.randint(0, 3)))
        held: list[Allocation] = []
        for _step in range(40):
            if held and rng.random() < 0.3:
                release(free, held.pop(rng.randrange(len(held))), False)
            else:
                alloc = random_alloc(rng, free, names)
                if alloc is not None:
                    take(free, alloc, False)
                    held.append(alloc)
            for exclusive in (False, True):
                for cpus in (1, 2, 4, 8, 9, 30):
                    got = best_fit_node(job, part, list(part_nodes), free, excluded, exclusive, cpus)
                    want = scan(part_nodes, free, excluded, exclusive, cpus)
                    assert (got.name if got else None) == want, (trial, exclusive, cpus)
                    compared += 1
        assert len(free.indexes) == 2  # one per exclusivity, kept through the pass
    assert compared == 20 * 40 * 12


def test_a_copy_has_its_own_resources_and_no_index() -> None:
    cluster = make_cluster()
    part = cluster.partitions["main"]
    job = Job(job_id=1, name="j", user_id=1, group_id=1, partition="main", script="#!/bin/sh\n")
    free = free_now(cluster)
    first = best_fit_node(job, part, cluster.partition_nodes(part), free, set(), False, 1)
    assert first is not None and first.name == "a01"
    sim = free.copy()
    assert not sim.indexes and not sim.changed
    take(sim, Allocation(("a01",), ((0,),), (1,), (0,)), False)
    assert free["a01"].cores == set(range(8)) and sim["a01"].cores == set(range(1, 8))
    # the original's index is not disturbed by the copy's change: a01 is still whole there
    assert best_fit_node(job, part, cluster.partition_nodes(part), free, set(), False, 8).name == "a01"
    assert best_fit_node(job, part, cluster.partition_nodes(part), sim, set(), False, 1).name == "a01"


def test_the_kept_records_are_never_changed_by_a_pass_and_follow_the_cluster() -> None:
    """free_now keeps the nodes' records between passes: what a pass takes stays in that pass's map,
    and a job that starts or ends (or any change of a node's allocation) shows in the next map."""
    cluster = make_cluster()
    free = free_now(cluster)
    take(free, Allocation(("a01",), ((0, 1),), (2,), (0,)), False)
    assert free["a01"].cores == set(range(2, 8)) and not free["a01"].idle
    again = free_now(cluster)
    assert again["a01"].cores == set(range(8)) and again["a01"].idle
    job = Job(job_id=1, name="j", user_id=1, group_id=1, partition="main", script="#!/bin/sh\n")
    cluster.add_job(job)
    cluster.start_job(job, Allocation(("a02",), ((3,),), (1,), (0,)), 0)
    after = free_now(cluster)
    assert after["a02"].cores == set(range(8)) - {3} and not after["a02"].idle
    assert after["a01"] is again["a01"]  # (unchanged nodes keep their record)
    cluster.nodes["a03"].alloc_cores.add(5)  # a change made without the cluster's methods shows too
    assert free_now(cluster)["a03"].cores == set(range(8)) - {5}
