"""The job and step records flurm builds (accounting/records.py) are the ones real slurmctld 22.05 sent its
slurmdbd for the same jobs (tests/golden/dbd/22.05, conn1; outputs.txt): each job of the capture is
submitted, scheduled, run and ended in flurm's own state (submit checks, scheduler, the controller's
state changes) at the capture's times, and every record is compared field by field with the decoded
golden one. Only what slurmdbd answered (the db_index) is taken from the capture, as the sink would."""

from __future__ import annotations

import struct
import textwrap
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest

from flurm.accounting.records import (
    AcctCluster,
    AcctIds,
    aggregate_jobacct,
    batch_step_complete,
    batch_step_start,
    empty_jobacct,
    extern_step_start,
    forget_sent,
    job_complete,
    job_energy_after_step,
    job_start,
    job_suspend,
    job_tres_alloc,
    job_tres_req,
    jobs_to_record,
    mark_sent,
    step_complete,
    step_start,
    take_db_indexes,
)
from flurm.auth.authenticator import FakeAuthenticator
from flurm.config import parse_text
from flurm.controller.steps import Step
from flurm.controller.submit import build_job
from flurm.daemon import Daemon
from flurm.migration.saved_state import job_from_saved, take_accounting
from flurm.migration.statefile import decode_job_state
from flurm.protocol.constants import (
    INFINITE,
    NO_VAL,
    NO_VAL64,
    SLURM_BATCH_SCRIPT,
    SLURM_EXTERN_CONT,
    JobState,
    JobStateFlag,
    JobStateReason,
    NodeState,
)
from flurm.protocol.messages.dbd_jobs import (
    DBD_JOB_BODIES,
    DbdGotMultJobStart,
    DbdIdRc,
    DbdJobComplete,
    DbdJobStart,
    DbdJobSuspend,
    DbdMultJobStart,
    DbdMultMsg,
    DbdStepComplete,
    DbdStepStart,
    decode_dbd_msg,
    split_dbd_msg,
)
from flurm.protocol.messages.job_desc import JobDesc
from flurm.protocol.messages.slurmd import JobAcctInfo
from flurm.scheduler.scheduler import array_running, job_independent, plan, request_pass
from flurm.state.cluster import Cluster
from flurm.state.model import Job
from flurm.state.tasks import TaskSet

