"""Submit validation: from a job_desc (as sbatch packs it) to a job, with slurmctld 22.05's checks.

The job_desc values below are the ones real sbatch sends for the options named in each test
(observed on the wire); the expected numbers are what slurmctld showed for them (MinCPUsNode,
NumTasks, TRES, reasons and error texts).
"""

from __future__ import annotations

import textwrap

import pytest

from flurm.config import parse_text
from flurm.controller.submit import (
    build_job,
    node_config_rejection,
    parse_array,
    reject_as_failed,
    tres_req_string,
    waits_for_partition_config,
)
from flurm.errors import SlurmError
from flurm.protocol.constants import (
    MEM_PER_CPU,
    NICE_OFFSET,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    JobFlag,
    JobState,
    JobStateReason,
    NodeState,
    SlurmRC,
)
from flurm.protocol.messages.job_desc import JobDesc
from flurm.state.cluster import Cluster
from flurm.state.model import Job

T0 = 1_000_000
CONF = """\
ClusterName=test
SlurmctldHost=ctl(10.0.0.1)
MaxArraySize=1001
NodeName=n[1-2] CPUs=2 Sockets=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=short Nodes=n2 MaxTime=5 MaxNodes=1 DefaultTime=2 State=UP
"""


@pytest.fixture
def cluster() -> Cluster:
    c = Cluster(parse_text(textwrap.dedent(CONF)), None, clock=lambda: T0)
    for node in c.node_list:
        node.registered = True
        node.base_state = NodeState.IDLE
    return c


def desc(**kw: object) -> JobDesc:
    """A job_desc as ``sbatch --wrap true`` sends it, with changes."""
    base: dict[str, object] = dict(script="#!/bin/sh\ntrue\n", name="wrap", min_cpus=1, work_dir="/tmp")
    base.update(kw)
    return JobDesc(**base)  # type: ignore[arg-type]


def build(cluster: Cluster, d: JobDesc, uid: int = 0) -> tuple[Job, int]:
    job, _, code = build_job(d, uid, uid, uid == 0, cluster, "localhost", T0)
    return job, code


def refused(cluster: Cluster, d: JobDesc, uid: int = 0) -> SlurmError:
    with pytest.raises(SlurmError) as info:
        build(cluster, d, uid)
    return info.value


# -- refusals that use no job id --------------------------------------------------------------------


def test_invalid_partition_names_it(cluster: Cluster) -> None:
    err = refused(cluster, desc(partition="nosuch"))
    assert err.rc == SlurmRC.ESLURM_INVALID_PARTITION_NAME
    assert err.message == "invalid partition specified: nosuch"


def test_invalid_node_names(cluster: Cluster) -> None:
    assert refused(cluster, desc(req_nodes="n9")).rc == SlurmRC.ESLURM_INVALID_NODE_NAME
    assert refused(cluster, desc(exc_nodes="n[1-3]")).rc == SlurmRC.ESLURM_INVALID_NODE_NAME


def test_array_specifications(cluster: Cluster) -> None:
    assert list(parse_array("1-3").task_ids) == [1, 2, 3]
    assert list(parse_array("0-10:5%1").task_ids) == [0, 5, 10]
    assert parse_array("0-10:5%1").max_running == 1
    assert list(parse_array("1-3,7").task_ids) == [1, 2, 3, 7]
    assert list(parse_array("[1-2]").task_ids) == [1, 2]
    for bad in ("1-2000", "5-1", "x", "1-3%x", "%2"):
        with pytest.raises(SlurmError) as info:
            parse_array(bad, 1001)
        assert info.value.rc == SlurmRC.ESLURM_INVALID_ARRAY
    assert refused(cluster, desc(array_inx="1-2000")).rc == SlurmRC.ESLURM_INVALID_ARRAY


def test_bad_dependency_syntax(cluster: Cluster) -> None:
    assert refused(cluster, desc(dependency="afterwards:3")).rc == SlurmRC.ESLURM_DEPENDENCY


