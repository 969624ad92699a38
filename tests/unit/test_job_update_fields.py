"""scontrol update job of the fields beyond limits, priority and placement (controller/job_update.py
DetailUpdate), on a controller that is not started: slurmctld 22.05's _update_job answers (pending-only
fields, operator-only fields, each field's validation) and what the job record then holds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from flurm.auth.authenticator import FakeAuthenticator
from flurm.config import parse_text
from flurm.controller import job_update
from flurm.controller.engine import Controller
from flurm.daemon import Daemon
from flurm.protocol.constants import MEM_PER_CPU, NICE_OFFSET, JobFlag, JobState, SlurmRC
from flurm.protocol.messages.job_desc import JobDesc
from flurm.state.model import Job

NOW = 1_795_696_400
CONF = """
ClusterName=localtest
SlurmctldHost=localhost
SchedulerParameters=max_switch_wait=120
NodeName=compute-node-[1-2] NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 Feature=fast State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
OWNER, ROOT = 1000, 0
R = SlurmRC


@pytest.fixture
def ctl(tmp_path: Path) -> Iterator[Controller]:
    daemon = Daemon(parse_text(CONF), FakeAuthenticator(), state_dir=tmp_path, clock=lambda: NOW)
    ctl = daemon.controller
    ctl.store.open()
    ctl.schedule_soon = lambda: None  # type: ignore[method-assign]  # no event loop: no scheduling
    try:
        yield ctl
    finally:
        ctl.store.close()
        ctl.signer.close()


def pending(ctl: Controller, **desc: object) -> Job:
    base = JobDesc(script="#!/bin/sh\ntrue\n", priority=0, time_limit=30)  # held: nothing starts
    job, _ = ctl.jobs.create(replace(base, **desc), OWNER, OWNER, "localhost")  # type: ignore[arg-type]
    return job


def running(ctl: Controller) -> Job:
    job = pending(ctl)
    job.state = JobState.RUNNING
    job.priority = 1
    job.nodes = ("compute-node-1",)
    job.cpus_alloc = (2,)
    job.start_time = NOW - 60
    job.end_time = NOW - 60 + 30 * 60
    return job


def update(ctl: Controller, job: Job, uid: int = OWNER, **fields: object) -> int:
    desc = replace(JobDesc(job_id_str=str(job.job_id)), **fields)  # type: ignore[arg-type]
    rc, errors = ctl.jobs.update(desc, uid)
    assert errors is None
    return rc


def test_time_min(ctl: Controller) -> None:
    job = pending(ctl)
    assert update(ctl, job, time_min=5) == 0 and job.time_min == 5
    assert update(ctl, job, time_min=50) == R.ESLURM_INVALID_TIME_MIN_LIMIT and job.time_min == 5
    run = running(ctl)
    assert update(ctl, run, time_min=5) == 0 and run.time_min == 0  # a running job's is ignored


def test_task_and_cpu_counts_and_the_tres_they_ask_for(ctl: Controller) -> None:
    job = pending(ctl)
    assert job.tres_req == "cpu=1,mem=1000M,node=1,billing=1"
    assert update(ctl, job, num_tasks=2) == 0 and (job.num_tasks, job.tasks_set) == (2, True)
    assert update(ctl, job, num_tasks=0) == R.ESLURM_BAD_TASK_COUNT
    assert update(ctl, job, min_cpus=2, max_cpus=3) == 0 and (job.min_cpus, job.max_cpus) == (2, 3)
    assert job.tres_req == "cpu=2,mem=1000M,node=1,billing=2"
    assert update(ctl, job, min_cpus=4) == R.ESLURM_INVALID_CPU_COUNT and job.min_cpus == 2  # > max
    assert update(ctl, job, cpus_per_task=2) == 0 and job.cpus_per_task == 2
    assert update(ctl, job, pn_min_cpus=2) == 0 and (job.pn_min_cpus, job.min_cpus) == (2, 2)
    # a node count makes slurmctld count CPUs for tasks x CPUs per task: 4 > the maximum of 3
    assert update(ctl, job, min_nodes=1) == R.ESLURM_INVALID_CPU_COUNT
    assert update(ctl, job, pn_min_memory=40 | MEM_PER_CPU) == 0
    assert job.pn_min_memory == 40 | MEM_PER_CPU and job.bitflags & JobFlag.JOB_MEM_SET
    assert job.tres_req == "cpu=2,mem=80M,node=1,billing=2"
    assert update(ctl, job, pn_min_memory=MEM_PER_CPU) == 0 and job.pn_min_memory == 0  # --mem-per-cpu=0
    run = running(ctl)
    for field in ("num_tasks", "min_cpus", "max_cpus", "pn_min_cpus", "cpus_per_task", "pn_min_memory"):
        assert update(ctl, run, **{field: 2}) == R.ESLURM_JOB_NOT_PENDING, field


def test_operator_fields(ctl: Controller) -> None:
    job = pending(ctl)
    for field, value in (("admin_comment", "x"), ("site_factor", NICE_OFFSET + 10), ("ntasks_per_node", 1)):
        assert update(ctl, job, **{field: value}) == R.ESLURM_ACCESS_DENIED, field
        assert update(ctl, job, ROOT, **{field: value}) == 0, field
        assert getattr(job, field) == value
    assert update(ctl, running(ctl), ROOT, admin_comment="y") == 0