V2205 = 0x2600
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "dbd" / "22.05"
WORK_DIR = "/tmp/flurm-dbdcap-tlklygy3/cluster/jobs"  # where capture.py ran sbatch
# the capture's cluster (harness/launcher.py: two nodes, CR_Core, RealMemory=1000)
CONF = """\
ClusterName=cluster
SlurmctldHost=localhost(127.0.0.1)
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
NodeName=compute-node-[1-2] CPUs=2 Sockets=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
IDS = AcctIds(assoc_id=2, qos_id=1)  # root's association and QOS normal, as slurmdbd numbered them
ACCT = AcctCluster.of(["compute-node-1", "compute-node-2"], {"debug": None})


# -- the capture ---------------------------------------------------------------------------------


def _records() -> list[Any]:
    """Every job and step record slurmctld sent, in order, those inside the batches included."""
    data = (GOLDEN / "dbd-conn1-c2s.bin").read_bytes()
    out: list[Any] = []
    i = 0
    first = True
    while i < len(data):
        (n,) = struct.unpack_from(">I", data, i)
        msg = data[i + 4 : i + 4 + n]
        i += 4 + n
        if first:  # REQUEST_PERSIST_INIT
            first = False
            continue
        if split_dbd_msg(msg)[0] not in DBD_JOB_BODIES:
            continue
        _, body = decode_dbd_msg(msg, V2205)
        if isinstance(body, DbdMultMsg):
            for inner in body.messages or ():
                if split_dbd_msg(inner)[0] in DBD_JOB_BODIES:
                    out.append(decode_dbd_msg(inner, V2205)[1])
        elif isinstance(body, DbdMultJobStart):
            out.extend(body.starts or ())
        else:
            out.append(body)
    return out


RECORDS = _records()


def _messages(side: str) -> list[Any]:
    """The bodies of one side's messages of this module's types (the batches not opened)."""
    data = (GOLDEN / f"dbd-conn1-{side}.bin").read_bytes()
    out: list[Any] = []
    i = 0
    while i < len(data):
        (n,) = struct.unpack_from(">I", data, i)
        msg = data[i + 4 : i + 4 + n]
        i += 4 + n
        if len(msg) >= 2 and split_dbd_msg(msg)[0] in DBD_JOB_BODIES:
            out.append(decode_dbd_msg(msg, V2205)[1])
    return out


MESSAGES = {side: _messages(side) for side in ("c2s", "s2c")}


def golden(kind: type, job_id: int, step_id: int | None = None, nth: int = 0) -> Any:
    found = [
        r
        for r in RECORDS
        if isinstance(r, kind)
        and (r.step_id.job_id if hasattr(r, "step_id") else r.job_id) == job_id
        and (step_id is None or r.step_id.step_id == step_id)
    ]
    return found[nth]


def same(built: Any, expected: Any) -> None:
    """Field by field, so a difference names its field."""
    assert type(built) is type(expected)
    diff = {
        f.name: (getattr(built, f.name), getattr(expected, f.name))
        for f in fields(built)
        if getattr(built, f.name) != getattr(expected, f.name)
    }
    assert not diff, diff


# -- flurm's side ---------------------------------------------------------------------------------


@pytest.fixture
def cluster() -> Cluster:
    c = Cluster(parse_text(textwrap.dedent(CONF)), None, clock=lambda: 0)
    for node in c.node_list:
        node.registered = True
        node.base_state = NodeState.IDLE
    return c


def sbatch(cluster: Cluster, now: int, name: str, line: str, wrap: str, **kw: Any) -> Job:
    """The job sbatch submits (its job_desc as sbatch packs it), numbered and queued (JobOps.create)."""
    desc = JobDesc(
        script=f"#!/bin/sh\n# This script was created by sbatch --wrap.\n\n{wrap}\n",
        name=name,
        min_cpus=kw.pop("min_cpus", 1),
        work_dir=WORK_DIR,
        submit_line=line,
        account="root",  # root's default account, which the association gives a job that names none
        **kw,
    )
    job, _, _ = build_job(desc, 0, 0, True, cluster, "localhost", now)
    job.job_id = cluster.allocate_job_id()
    if job.priority != 0:
        job_independent(job, cluster, now, array_running(cluster))
    if job.priority == NO_VAL:
        job.priority = cluster.new_priority(job.nice)
    cluster.add_job(job)
    return job


def schedule(cluster: Cluster, now: int) -> list[Job]:
    """One scheduling cycle, its starts applied as the engine applies them."""
    request_pass(cluster)
    out = plan(cluster, now)
    for d in out.starts:
        cluster.start_job(d.job, d.alloc, now)
    for job in out.reasons_changed:
        cluster.job_changed(job)
    return [d.job for d in out.starts]


def end(cluster: Cluster, job: Job, now: int, state: int, exit_code: int = 0) -> None:
    """The job ends (JobOps.batch_complete / cancel): its state, exit code and end, then its epilog."""
    job.state = state | JobStateFlag.COMPLETING
    job.exit_code = exit_code
    job.end_time = now
    cluster.mark_completing(job)
    cluster.job_changed(job)


def epilog_done(cluster: Cluster, job: Job) -> None:
    for name in job.nodes:
        cluster.node_done_completing(job, name)
    job.state &= ~JobStateFlag.COMPLETING
    cluster.release(job)
    cluster.job_changed(job)


def batch_done(job: Job, exit_code: int, now: int) -> DbdStepComplete:
    """The batch step's end, with the usage its slurmstepd reported (taken from the capture)."""
    usage = golden(DbdStepComplete, job.job_id, SLURM_BATCH_SCRIPT).jobacct
    return batch_step_complete(job, ACCT, IDS, exit_code=exit_code, jobacct=usage, now=now)


# -- the jobs of outputs.txt ----------------------------------------------------------------------

T = 1796224637  # the capture's submit time of jobs 1-3


