"""scheduler.node_guess remembers plain jobs' guesses until a node's usability changes."""

from __future__ import annotations

import textwrap

from flurm.config import parse_text
from flurm.protocol.constants import NodeState, NodeStateFlag
from flurm.scheduler.scheduler import node_guess
from flurm.state.cluster import Cluster
from flurm.state.model import Job

CONF = """\
ClusterName=test
SlurmctldHost=ctl(10.0.0.1)
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
NodeName=n[1-3] CPUs=4 RealMemory=1000
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def make_cluster() -> Cluster:
    c = Cluster(parse_text(textwrap.dedent(CONF)), None, clock=lambda: 1_000_000)
    for node in c.node_list:
        node.registered = True
        node.base_state = NodeState.IDLE
        c.node_changed(node)
    return c


def job(**kw: object) -> Job:
    fields: dict[str, object] = dict(job_id=1, name="j", user_id=1000, group_id=1000, partition="debug")
    fields.update(kw)
    return Job(**fields)  # type: ignore[arg-type]


def test_a_guess_follows_the_nodes_usability() -> None:
    c = make_cluster()
    wide = job(num_tasks=12, tasks_set=True)  # 12 CPUs: all three nodes
    assert node_guess(wide, c) == 3
    n3 = c.nodes["n3"]
    n3.flags |= NodeStateFlag.DRAIN
    c.node_changed(n3)
    assert node_guess(job(num_tasks=12, tasks_set=True), c) == 0  # does not fit on two nodes
    assert node_guess(job(num_tasks=8, tasks_set=True), c) == 2
    n3.flags &= ~NodeStateFlag.DRAIN
    c.node_changed(n3)
    assert node_guess(job(num_tasks=12, tasks_set=True), c) == 3


def test_shapes_are_told_apart() -> None:
    c = make_cluster()
    assert node_guess(job(num_tasks=4, tasks_set=True), c) == 1
    assert node_guess(job(num_tasks=5, tasks_set=True), c) == 2
    assert node_guess(job(num_tasks=4, tasks_set=True, cpus_per_task=2), c) == 2
    assert node_guess(job(min_nodes=3), c) == 3


def test_a_job_with_a_node_list_is_never_remembered() -> None:
    c = make_cluster()
    assert node_guess(job(exc_nodes="n1,n2", num_tasks=4, tasks_set=True), c) == 1
    assert node_guess(job(exc_nodes="n1,n2,n3", num_tasks=4, tasks_set=True), c) == 0