def test_times(ctl: Controller) -> None:
    job, run = pending(ctl), running(ctl)
    assert update(ctl, job, deadline=NOW + 3600) == R.ESLURM_ACCESS_DENIED
    assert update(ctl, job, ROOT, deadline=NOW - 1) == R.ESLURM_INVALID_TIME_VALUE
    assert update(ctl, job, ROOT, deadline=NOW + 3600) == 0 and job.deadline == NOW + 3600
    assert update(ctl, run, deadline=NOW + 3600) == 0 and run.deadline == 0  # ignored while it runs
    assert update(ctl, job, end_time=NOW + 60) == R.ESLURM_JOB_NOT_RUNNING
    assert update(ctl, run, end_time=NOW - 1) == R.ESLURM_INVALID_TIME_VALUE
    assert update(ctl, run, end_time=run.end_time + 600) == R.ESLURM_ACCESS_DENIED  # a user extends
    # a user shortens by 28 minutes: the limit moves by (-1680 s + 30) / 60, C's division: -27
    assert update(ctl, run, end_time=NOW + 60) == 0
    assert (run.end_time, run.time_limit) == (NOW + 60, 3)


def test_strings_and_pending_only_paths(ctl: Controller) -> None:
    job, run = pending(ctl), running(ctl)
    assert update(ctl, job, std_out="/tmp/o", work_dir="/tmp", wckey="w") == 0
    assert (job.std_out, job.work_dir, job.wckey) == ("/tmp/o", "/tmp", "w")
    for field in ("std_out", "work_dir", "wckey", "account"):
        assert update(ctl, run, **{field: "/x"}) == R.ESLURM_JOB_NOT_PENDING, field
    # no accounting: an account or a QOS is accepted and changes nothing
    assert update(ctl, job, account="a", qos="q") == 0 and (job.account, job.qos) == (None, None)
    assert update(ctl, run, qos="q") == 0
    assert update(ctl, run, mail_user="m@x", mail_type=4) == 0
    assert (run.mail_user, run.mail_type) == ("m@x", 4)
    assert update(ctl, run, mail_user="") == 0 and run.mail_user is None  # the job's user
    assert update(ctl, run, delay_boot=3600, req_switch=1, wait4switch=600, network="ip") == 0
    assert (run.delay_boot, run.req_switch, run.wait4switch, run.network) == (3600, 1, 120, "ip")
    assert update(ctl, run, network="none") == 0 and run.network is None


def test_refusals_flurm_keeps_and_slurmctlds_own(ctl: Controller) -> None:
    job, run = pending(ctl), running(ctl)
    for field in ("pn_min_tmp_disk", "sockets_per_node", "cores_per_socket", "threads_per_core"):
        assert update(ctl, run, **{field: 1}) == R.ESLURM_JOB_NOT_PENDING, field
        assert update(ctl, job, **{field: 1}) == R.ESLURM_NOT_SUPPORTED, field
    assert update(ctl, job, prefer="nosuch") == R.ESLURM_INVALID_PREFER
    assert update(ctl, job, prefer="fast") == R.ESLURM_NOT_SUPPORTED
    assert update(ctl, job, ROOT, core_spec=1) == R.ESLURM_ACCESS_DENIED  # no AllowSpecResourcesUsage
    assert update(ctl, job, reboot=1) == R.ESLURM_ACCESS_DENIED
    assert update(ctl, run, ROOT, reboot=1) == R.ESLURM_JOB_NOT_PENDING
    assert update(ctl, job, cluster_features="x") == R.SLURM_ERROR  # not a federated job
    assert update(ctl, job, ROOT, burst_buffer="") == R.ESLURM_NOT_SUPPORTED
    assert update(ctl, job, tres_per_node="gres:gpu:1") == R.ESLURM_INVALID_GRES
    assert update(ctl, job, tres_per_node="gres/gpu:1") == R.ESLURM_INVALID_TRES
    assert update(ctl, job, cpus_per_tres="gpu:2") == R.ESLURM_INVALID_TRES
    assert update(ctl, job, tres_per_task="") == 0
    assert update(ctl, run, tres_per_node="gres:gpu:1") == R.ESLURM_JOB_NOT_PENDING
    job.state = JobState.COMPLETE
    assert update(ctl, job, mail_type=4) == R.ESLURM_JOB_FINISHED


def test_array_throttle(ctl: Controller) -> None:
    meta = pending(ctl, array_inx="1-4")
    rc, errors = ctl.jobs.update(JobDesc(job_id_str=str(meta.job_id), array_inx="2"), OWNER)
    assert (rc, [e.error_code for e in errors or []]) == (0, [0]) and meta.array_max_tasks == 2
    plain = pending(ctl)
    assert update(ctl, plain, array_inx="2") == 0 and plain.array_max_tasks == 0  # not an array: ignored


def test_tres_counts_round_trip() -> None:
    counts = job_update.tres_counts("cpu=2,mem=2G,node=1,billing=2")
    assert counts == {"cpu": 2, "mem": 2048, "node": 1, "billing": 2}
    assert job_update.tres_text(counts) == "cpu=2,mem=2G,node=1,billing=2"
    assert job_update.max_switch_wait("bf_interval=30,max_switch_wait=-1") == 300