def test_the_jobs_of_the_capture(cluster: Cluster) -> None:
    ok_fail_and_steps(cluster)
    cancel_held_and_suspended(cluster)


def ok_fail_and_steps(cluster: Cluster) -> None:
    ok = sbatch(cluster, T, "ok", "sbatch --parsable -J ok --wrap exit 0", "exit 0")
    fail = sbatch(cluster, T, "fail", "sbatch --parsable -J fail --wrap exit 3", "exit 3")
    steps = sbatch(
        cluster,
        T,
        "steps",
        "sbatch --parsable -J steps -N2 -n2 --wrap srun hostname; srun -n1 -N1 false; exit 0",
        "srun hostname; srun -n1 -N1 false; exit 0",
        min_nodes=2,
        num_tasks=2,
        min_cpus=2,
    )
    assert [j.job_id for j in schedule(cluster, T + 1)] == [1, 2]  # job 3 needs both nodes
    # both batch steps start before the db-index thread ran: db_index 0
    same(batch_step_start(ok, ACCT, IDS), golden(DbdStepStart, 1, SLURM_BATCH_SCRIPT))
    same(batch_step_start(fail, ACCT, IDS), golden(DbdStepStart, 2, SLURM_BATCH_SCRIPT))
    end(cluster, ok, T + 1, JobState.COMPLETE)
    same(batch_done(ok, 0, T + 1), golden(DbdStepComplete, 1, SLURM_BATCH_SCRIPT))
    same(job_complete(ok, ACCT, IDS), golden(DbdJobComplete, 1))
    end(cluster, fail, T + 1, JobState.FAILED, 3 << 8)
    same(batch_done(fail, 3 << 8, T + 1), golden(DbdStepComplete, 2, SLURM_BATCH_SCRIPT))
    same(job_complete(fail, ACCT, IDS), golden(DbdJobComplete, 2))
    epilog_done(cluster, ok)
    epilog_done(cluster, fail)
    # the db-index thread: every job without a db_index, as it stands (3 still pending)
    db_index_thread(cluster, [ok, fail, steps], 0)
    assert (ok.db_index, fail.db_index, steps.db_index) == (1, 2, 5)

    assert schedule(cluster, T + 2) == [steps]
    same(job_start(steps, ACCT, IDS), golden(DbdJobStart, 3, nth=1))
    same(batch_step_start(steps, ACCT, IDS), golden(DbdStepStart, 3, SLURM_BATCH_SCRIPT))
    # srun hostname, then srun -n1 -N1 false, as create_step lays them out
    step0 = srun_step(steps, 0, "hostname", "srun hostname", steps.nodes, ((0,), (1,)), T + 2)
    same(step_start(steps, step0, ACCT, IDS), golden(DbdStepStart, 3, 0))
    usage0 = aggregate_jobacct(empty_jobacct(range(1, 9)), golden(DbdStepComplete, 3, 0).jobacct)
    step0.exit_code = 0
    steps.acct_energy = job_energy_after_step(steps.acct_energy, 0, usage0, prolog_contain=False)
    same(step_complete(steps, step0, ACCT, IDS, jobacct=usage0, now=T + 2), golden(DbdStepComplete, 3, 0))
    step1 = srun_step(steps, 1, "false", "srun -n1 -N1 false", steps.nodes[:1], ((0,),), T + 2)
    same(step_start(steps, step1, ACCT, IDS), golden(DbdStepStart, 3, 1))
    usage1 = golden(DbdStepComplete, 3, 1).jobacct
    step1.exit_code = 1 << 8
    steps.derived_ec = step1.exit_code
    steps.acct_energy = job_energy_after_step(steps.acct_energy, 1, usage1, prolog_contain=False)
    same(step_complete(steps, step1, ACCT, IDS, jobacct=usage1, now=T + 2), golden(DbdStepComplete, 3, 1))
    end(cluster, steps, T + 2, JobState.COMPLETE)
    same(batch_done(steps, 0, T + 2), golden(DbdStepComplete, 3, SLURM_BATCH_SCRIPT))
    # the srun steps reported energy (0 J): the job's TRES leave it out now
    same(job_complete(steps, ACCT, IDS), golden(DbdJobComplete, 3))
    assert job_complete(steps, ACCT, IDS).tres_alloc_str == "1=2,4=2,5=2"


