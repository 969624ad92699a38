"""Sockets, cores and threads of a job (state/multicore.py) and how the scheduler allocates with them,
on nodes of 2 sockets x 2 cores x 2 threads: the placements slurmctld 22.05 (select/cons_tres,
CR_Core) gives the same jobs (tests/integration/test_parity_multicore.py compares them live)."""

from __future__ import annotations

import textwrap

from flurm.config import parse_text
from flurm.protocol.constants import INFINITE16, MEM_PER_CPU, NO_VAL16, NodeState
from flurm.protocol.messages.job_info import MultiCore
from flurm.scheduler import scheduler
from flurm.scheduler.scheduler import plan, request_pass
from flurm.state import multicore
from flurm.state.cluster import Cluster
from flurm.state.model import Job

T0 = 1_000_000
CONF = """\
ClusterName=test
SlurmctldHost=ctl(10.0.0.1)
SelectTypeParameters=CR_Core
NodeName=n[1-2] CPUs=8 Sockets=2 CoresPerSocket=2 ThreadsPerCore=2 RealMemory=1000 TmpDisk=100
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def make_cluster() -> Cluster:
    cluster = Cluster(parse_text(textwrap.dedent(CONF)), None, clock=lambda: T0)
    for node in cluster.node_list:
        node.registered = True
        node.base_state = NodeState.IDLE
    return cluster


def add(cluster: Cluster, tasks: int = 1, **kw: object) -> Job:
    jid = max(cluster.jobs, default=0) + 1
    fields: dict[str, object] = dict(
        job_id=jid,
        name=f"j{jid}",
        user_id=1000,
        group_id=1000,
        partition="debug",
        script="#!/bin/sh\n",
        submit_time=T0,
        eligible_time=T0,
        priority=100_000 - jid,
        list_seq=jid,
        num_tasks=tasks,
        tasks_set=True,
        min_cpus=tasks,
    )
    fields.update(kw)
    job = Job(**fields)  # type: ignore[arg-type]
    cluster.add_job(job)
    return job


def start_all(cluster: Cluster) -> None:
    request_pass(cluster)
    for d in plan(cluster, T0).starts:
        cluster.start_job(d.job, d.alloc, T0)


def placed(job: Job) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...], tuple[int, ...]]:
    return job.nodes, job.cores_alloc, job.cpus_alloc


def test_usable_cpus_per_core() -> None:
    c = make_cluster()
    node = c.nodes["n1"]
    assert multicore.cpus_per_core(add(c), node) == 2
    assert multicore.cpus_per_core(add(c, threads_per_core=1), node) == 1
    assert multicore.cpus_per_core(add(c, ntasks_per_core=1), node) == 1
    assert multicore.cpus_per_core(add(c, ntasks_per_core=1, cpus_per_task=2), node) == 2
    assert multicore.cpus_per_core(add(c, ntasks_per_core=INFINITE16), node) == 2  # --hint=multithread


def test_a_plain_job_fills_the_threads_of_a_core() -> None:
    c = make_cluster()
    job = add(c, 2)
    start_all(c)
    assert placed(job) == (("n1",), ((0,),), (2,))


def test_one_thread_per_core_takes_whole_cores_one_socket_after_the_other() -> None:
    c = make_cluster()
    nomultithread = add(c, 2, threads_per_core=1)
    per_core = add(c, 2, ntasks_per_core=1)
    start_all(c)
    # cores 0 (socket 0) and 2 (socket 1): CPUs 0-1,4-5, NumCPUs 4
    assert placed(nomultithread) == (("n1",), ((0, 2),), (4,))
    assert placed(per_core) == (("n1",), ((1, 3),), (4,))
    # the tasks count one CPU per core
    assert multicore.cpu_array(nomultithread, c.nodes) == (2,)
    assert multicore.cpu_array(per_core, c.nodes) == (4,)


def test_several_cpus_per_task_fill_a_socket_first() -> None:
    c = make_cluster()
    job = add(c, 1, cpus_per_task=3, pn_min_cpus=3, min_cpus=3, threads_per_core=1)
    start_all(c)
    assert placed(job) == (("n1",), ((0, 1, 2),), (6,))


def test_tasks_beyond_a_node_spill_over() -> None:
    c = make_cluster()
    job = add(c, 5, threads_per_core=1)
    start_all(c)
    assert placed(job) == (("n1", "n2"), ((0, 1, 2, 3), (0,)), (8, 2))


def test_cores_per_socket_passes_over_a_node_without_such_a_socket() -> None:
    c = make_cluster()
    first = add(c, 3, threads_per_core=1, req_nodes="n1")
    start_all(c)
    assert placed(first) == (("n1",), ((0, 1, 2),), (6,))
    job = add(c, 1, cores_per_socket=2)
    start_all(c)
    assert placed(job)[0] == ("n2",)


def test_sockets_per_node() -> None:
    c = make_cluster()
    job = add(c, 2, sockets_per_node=2, cores_per_socket=1, threads_per_core=1)
    start_all(c)
    assert placed(job) == (("n1",), ((0, 2),), (4,))


def test_what_no_node_has_is_a_configuration_error() -> None:
    c = make_cluster()
    nodes = c.node_list
    shape = multicore.SHAPE_ERROR
    assert scheduler.node_config_error(add(c, threads_per_core=4), nodes) == shape
    assert scheduler.node_config_error(add(c, sockets_per_node=3), nodes) == shape
    assert scheduler.node_config_error(add(c, cores_per_socket=3), nodes) == shape
    assert scheduler.node_config_error(add(c, threads_per_core=2, sockets_per_node=2), nodes) is None
    tmp = "Temporary disk specification can not be satisfied"
    assert scheduler.node_config_error(add(c, pn_min_tmp_disk=101), nodes) == tmp
    assert scheduler.node_config_error(add(c, pn_min_tmp_disk=100), nodes) is None


def test_an_imported_job_keeps_its_options() -> None:
    c = make_cluster()
    job = add(c, 2)
    saved = MultiCore(sockets_per_node=2, threads_per_core=1, ntasks_per_core=INFINITE16)
    multicore.take_saved(job, saved, 50)
    assert (job.sockets_per_node, job.threads_per_core, job.pn_min_tmp_disk) == (2, 1, 50)
    assert multicore.cpus_per_core(job, c.nodes["n1"]) == 1


def test_memory_per_cpu_counts_whole_cores_or_the_threads_asked_for() -> None:
    c = make_cluster()
    c.memory_is_consumable = True
    per_cpu = MEM_PER_CPU | 100
    plain = add(c, 3, pn_min_memory=per_cpu)  # 2 cores, 4 CPUs
    one_thread = add(c, 2, threads_per_core=1, pn_min_memory=per_cpu)  # 2 cores, 2 threads counted
    start_all(c)
    assert (plain.cpus_alloc, plain.mem_alloc) == ((4,), (400,))
    assert (one_thread.cpus_alloc, one_thread.mem_alloc) == ((4,), (200,))


def test_a_step_takes_a_core_per_thread_it_may_use() -> None:
    c = make_cluster()
    node = c.nodes["n1"]
    assert multicore.step_cpus_per_core(NO_VAL16, add(c), node) == 2
    assert multicore.step_cpus_per_core(NO_VAL16, add(c, threads_per_core=1), node) == 1  # the job's hint
    assert multicore.step_cpus_per_core(1, add(c), node) == 1  # srun --hint=nomultithread
    assert multicore.step_cpus_per_core(2, add(c, threads_per_core=1), node) == 2