def test_users_may_not_lower_nice(cluster: Cluster) -> None:
    assert refused(cluster, desc(nice=NICE_OFFSET - 5), uid=1000).rc == SlurmRC.ESLURM_INVALID_NICE
    job, _ = build(cluster, desc(nice=NICE_OFFSET - 5), uid=0)
    assert job.nice == -5


def test_a_users_priority_is_ignored_an_operators_kept(cluster: Cluster) -> None:
    job, _ = build(cluster, desc(priority=5), uid=1000)
    assert job.priority == 0xFFFFFFFE  # NO_VAL: the next priority will be given
    job, _ = build(cluster, desc(priority=5), uid=0)
    assert job.priority == 5


def test_hold_at_submit(cluster: Cluster) -> None:
    job, code = build(cluster, desc(priority=0), uid=1000)
    assert job.priority == 0 and job.state_reason == JobStateReason.WAIT_HELD_USER
    assert code == SlurmRC.ESLURM_JOB_HELD


# -- the job's numbers ------------------------------------------------------------------------------


def test_defaults(cluster: Cluster) -> None:
    job, code = build(cluster, desc())
    assert code == 0
    assert (job.min_nodes, job.max_nodes, job.min_cpus, job.pn_min_cpus, job.cpus_per_task) == (1, 0, 1, 1, 1)
    assert not job.tasks_set and job.num_tasks == 1
    assert job.partition == "debug" and job.bitflags & JobFlag.JOB_PART_ASSIGNED
    assert job.bitflags & JobFlag.JOB_DEPENDENT  # until the first dependency test
    assert job.tres_req == "cpu=1,mem=1000M,node=1,billing=1"
    assert job.last_sched_eval == T0 and job.eligible_time == 0


def test_ntasks_per_node_raises_min_cpus_per_node(cluster: Cluster) -> None:
    # sbatch --ntasks-per-node 2: num_tasks=2, min_cpus=2
    job, _ = build(cluster, desc(num_tasks=2, ntasks_per_node=2, min_cpus=2))
    assert job.pn_min_cpus == 2 and job.num_tasks == 2 and job.tasks_set
    # sbatch -n 2 --ntasks-per-node 1
    job, _ = build(cluster, desc(num_tasks=2, ntasks_per_node=1, min_cpus=2))
    assert job.pn_min_cpus == 1
    # with overcommit the per-node CPUs stay 1
    job, _ = build(cluster, desc(num_tasks=2, ntasks_per_node=2, min_cpus=1, overcommit=1))
    assert job.pn_min_cpus == 1


def test_cpus_per_task(cluster: Cluster) -> None:
    # sbatch -n 2 -c 2: pn_min_cpus=2, min_cpus=4
    job, _ = build(cluster, desc(num_tasks=2, cpus_per_task=2, pn_min_cpus=2, min_cpus=4))
    assert (job.cpus_per_task, job.pn_min_cpus, job.min_cpus) == (2, 2, 4)
    assert job.tres_req == "cpu=4,mem=1000M,node=1,billing=4"


def test_nodes_and_required_nodes(cluster: Cluster) -> None:
    job, _ = build(cluster, desc(min_nodes=2, max_nodes=2, min_cpus=2))
    assert job.tres_req == "cpu=2,mem=2000M,node=2,billing=2"
    # -w n[1-2] alone: the required nodes count as nodes and CPUs
    job, _ = build(cluster, desc(req_nodes="n[1-2]"))
    assert (job.min_nodes, job.min_cpus) == (2, 2)
    assert refused(cluster, desc(min_nodes=3, max_nodes=2)).rc == SlurmRC.ESLURM_INVALID_NODE_COUNT


def test_memory_in_the_requested_tres(cluster: Cluster) -> None:
    job, _ = build(cluster, desc(pn_min_memory=500))
    assert job.mem_set and job.bitflags & JobFlag.JOB_MEM_SET
    assert job.tres_req == "cpu=1,mem=500M,node=1,billing=1"
    job, _ = build(cluster, desc(pn_min_memory=MEM_PER_CPU | 200, num_tasks=2, min_cpus=2))
    assert job.tres_req == "cpu=2,mem=400M,node=1,billing=2"
    job, _ = build(cluster, desc(pn_min_memory=2048, min_nodes=2, max_nodes=2, min_cpus=2))
    assert tres_req_string(job, cluster) == "cpu=2,mem=4G,node=2,billing=2"