def db_index_thread(cluster: Cluster, expected: list[Job], nth: int) -> None:
    """The plugin's db-index thread: the jobs it picks, their records as the capture's nth
    DBD_SEND_MULT_JOB_START holds them, and the db_indexes slurmdbd answered taken."""
    batch = jobs_to_record(cluster.jobs.values())
    assert batch == expected
    mark_sent(batch)
    sent = [m for m in MESSAGES["c2s"] if isinstance(m, DbdMultJobStart)][nth]
    assert [job_start(job, ACCT, IDS) for job in batch] == list(sent.starts or ())
    got = [m for m in MESSAGES["s2c"] if isinstance(m, DbdGotMultJobStart)][nth]
    assert take_db_indexes(cluster.jobs, got.ids or ()) == batch
    assert jobs_to_record(cluster.jobs.values()) == []


def srun_step(job: Job, step_id: int, name: str, line: str, nodes: Any, tids: Any, now: int) -> Step:
    return Step(
        step_id=step_id,
        nodes=tuple(nodes),
        tids=tids,
        task_dist=1,  # SLURM_DIST_CYCLIC, what srun asked for
        cores=tuple((0,) for _ in nodes),
        cpu_count=len(nodes),
        cpus_per_task=1,
        mem=tuple(0 for _ in nodes),
        flags=0,
        start_time=now,
        name=name,
        submit_line=line,
    )


def cancel_held_and_suspended(cluster: Cluster) -> None:
    t = T + 2
    cancel = sbatch(cluster, t, "cancel", "sbatch --parsable -J cancel --wrap sleep 60", "sleep 60")
    assert schedule(cluster, t + 1) == [cancel]
    same(batch_step_start(cancel, ACCT, IDS), golden(DbdStepStart, 4, SLURM_BATCH_SCRIPT))
    cancel.requid = 0  # scancel by root (JobOps.kill)
    end(cluster, cancel, t + 2, JobState.CANCELLED)
    same(job_complete(cancel, ACCT, IDS), golden(DbdJobComplete, 4))
    same(batch_done(cancel, 15, t + 2), golden(DbdStepComplete, 4, SLURM_BATCH_SCRIPT))  # SIGTERM
    epilog_done(cluster, cancel)

    held = sbatch(cluster, t + 2, "held", "sbatch --parsable -J held -H --wrap true", "true", priority=0)
    assert held.state_reason == JobStateReason.WAIT_HELD_USER and held.eligible_time == 0
    # scontrol release (JobOps._release), then the scheduler makes it eligible and starts it
    held.priority = cluster.new_priority(held.nice)
    held.state_reason = 0
    cluster.job_changed(held)
    assert schedule(cluster, t + 4) == [held]
    same(batch_step_start(held, ACCT, IDS), golden(DbdStepStart, 5, SLURM_BATCH_SCRIPT))
    end(cluster, held, t + 4, JobState.COMPLETE)
    same(batch_done(held, 0, t + 4), golden(DbdStepComplete, 5, SLURM_BATCH_SCRIPT))
    same(job_complete(held, ACCT, IDS), golden(DbdJobComplete, 5))
    epilog_done(cluster, held)

    susp = sbatch(cluster, t + 4, "susp", "sbatch --parsable -J susp --wrap sleep 30", "sleep 30")
    # the db-index thread: 4 and 5 finished, 6 pending; the held one keeps its hold as its last reason
    db_index_thread(cluster, [cancel, held, susp], 1)
    assert (cancel.db_index, held.db_index, susp.db_index) == (6, 7, 10)
    assert schedule(cluster, t + 5) == [susp]
    same(job_start(susp, ACCT, IDS), golden(DbdJobStart, 6, nth=1))
    same(batch_step_start(susp, ACCT, IDS), golden(DbdStepStart, 6, SLURM_BATCH_SCRIPT))
    # scontrol suspend, then resume (controller/suspend.py)
    susp.state = JobState.SUSPENDED
    susp.suspend_time = t + 6
    same(job_suspend(susp, IDS), golden(DbdJobSuspend, 6, nth=0))
    susp.state = JobState.RUNNING
    susp.suspend_time = t + 7
    same(job_suspend(susp, IDS), golden(DbdJobSuspend, 6, nth=1))
    susp.requid = 0
    end(cluster, susp, t + 8, JobState.CANCELLED)
    same(job_complete(susp, ACCT, IDS), golden(DbdJobComplete, 6))
    same(batch_done(susp, 15, t + 8), golden(DbdStepComplete, 6, SLURM_BATCH_SCRIPT))


