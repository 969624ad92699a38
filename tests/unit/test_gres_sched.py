"""GRES jobs at submit and in the scheduler, as slurmctld 22.05 (select/cons_tres) handles them.

The cluster is the harness' two GPU types (harness/gres.py two_gpu_types): n1 Gres=gpu:tesla:2, n2
Gres=gpu:k80:2, each 2 sockets x 2 cores with GPU i close to socket i (gres.conf Cores=0-1, 2-3). The
expected placements are those real slurmctld 22.05 chose for the same jobs (gres-facts: gres-sched).
"""

from __future__ import annotations

import textwrap

import pytest

from flurm.config import parse_text
from flurm.controller.submit import build_job, check_gres, node_config_rejection
from flurm.errors import SlurmError
from flurm.protocol.constants import JobState, JobStateReason, NodeState, NodeStateFlag, SlurmRC
from flurm.protocol.messages.job_desc import JobDesc
from flurm.scheduler import gres_fit
from flurm.scheduler.scheduler import node_not_avail, plan, request_pass
from flurm.state import gres, gres_node
from flurm.state.cluster import Cluster
from flurm.state.gres import GresTopo, GresUse
from flurm.state.model import Job

R = JobStateReason
T0 = 1_000_000
CONF = """\
ClusterName=test
SlurmctldHost=ctl(10.0.0.1)
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=bf_interval=30
GresTypes=gpu,shard
NodeName=n1 CPUs=4 Sockets=2 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000 Gres=gpu:tesla:2
NodeName=n2 CPUs=4 Sockets=2 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000 Gres=gpu:k80:2
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def make_cluster(topology: bool = True) -> Cluster:
    """The cluster; with ``topology`` its slurmds registered their gres.conf (devices and cores)."""
    c = Cluster(parse_text(textwrap.dedent(CONF)), None, clock=lambda: T0)
    for node in c.node_list:
        node.registered = True
        node.base_state = NodeState.IDLE
        if topology:
            g = node.gres_inv["gpu"]
            gtype = "tesla" if node.name == "n1" else "k80"
            g.found = 2
            g.bit_count = 2
            g.topo = (GresTopo(gtype, 1, (0,), (0, 1)), GresTopo(gtype, 1, (1,), (2, 3)))
    return c


def add(c: Cluster, **kw: object) -> Job:
    jid = max(c.jobs, default=0) + 1
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
    )
    fields.update(kw)
    job = Job(**fields)  # type: ignore[arg-type]
    c.add_job(job)
    return job


def cycle(c: Cluster, now: int = T0) -> list[Job]:
    request_pass(c)
    out = plan(c, now)
    for d in out.starts:
        c.start_job(d.job, d.alloc, now)
    return [d.job for d in out.starts]


def held(job: Job) -> list[tuple[str, tuple[GresUse, ...]]]:
    return list(zip(job.nodes, job.gres_alloc, strict=True))


def tesla(*bits: int) -> GresUse:
    return GresUse("gpu", "tesla", len(bits), bits)


def k80(*bits: int) -> GresUse:
    return GresUse("gpu", "k80", len(bits), bits)


# -- placement ----------------------------------------------------------------------------------------


def test_gpus_are_packed_and_the_cores_follow_the_device() -> None:
    c = make_cluster()
    a = add(c, tres_per_node="gres:gpu:1")
    b = add(c, tres_per_node="gres:gpu:1", cpus_per_task=2, min_cpus=2, pn_min_cpus=2)
    k = add(c, tres_per_node="gres:gpu:k80:1", cpus_per_task=3, min_cpus=3, pn_min_cpus=3)
    assert cycle(c) == [a, b, k]
    # slurmctld: job 1 CPU_IDs=0 IDX:0, job 2 CPU_IDs=2-3 IDX:1 (best fit: the node with fewer CPUs
    # free), job 3 on the k80 node CPU_IDs=0-2 IDX:0; an untyped request is held as the node's type
    assert held(a) == [("n1", (tesla(0),))] and a.cores_alloc == ((0,),)
    assert held(b) == [("n1", (tesla(1),))] and b.cores_alloc == ((2, 3),)
    assert held(k) == [("n2", (k80(0),))] and k.cores_alloc == ((0, 1, 2),)
    inv = c.nodes["n1"].gres_inv["gpu"]
    assert (inv.alloc, inv.type_alloc, inv.bit_alloc) == (2, {"tesla": 2}, {0: 1, 1: 1})


def test_the_core_close_to_the_free_device_is_taken() -> None:
    # slurmctld: n2's GPU 0 and core 0 held, a --gres=gpu:1 job gets GPU 1 and core 2 (not core 1)
    c = make_cluster()
    add(c, tres_per_node="gres:gpu:tesla:2", cpus_per_task=4, min_cpus=4, pn_min_cpus=4)
    first = add(c, tres_per_node="gres:gpu:k80:1")
    cycle(c)
    assert held(first) == [("n2", (k80(0),))]
    job = add(c, tres_per_node="gres:gpu:1")
    assert cycle(c) == [job]
    assert held(job) == [("n2", (k80(1),))] and job.cores_alloc == ((2,),)


def test_gpus_busy_resources_then_priority_though_cpus_are_free() -> None:
    c = make_cluster()
    add(c, tres_per_node="gres:gpu:2")
    add(c, tres_per_node="gres:gpu:2")
    cycle(c)
    wait = add(c, tres_per_node="gres:gpu:1")
    behind = add(c)  # no GPU, CPUs free: still Priority behind the blocked partition
    assert cycle(c) == []
    assert (wait.state_reason, behind.state_reason) == (R.WAIT_RESOURCES, R.WAIT_PRIORITY)


def test_gpus_per_job_spread_over_nodes_in_order() -> None:
    c = make_cluster()
    job = add(c, tres_per_job="gres:gpu:3")
    assert cycle(c) == [job]
    # slurmctld: compute-node-1 gpu:tesla:2(IDX:0-1), compute-node-2 gpu:k80:1(IDX:0), one CPU each
    assert held(job) == [("n1", (tesla(0, 1),)), ("n2", (k80(0),))]
    assert job.cpus_alloc == (1, 1)


def test_gpus_per_job_go_to_one_node_that_holds_them_all() -> None:
    # slurmctld: --cpus-per-gpu=2 --gpus=1 on n1 (GPU 0), then --mem-per-gpu=100 --gpus=2 on n2 alone
    c = make_cluster()
    one = add(c, tres_per_job="gres:gpu:1", cpus_per_tres="gres:gpu:2")
    two = add(c, tres_per_job="gres:gpu:2", mem_per_tres="gres:gpu:100")
    assert cycle(c) == [one, two]
    assert held(one) == [("n1", (tesla(0),))] and one.cpus_alloc == (2,)
    assert held(two) == [("n2", (k80(0, 1),))] and two.cpus_alloc == (1,)


def test_gpus_per_task_limit_the_tasks_of_a_node() -> None:
    c = make_cluster()
    job = add(c, tres_per_task="gres:gpu:1", num_tasks=3, tasks_set=True, min_cpus=3)
    assert cycle(c) == [job]
    # slurmctld: n1 two tasks (CPU_IDs=0,2, IDX:0-1), n2 one (IDX:0)
    assert held(job) == [("n1", (tesla(0, 1),)), ("n2", (k80(0),))]
    assert job.cores_alloc == ((0, 2), (0,))


def test_gpus_per_socket() -> None:
    c = make_cluster()
    two = add(c, tres_per_socket="gres:gpu:1", sockets_per_node=2)
    one = add(c, tres_per_socket="gres:gpu:1", sockets_per_node=1)
    assert cycle(c) == [two, one]
    assert held(two) == [("n1", (tesla(0, 1),))]
    assert held(one) == [("n2", (k80(0),))]


def test_best_fit_counts_the_cores_of_the_sockets_near_free_gpus() -> None:
    # slurmctld (gres-views scenario): with GPU 1 and core 2 held on n1, GPU 1 and cores 2-3 on n2,
    # a --gpus-per-socket=1 --sockets-per-node=1 job goes to n1: its first pass counts on each node
    # only the cores of socket 0 (the one near the free GPU), 2 on both, and the first node wins,
    # though n1 has 3 CPUs free in all and n2 2; a tesla job behind it then waits (Resources)
    c = make_cluster()
    both = add(c, tres_per_node="gres:gpu:1", min_nodes=2, max_nodes=2)
    add(c, tres_per_job="gres:gpu:k80:1", cpus_per_tres="gres:gpu:2")
    add(c, tres_per_node="gres:gpu:1")
    cycle(c)
    assert [j.cores_alloc for j in c.jobs.values()] == [((0,), (0,)), ((2, 3),), ((2,),)]
    socket = add(c, tres_per_socket="gres:gpu:1", sockets_per_node=1)
    teslas = add(c, tres_per_node="gres:gpu:tesla:1")
    assert cycle(c) == []
    both.state = JobState.CANCELLED
    c.release(both)
    assert cycle(c) == [socket]
    assert held(socket) == [("n1", (tesla(0),))] and socket.cores_alloc == ((0,),)
    assert teslas.state_reason == R.WAIT_RESOURCES


def test_first_pass_cores() -> None:
    c = make_cluster()
    n1 = c.nodes["n1"]
    inv = n1.gres_inv
    inv["gpu"].bit_alloc = {1: 1}
    inv["gpu"].alloc = 1
    inv["gpu"].type_alloc = {"tesla": 1}
    per_socket = gres_fit.requests_of(add(c, tres_per_socket="gres:gpu:1", sockets_per_node=1))
    per_node = gres_fit.requests_of(add(c, tres_per_node="gres:gpu:1"))
    # socket 1 has no free GPU: its free core goes, down to what the job's tasks need
    assert gres_fit.first_pass_cores(per_socket, inv, n1, {0, 1, 3}, 1) == {0, 1}
    assert gres_fit.first_pass_cores(per_node, inv, n1, {0, 1, 3}, 1) == {0, 1}
    assert gres_fit.first_pass_cores(per_node, inv, n1, {3}, 1) == {3}
    # both GPUs free: the socket with most free cores first, and once it holds the count per node
    # the other socket's cores go
    inv["gpu"].bit_alloc, inv["gpu"].alloc, inv["gpu"].type_alloc = {}, 0, {}
    assert gres_fit.first_pass_cores(per_node, inv, n1, {0, 2, 3}, 1) == {2, 3}
    # without a count per node every socket near a free GPU is kept
    assert gres_fit.first_pass_cores(per_socket, inv, n1, {0, 2, 3}, 1) == {0, 2, 3}


def test_a_job_without_gres_holds_none_and_leaves_them_free() -> None:
    c = make_cluster()
    job = add(c, num_tasks=4, tasks_set=True, min_cpus=4)
    gpu = add(c, tres_per_node="gres:gpu:2")
    assert cycle(c) == [job, gpu]
    assert job.gres_alloc == () and job.nodes == ("n1",)
    assert held(gpu) == [("n2", (k80(0, 1),))]


def test_count_only_gres_before_registration() -> None:
    # no topology yet (slurm.conf only): counts per type, no devices
    c = make_cluster(topology=False)
    job = add(c, tres_per_node="gres:gpu:2")
    other = add(c, tres_per_node="gres:gpu:tesla:1")
    assert cycle(c) == [job]
    assert held(job) == [("n1", (GresUse("gpu", "tesla", 2),))]
    assert other.state_reason == R.WAIT_RESOURCES  # the teslas are held, whatever the request's type


def test_backfill_reserves_where_gpus_free_up() -> None:
    c = make_cluster()
    long = add(c, tres_per_node="gres:gpu:tesla:2", time_limit=10)
    add(c, tres_per_node="gres:gpu:k80:1", time_limit=5)
    cycle(c)
    long.end_time = T0 + 600
    big = add(c, tres_per_job="gres:gpu:3", time_limit=10)
    short = add(c, tres_per_node="gres:gpu:1", time_limit=2)
    late = add(c, tres_per_node="gres:gpu:1", time_limit=30)
    out = plan(c, T0 + 31)  # the backfill interval has passed
    started = [d.job for d in out.starts]
    # the short job ends before the --gpus=3 job could start: backfilled onto the free k80; the long
    # one would delay it
    assert started == [short]
    assert big.start_time == T0 + 600 and big.sched_nodes == "n[1-2]"
    assert late not in started


def test_backfill_plans_where_the_first_ends_make_room() -> None:
    # slurmctld (test_parity_gres backfill scenario): the --gpus=3 job holds both nodes from the end
    # of the first two; a 30 min --gres=gpu:1 job is planned after it on n2, where the 2 min job
    # backfilled onto k80 1 makes room first (its will-run test takes the running jobs away, the first
    # to end first), and a tesla job then fits on n1 at the same time
    c = make_cluster()
    teslas = add(c, tres_per_node="gres:gpu:tesla:2", time_limit=5)
    k = add(c, tres_per_node="gres:gpu:k80:1", time_limit=5)
    cycle(c)
    teslas.end_time = k.end_time = T0 + 300
    big = add(c, tres_per_job="gres:gpu:3", time_limit=10)
    short = add(c, tres_per_node="gres:gpu:1", time_limit=2)
    late = add(c, tres_per_node="gres:gpu:1", time_limit=30)
    tesla_job = add(c, tres_per_node="gres:gpu:tesla:1", time_limit=2)
    out = plan(c, T0 + 31)
    assert [d.job for d in out.starts] == [short]
    assert (big.start_time, big.sched_nodes) == (T0 + 300, "n[1-2]")
    assert (late.start_time, late.sched_nodes) == (T0 + 900, "n2")
    assert (tesla_job.start_time, tesla_job.sched_nodes) == (T0 + 900, "n1")


# -- submit -------------------------------------------------------------------------------------------


def desc(**kw: object) -> JobDesc:
    base: dict[str, object] = dict(script="#!/bin/sh\ntrue\n", name="wrap", min_cpus=1, work_dir="/tmp")
    base.update(kw)
    return JobDesc(**base)  # type: ignore[arg-type]


INVALID = SlurmRC.ESLURM_INVALID_GRES


@pytest.mark.parametrize(
    ("fields", "rc"),
    [
        ({"tres_per_node": "gres:foo:1"}, INVALID),  # not in GresTypes
        ({"tres_per_node": "gres:gpu:2,gres:gpu:tesla:1"}, SlurmRC.ESLURM_INVALID_GRES_TYPE),
        ({"tres_per_job": "gres:gpu:1", "tres_per_node": "gres:gpu:2"}, INVALID),  # --gpus < per node
        ({"tres_per_socket": "gres:gpu:1"}, INVALID),  # without --sockets-per-node
        ({"mem_per_tres": "gres:gpu:100"}, INVALID),  # memory per GPU without a GPU
        ({"tres_per_node": "gres:gpu:tesla:1:2"}, INVALID),
        ({"tres_per_job": "gres:gpu:3", "tres_per_task": "gres:gpu:2", "num_tasks": 2}, INVALID),
        ({"tres_per_job": "gres:gpu:1", "min_nodes": 2}, INVALID),  # --gpus < -N
        ({"tres_per_node": "gres:shard:1,gres:gpu:1"}, INVALID),  # GPUs and their shares
    ],
)
def test_invalid_gres_requests(fields: dict[str, object], rc: int) -> None:
    c = make_cluster()
    with pytest.raises(SlurmError) as err:
        check_gres(desc(**fields), c)
    assert err.value.rc == rc


def test_unsupported_without_cons_tres() -> None:
    # (GresTypes without shard: slurmctld refuses a shared GRES without select/cons_tres)
    conf = CONF.replace("select/cons_tres", "select/linear").replace("GresTypes=gpu,shard", "GresTypes=gpu")
    c = Cluster(parse_text(textwrap.dedent(conf)), None)
    with pytest.raises(SlurmError) as err:
        check_gres(desc(tres_per_job="gres:gpu:1"), c)
    assert err.value.rc == SlurmRC.ESLURM_UNSUPPORTED_GRES
    check_gres(desc(tres_per_node="gres:gpu:1"), c)  # --gres alone is any select plugin's


def built(c: Cluster, **fields: object) -> Job:
    job, _, _ = build_job(desc(**fields), 0, 0, True, c, "localhost", T0)
    job.priority = 1 if fields.get("priority") != 0 else 0
    return job


@pytest.mark.parametrize(
    "fields",
    [
        {"tres_per_node": "gres:gpu:3"},
        {"tres_per_node": "gres:gpu:tesla:3"},
        {"tres_per_node": "gres:gpu:foo:1"},  # a type no node has
        {"tres_per_node": "gres:gpu:-1"},  # (a "type" -1, as slurmctld parses it)
        {"tres_per_node": "gres:gpu:tesla:1,gres:gpu:k80:1"},
        {"tres_per_job": "gres:gpu:5"},
        {"tres_per_job": "gres:gpu:3", "min_nodes": 1, "max_nodes": 1},
        {"tres_per_task": "gres:gpu:3", "num_tasks": 1},
        {"tres_per_task": "gres:gpu:1", "num_tasks": 3, "min_nodes": 1, "max_nodes": 1},
        {"tres_per_socket": "gres:gpu:2", "sockets_per_node": 1},
        {"tres_per_job": "gres:gpu:1", "cpus_per_tres": "gres:gpu:5"},
        {"tres_per_job": "gres:gpu:2", "cpus_per_tres": "gres:gpu:3", "min_nodes": 1, "max_nodes": 1},
        {"tres_per_node": "gres:gpu:tesla:1", "req_nodes": "n2"},
        {"tres_per_node": "gres:gpu:tesla:2", "min_nodes": 2},
    ],
)
def test_never_satisfiable_is_refused_without_a_message(fields: dict[str, object]) -> None:
    c = make_cluster()
    assert node_config_rejection(built(c, **fields), c) == ""
    # held at submit (priority 0): slurmctld accepts it (its GRES are not tested)
    assert node_config_rejection(built(c, priority=0, **fields), c) is None


@pytest.mark.parametrize(
    "fields",
    [
        {"tres_per_node": "gres:gpu:0"},
        {"tres_per_job": "gres:gpu:4"},
        {"tres_per_job": "gres:gpu:1", "mem_per_tres": "gres:gpu:2000"},  # CR_Core: memory not counted
        {"tres_per_node": "gres:gpu:2", "tres_per_task": "gres:gpu:1", "num_tasks": 2},
        {"tres_per_socket": "gres:gpu:1", "sockets_per_node": 2},
    ],
)
def test_satisfiable_is_accepted(fields: dict[str, object]) -> None:
    c = make_cluster()
    assert node_config_rejection(built(c, **fields), c) is None


def test_requests_parse_once_and_survive_bad_text() -> None:
    job = Job(job_id=1, name="x", user_id=0, group_id=0, partition="debug", tres_per_node="gres:gpu:1")
    assert gres_fit.requests_of(job) == (gres.GresRequest("gpu", per_node=1, total=1),)
    bad = Job(job_id=2, name="x", user_id=0, group_id=0, partition="debug", tres_per_node="gres:gpu::1")
    assert gres_fit.requests_of(bad) is gres_fit.UNSATISFIABLE
    assert gres_fit.requests_of(Job(job_id=3, name="x", user_id=0, group_id=0, partition="d")) == ()


def test_take_untyped_on_typed_node_counts_the_type() -> None:
    inv = gres_node.inventory("gpu:tesla:1,gpu:k80:1", ["gpu"])
    g = inv["gpu"]
    got = gres.take(g, None, 2)
    assert got == (GresUse("gpu", "tesla", 1), GresUse("gpu", "k80", 1))
    assert got is not None
    gres.claim(inv, got)
    assert gres.free_count(g, "tesla") == 0 and gres.free_count(g, None) == 0


def test_a_type_only_a_drained_node_has_waits_with_req_node_not_avail() -> None:
    # slurmctld: --gres=gpu:k80:1 with the k80 node drained: PD "ReqNodeNotAvail, UnavailableNodes:n2",
    # and the partition stays open for the jobs behind it
    c = make_cluster()
    c.nodes["n2"].flags |= NodeStateFlag.DRAIN
    job = add(c, tres_per_node="gres:gpu:k80:1")
    other = add(c, tres_per_node="gres:gpu:1")
    assert cycle(c) == [other]
    assert job.state_reason == R.WAIT_NODE_NOT_AVAIL
    assert job.state_desc == "ReqNodeNotAvail, UnavailableNodes:n2"
    part = c.partitions["debug"]
    assert node_not_avail(other, part, c) is None
    c.nodes["n2"].flags &= ~NodeStateFlag.DRAIN
    assert node_not_avail(job, part, c) is None


def test_update_merges_with_the_jobs_requests() -> None:
    c = make_cluster()
    job = built(c, tres_per_node="gres:gpu:1", priority=0)
    c.add_job(job)

    def update(**fields: object) -> int:
        from flurm.controller.job_update import DetailUpdate

        u = DetailUpdate(job, JobDesc(**fields), c, True, T0)  # type: ignore[arg-type]
        rc = u.before_limits()
        return rc or u.after_limits(0)

    # real slurmctld 22.05, one after the other on a held --gres=gpu:1 job:
    assert update(tres_per_node="gres:gpu:2") == 0 and job.tres_per_node == "gres:gpu:2"
    # the untyped record stays: a typed one beside it is refused
    assert update(tres_per_node="gres:gpu:tesla:3") == SlurmRC.ESLURM_INVALID_GRES_TYPE
    assert update(tres_per_node="gres:bogus:1") == SlurmRC.ESLURM_INVALID_GRES
    assert update(tres_per_job="gres:gpu:1") == SlurmRC.ESLURM_INVALID_GRES  # below per node
    assert update(cpus_per_tres="gres:gpu:2") == 0
    assert update(mem_per_tres="gres:gpu:100") == SlurmRC.ESLURM_INVALID_GRES  # no GPU in this update
    assert update(tres_per_node="gres/gpu:1") == 0 and job.tres_per_node == "gres/gpu:1"
    assert update(tres_per_node="gres/bogus:1") == SlurmRC.ESLURM_INVALID_TRES
    assert update(cpus_per_tres="") == 0 and job.cpus_per_tres is None
    job.state = JobState.RUNNING
    assert update(tres_per_node="gres:gpu:2") == SlurmRC.ESLURM_JOB_NOT_PENDING


def test_an_exclusive_job_holds_all_the_gres_of_its_nodes() -> None:
    # slurmctld 22.05: --exclusive --gres=gpu:1 -> JOB_GRES=gpu:tesla:2 (IDX:0-1); --exclusive without
    # GRES -> gpu:k80:2 too; a --gres=gpu:1 job then waits (Resources)
    c = make_cluster()
    one = add(c, tres_per_node="gres:gpu:1", shared=0)
    plain = add(c, shared=0)
    assert cycle(c) == [one, plain]
    assert held(one) == [("n1", (tesla(0, 1),))]
    assert held(plain) == [("n2", (k80(0, 1),))]
    wait = add(c, tres_per_node="gres:gpu:1")
    assert cycle(c) == [] and wait.state_reason == R.WAIT_RESOURCES