def test_partition_default_time(cluster: Cluster) -> None:
    job, _ = build(cluster, desc(partition="short"))
    assert job.time_limit == 2


def test_begin_time_in_the_future_is_the_eligible_time(cluster: Cluster) -> None:
    job, _ = build(cluster, desc(begin_time=T0 + 3600))
    assert job.begin_time == job.eligible_time == T0 + 3600
    job, _ = build(cluster, desc(begin_time=T0 - 10))
    assert job.begin_time == job.eligible_time == 0


# -- refusals after the job id: the node configuration ----------------------------------------------


def test_node_configuration_refusals(cluster: Cluster) -> None:
    job, _ = build(cluster, desc(cpus_per_task=4, pn_min_cpus=4, min_cpus=4))
    assert node_config_rejection(job, cluster) == "CPU count per node can not be satisfied"
    job, _ = build(cluster, desc(num_tasks=3, ntasks_per_node=3, min_cpus=3))
    assert node_config_rejection(job, cluster) == "CPU count per node can not be satisfied"
    job, _ = build(cluster, desc(pn_min_memory=1001))
    assert node_config_rejection(job, cluster) == "Memory specification can not be satisfied"
    # --mem-per-cpu=600 -c 2 is accepted: slurmctld compares the per-CPU figure
    job, _ = build(cluster, desc(pn_min_memory=MEM_PER_CPU | 600, cpus_per_task=2, pn_min_cpus=2, min_cpus=2))
    assert node_config_rejection(job, cluster) is None
    # -N 2 -n 5 is queued (PartitionConfig), not refused: the partition's limits stop it first
    job, _ = build(cluster, desc(min_nodes=2, max_nodes=2, num_tasks=5, min_cpus=5))
    assert node_config_rejection(job, cluster) is None


V22, V24, V26 = SLURM_22_05_PROTOCOL_VERSION, SLURM_24_11_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION


def test_what_only_the_partition_limits_keep_out_per_release(cluster: Cluster) -> None:
    # -N3 (debug has 2 nodes), -n5 (4 CPUs): 22.05 and 26.05 queue them untested, and the client
    # hears ESLURM_REQUESTED_PART_CONFIG_UNAVAILABLE; 24.11 tests every partition and refuses them
    for d in (desc(min_nodes=3), desc(num_tasks=5, min_cpus=5)):
        job, _ = build(cluster, d)
        for version in (V22, V26):
            assert node_config_rejection(job, cluster, version) is None
            assert waits_for_partition_config(job, cluster, version)
        assert node_config_rejection(job, cluster, V24) == ""  # (no message of its own)
    # past the partition's MaxTime, the nodes fit: 22.05 queues it untested, 24.11 and 26.05
    # test it and queue it without telling
    job, _ = build(cluster, desc(partition="short", time_limit=10))
    assert waits_for_partition_config(job, cluster, V22)
    for version in (V24, V26):
        assert node_config_rejection(job, cluster, version) is None
        assert not waits_for_partition_config(job, cluster, version)
    # the limits let it in: nobody waits for the partition, too few nodes once excluded refuse
    job, _ = build(cluster, desc(min_nodes=2))
    assert not any(waits_for_partition_config(job, cluster, v) for v in (V22, V24, V26))
    job, _ = build(cluster, desc(min_nodes=2, exc_nodes="n1"))
    assert all(node_config_rejection(job, cluster, v) == "" for v in (V22, V24, V26))


def test_the_record_a_refusal_leaves(cluster: Cluster) -> None:
    job, _ = build(cluster, desc(pn_min_memory=5000))
    reject_as_failed(job, T0 + 1)
    assert job.state == JobState.FAILED and job.state_reason == JobStateReason.FAIL_BAD_CONSTRAINTS
    assert job.exit_code == 1  # ExitCode=0:1
    assert job.start_time == job.end_time == T0 + 1