# -- rules the capture does not show --------------------------------------------------------------


def _job(**kw: Any) -> Job:
    base: dict[str, Any] = dict(job_id=7, name="x", user_id=1000, group_id=1000, partition="debug")
    base.update(kw)
    return Job(**base)


def test_the_cluster_as_the_records_see_it(cluster: Cluster) -> None:
    assert AcctCluster.from_cluster(cluster) == ACCT


def test_node_inx_is_the_sorted_hostlist_index() -> None:
    acct = AcctCluster.of(["n10", "n2", "a1", "n1"])
    assert acct.node_index == {"a1": 0, "n1": 1, "n2": 2, "n10": 3}
    assert acct.node_inx(["n10", "n1", "n2"]) == "1-3"
    assert acct.node_inx(["a1", "n2"]) == "0,2"
    assert acct.node_inx([]) is None


def test_gres_tres_follow_the_cluster_order() -> None:
    acct = AcctCluster.of(
        ["n1"], tres=((1, "cpu"), (2, "mem"), (4, "node"), (5, "billing"), (1001, "gres/gpu"))
    )
    job = _job(tres_req="cpu=4,mem=2G,node=1,billing=4,gres/gpu=2")
    assert job_tres_req(job, acct) == "1=4,2=2048,4=1,5=4,1001=2"


def test_a_pending_job_has_no_allocation_and_keeps_its_no_val_limit() -> None:
    job = _job(submit_time=5, eligible_time=5, priority=9, tres_req="cpu=1,node=1,billing=1")
    rec = job_start(job, ACCT, IDS)
    assert rec.tres_alloc_str is None and rec.nodes is None and rec.alloc_nodes == 0
    assert rec.timelimit == NO_VAL and rec.db_flags == 0 and rec.tres_req_str == "1=1,4=1,5=1"
    running = replace(
        job, state=JobState.RUNNING, nodes=("compute-node-2",), cpus_alloc=(2,), mem_alloc=(500,)
    )
    rec = job_start(running, AcctCluster.of(["compute-node-1", "compute-node-2"], {"debug": 60}), IDS)
    assert (rec.timelimit, rec.node_inx, rec.db_flags) == (60, "1", 4)
    assert rec.tres_alloc_str == f"1=2,2=500,3={NO_VAL64},4=1,5=2"


def test_array_meta_record_and_throttled_task() -> None:
    meta = _job(
        array_job_id=7, array_task_pending=TaskSet.of([1, 2, 3, 5]), array_size_hint=6, array_max_tasks=2
    )
    rec = job_start(meta, ACCT, IDS)
    assert (rec.array_task_str, rec.array_max_tasks, rec.array_task_pending) == ("0x2E", 2, 4)
    task = _job(
        array_job_id=7, array_task_id=4, state_reason=JobStateReason.WAIT_ARRAY_TASK_LIMIT, eligible_time=9
    )
    rec = job_start(task, ACCT, IDS)
    assert rec.eligible_time == INFINITE and rec.array_task_str is None and rec.array_task_id == 4


def test_requeue_and_pending_cancel_completions() -> None:
    job = _job(state=JobState.PENDING | JobStateFlag.REQUEUE, submit_time=3)
    assert job_complete(job, ACCT, IDS).job_state == JobStateFlag.REQUEUE
    job = _job(state=JobState.CANCELLED, start_time=8, end_time=8, requid=1000)
    rec = job_complete(job, ACCT, IDS)
    assert (rec.job_state, rec.req_uid, rec.nodes, rec.tres_alloc_str) == (
        JobState.CANCELLED,
        1000,
        None,
        None,
    )


def test_extern_step_and_final_tres() -> None:
    job = _job(
        state=JobState.RUNNING,
        nodes=("compute-node-1", "compute-node-2"),
        cpus_alloc=(1, 1),
        mem_alloc=(0, 0),
        start_time=10,
        submit_time=9,
        db_index=4,
    )
    rec = extern_step_start(job, ACCT, IDS)
    assert (rec.name, rec.node_cnt, rec.total_tasks, rec.node_inx) == ("extern", 2, 2, "0-1")
    assert rec.tres_alloc_str == job_tres_alloc(job, ACCT)
    usage = replace(empty_jobacct(range(1, 9)), consumed_energy=30)
    job.acct_energy = job_energy_after_step(job.acct_energy, SLURM_EXTERN_CONT, usage, prolog_contain=True)
    assert job.acct_energy == 30
    job.state = JobState.COMPLETE
    done = step_complete(job, None, ACCT, IDS, jobacct=usage, now=20, last_step=True)
    assert done.step_id.step_id == SLURM_EXTERN_CONT and done.state == JobState.RUNNING
    assert done.job_tres_alloc_str == "1=2,3=30,4=2,5=2"
    # with PrologFlags=contain an srun step's energy does not count, nor does the batch step's ever
    assert job_energy_after_step(30, 0, usage, prolog_contain=True) == 30
    assert job_energy_after_step(NO_VAL64, SLURM_BATCH_SCRIPT, usage, prolog_contain=False) == NO_VAL64


def test_aggregate_takes_max_min_and_totals() -> None:
    inf = 0xFFFFFFFFFFFFFFFF

    def node(nodeid: int, rss: int, cpu_usec: int) -> JobAcctInfo:
        u = empty_jobacct((1, 2, 3))
        return replace(
            u,
            user_cpu_usec=cpu_usec,
            consumed_energy=5,
            tres_usage_in_max=(inf, rss, 7),
            tres_usage_in_max_nodeid=(inf, nodeid, nodeid),
            tres_usage_in_max_taskid=(inf, nodeid * 10, nodeid * 10),
            tres_usage_in_min=(inf, rss, 7),
            tres_usage_in_min_nodeid=(inf, nodeid, nodeid),
            tres_usage_in_min_taskid=(inf, nodeid * 10, nodeid * 10),
            tres_usage_in_tot=(inf, rss, 7),
        )

    total = aggregate_jobacct(
        aggregate_jobacct(empty_jobacct((1, 2, 3)), node(0, 100, 600_000)), node(1, 300, 700_000)
    )
    assert (total.user_cpu_sec, total.user_cpu_usec, total.consumed_energy) == (1, 300_000, 10)
    assert total.tres_usage_in_max == (inf, 300, 7) and total.tres_usage_in_max_nodeid == (inf, 1, 0)
    # energy is per node: its task is not taken over
    assert total.tres_usage_in_min == (inf, 100, 7) and total.tres_usage_in_min_taskid == (inf, 0, inf)
    assert total.tres_usage_in_tot == (inf, 400, 14)
    assert aggregate_jobacct(total, empty_jobacct((1, 2))) is total  # another TRES list: left out
    assert (
        aggregate_jobacct(total, replace(node(2, 1, 0), consumed_energy=NO_VAL64)).consumed_energy == NO_VAL64
    )


def test_the_reason_kept_for_the_database(cluster: Cluster) -> None:
    job = sbatch(cluster, T, "h", "sbatch -H --wrap true", "true", priority=0)
    assert job.state_reason_prev_db == JobStateReason.WAIT_HELD_USER
    job.state_reason = JobStateReason.WAIT_RESOURCES
    cluster.job_changed(job)
    assert job.state_reason_prev_db == JobStateReason.WAIT_HELD_USER  # Resources is not kept


def test_accounting_fields_survive_the_store() -> None:
    job = _job(db_index=12, requid=0, state_reason_prev_db=16, acct_energy=40)
    again = Job.from_dict(job.to_dict())
    assert (again.db_index, again.requid, again.state_reason_prev_db, again.acct_energy) == (12, 0, 16, 40)
    assert Job.from_dict({k: v for k, v in job.to_dict().items() if k != "db_index"}).db_index == 0


def test_a_takeover_keeps_what_slurmdbd_knows_the_jobs_by(cluster: Cluster) -> None:
    """slurmctld's saved job table holds each job's db_index, last recorded reason and allocated TRES:
    flurm takes them, for a job new to it and for one its mirror already had."""
    saved_file = decode_job_state((GOLDEN.parents[1] / "statefile" / "job_state").read_bytes())
    running = next(s for s in saved_file.jobs if s.job_state & 0xFF == JobState.RUNNING)
    saved = replace(running, db_index=42, state_reason_prev_db=16, tres_alloc_str="1=2,3=55,4=1,5=2")
    job = job_from_saved(saved, cluster)
    assert (job.db_index, job.state_reason_prev_db, job.acct_energy) == (42, 16, 55)
    take_accounting(job, replace(saved, db_index=43, tres_alloc_str=f"1=2,3={NO_VAL64},4=1,5=2"))
    assert (job.db_index, job.acct_energy) == (43, NO_VAL64)
    take_accounting(job, replace(saved, tres_alloc_str="1=2,4=1,5=2"))  # energy known to be 0
    assert job.acct_energy == 0


def test_scancel_records_who_cancelled(tmp_path: Path) -> None:
    """JobOps.kill keeps the uid that cancelled a job (slurmctld's requid; sacct: "CANCELLED by N"), for a
    pending job, a whole array's pending record and a job whose owner is someone else."""
    conf = textwrap.dedent(CONF).replace("ClusterName=cluster", "ClusterName=cluster\nMaxArraySize=10")
    daemon = Daemon(parse_text(conf), FakeAuthenticator(), state_dir=tmp_path, clock=lambda: T)
    ctl = daemon.controller
    ctl.store.open()
    ctl.schedule_soon = lambda: None  # type: ignore[method-assign]  # no event loop: nothing starts
    try:
        job, _ = ctl.jobs.create(JobDesc(script="#!/bin/sh\ntrue\n", priority=0), 1000, 1000, "localhost")
        meta, _ = ctl.jobs.create(
            JobDesc(script="#!/bin/sh\ntrue\n", priority=0, array_inx="1-3"), 1000, 1000, "localhost"
        )
        assert job.requid == INFINITE
        assert ctl.jobs.kill(None, job.job_id, 9, 0, 0) == 0
        assert ctl.jobs.kill(f"{meta.job_id}_[1-3]", NO_VAL, 9, 0, 1000) == 0
        assert (job.requid, job.base_state) == (0, JobState.CANCELLED)
        assert (meta.requid, meta.base_state) == (1000, JobState.CANCELLED)
        assert job_complete(job, ACCT, IDS).req_uid == 0
    finally:
        ctl.store.close()
        ctl.signer.close()


def test_the_db_index_bookkeeping() -> None:
    recorded = _job(job_id=1, submit_time=5, db_index=9)
    resized = _job(job_id=2, submit_time=5, resize_time=7)
    update = _job(job_id=3, submit_time=5, db_index=9, state=JobState.RUNNING | JobStateFlag.UPDATE_DB)
    fresh = _job(job_id=4, submit_time=5)
    no_submit = _job(job_id=5)
    jobs = {j.job_id: j for j in (recorded, resized, update, fresh, no_submit)}
    batch = jobs_to_record(jobs.values())
    assert batch == [update, fresh]
    mark_sent(batch)
    assert (update.db_index, fresh.db_index) == (9, NO_VAL64)  # an update keeps its row
    forget_sent(jobs.values())  # the batch failed
    assert (update.db_index, fresh.db_index) == (9, 0)
    mark_sent(batch)
    fresh.db_index = 0  # requeued meanwhile: sent again as a new row
    assert take_db_indexes(jobs, [DbdIdRc(3, 9), DbdIdRc(4, 11), DbdIdRc(99, 1)]) == [update]
    assert fresh.db_index == 0 and not update.state & JobStateFlag.UPDATE_DB
    many = [_job(job_id=i, submit_time=1) for i in range(1, 1100)]
    assert len(jobs_to_record(many)) == 1001
