"""Who may ask for what in a job request (controller/rights.py), as slurmctld 22.05 decides it:
_valid_id and validate_job_create_req at submission, _slurm_rpc_update_job and _update_job at update.
flurm's handlers and the shadow forwarder both apply these rules."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import pytest

from flurm.config import parse_text
from flurm.controller.rights import (
    DEFAULT_MAX_SCRIPT_SIZE,
    FIELD_LIMITS,
    REBOOT_REFUSED,
    Caller,
    check_groups,
    check_partitions,
    in_allowed_groups,
    submission_as_caller,
    update_refusal,
)
from flurm.controller.submit import build_job
from flurm.errors import SlurmError
from flurm.protocol.constants import (
    INFINITE,
    NICE_OFFSET,
    NO_VAL,
    NO_VAL16,
    JobState,
    JobStateReason,
    SlurmRC,
)
from flurm.protocol.messages.job_desc import JobDesc
from flurm.state.cluster import Cluster
from flurm.state.model import Job, Partition

T0 = 1_000_000
USER = Caller(1000, 1000, privileged=False)
ROOT = Caller(0, 0, privileged=True)
CONF = """\
ClusterName=test
SlurmctldHost=ctl(10.0.0.1)
NodeName=n1 CPUs=2 RealMemory=1000
PartitionName=debug Nodes=ALL Default=YES MaxTime=60 State=UP
PartitionName=admin Nodes=ALL RootOnly=YES State=UP
"""


@pytest.fixture
def cluster() -> Cluster:
    return Cluster(parse_text(textwrap.dedent(CONF)), None, clock=lambda: T0)


def submitted(
    fields: dict[str, object], caller: Caller = USER, max_script: int = DEFAULT_MAX_SCRIPT_SIZE
) -> JobDesc:
    base: dict[str, object] = dict(script="#!/bin/sh\ntrue\n", name="wrap", min_cpus=1)
    base.update(fields)
    return submission_as_caller(JobDesc(**base), caller, max_script)  # type: ignore[arg-type]


def sub(caller: Caller = USER, max_script: int = DEFAULT_MAX_SCRIPT_SIZE, **kw: object) -> JobDesc:
    return submitted(kw, caller, max_script)


def refused(
    fields: dict[str, object], caller: Caller = USER, max_script: int = DEFAULT_MAX_SCRIPT_SIZE
) -> SlurmError:
    with pytest.raises(SlurmError) as info:
        submitted(fields, caller, max_script)
    return info.value


def refusal(caller: Caller = USER, max_script: int = DEFAULT_MAX_SCRIPT_SIZE, **kw: object) -> SlurmError:
    return refused(kw, caller, max_script)


# -- submission -------------------------------------------------------------------------------------


def test_the_job_runs_as_the_credential_says() -> None:
    d = sub()
    assert (d.user_id, d.group_id) == (1000, 1000)
    assert (sub(user_id=1000, group_id=1000).user_id, sub(group_id=1000).group_id) == (1000, 1000)


def test_a_foreign_gid_is_refused_whatever_the_user_id() -> None:
    # sbatch always sends the user id: the gid is checked all the same (slurmctld's _valid_id)
    for gid in (0, 6, 1001):
        assert refusal(user_id=1000, group_id=gid).rc == SlurmRC.ESLURM_GROUP_ID_MISSING
        assert refusal(group_id=gid).rc == SlurmRC.ESLURM_GROUP_ID_MISSING
    assert refusal(user_id=0).rc == SlurmRC.ESLURM_USER_ID_MISSING
    assert refusal(user_id=0, group_id=0).rc == SlurmRC.ESLURM_USER_ID_MISSING


def test_root_and_slurm_user_submit_for_others() -> None:
    d = sub(ROOT, user_id=1000, group_id=6)
    assert (d.user_id, d.group_id) == (1000, 6)


def test_build_job_refuses_a_foreign_gid(cluster: Cluster) -> None:
    d = JobDesc(script="#!/bin/sh\n", min_cpus=1, user_id=1000, group_id=0)
    with pytest.raises(SlurmError) as info:
        build_job(d, 1000, 1000, False, cluster, "localhost", T0)
    assert info.value.rc == SlurmRC.ESLURM_GROUP_ID_MISSING
    job, _, _ = build_job(d, 0, 0, True, cluster, "localhost", T0)
    assert (job.user_id, job.group_id) == (1000, 0)


def test_operator_fields_at_submission() -> None:
    assert sub(priority=5).priority == NO_VAL  # dropped, not refused
    assert sub(priority=0).priority == 0  # a hold
    assert sub(ROOT, priority=5).priority == 5
    assert refusal(nice=NICE_OFFSET - 1).rc == SlurmRC.ESLURM_INVALID_NICE
    assert sub(nice=NICE_OFFSET + 5).nice == NICE_OFFSET + 5
    assert refusal(admin_comment="x").rc == SlurmRC.ESLURM_ACCESS_DENIED
    err = refusal(reboot=1)
    assert (err.rc, err.message) == (SlurmRC.ESLURM_ACCESS_DENIED, REBOOT_REFUSED)
    assert sub(reboot=0).reboot == 0
    assert refusal(job_id=77).rc == SlurmRC.ESLURM_INVALID_JOB_ID
    assert sub(ROOT, job_id=77, admin_comment="x", reboot=1).job_id == 77
    assert sub(site_factor=9).site_factor == NO_VAL  # only a job_submit plugin sets it
    assert sub(ROOT, site_factor=9).site_factor == NO_VAL


def test_script_size_limit() -> None:
    limit = 1000
    assert sub(max_script=limit, script="x" * limit).script == "x" * limit
    assert refusal(max_script=limit, script="x" * (limit + 1)).rc == SlurmRC.ESLURM_PATHNAME_TOO_LONG
    assert refusal(ROOT, max_script=limit, script="x" * (limit + 1)).rc == SlurmRC.ESLURM_PATHNAME_TOO_LONG
    # bytes, not characters
    assert refusal(max_script=limit, script="é" * 501).rc == SlurmRC.ESLURM_PATHNAME_TOO_LONG
    assert sub(max_script=limit, script="é" * 500).script == "é" * 500


def test_other_string_limits() -> None:
    for name, limit in FIELD_LIMITS.items():
        assert submitted({name: "x" * limit}) is not None
        assert refused({name: "x" * (limit + 1)}).rc == SlurmRC.ESLURM_PATHNAME_TOO_LONG, name
    # the environment has no limit of its own
    assert sub(environment=("A=" + "x" * (8 << 20),)).environment


def test_root_only_partitions(cluster: Cluster) -> None:
    with pytest.raises(SlurmError) as info:
        check_partitions(["admin"], cluster.partitions, USER)
    assert info.value.rc == SlurmRC.ESLURM_ACCESS_DENIED
    check_partitions(["admin"], cluster.partitions, ROOT)
    check_partitions(["admin"], cluster.partitions, Caller(64030, 64030, privileged=True))  # SlurmUser
    check_partitions(["debug"], cluster.partitions, USER)


# -- update -----------------------------------------------------------------------------------------


def job(**kw: object) -> Job:
    base: dict[str, object] = dict(
        job_id=5, name="j", user_id=1000, group_id=1000, partition="debug", time_limit=30, priority=100
    )
    base.update(kw)
    return Job(**base)  # type: ignore[arg-type]


def updated(j: Job, fields: dict[str, object], caller: Caller = USER, cluster: Cluster | None = None) -> int:
    parts = cluster.partitions if cluster is not None else {}
    return update_refusal(j, JobDesc(job_id=j.job_id, **fields), caller, parts, T0)  # type: ignore[arg-type]


def upd(j: Job, caller: Caller = USER, cluster: Cluster | None = None, **kw: object) -> int:
    return updated(j, kw, caller, cluster)


def test_owner_and_identity() -> None:
    assert upd(job(), name="x") == 0
    assert upd(job(user_id=1001), name="x") == SlurmRC.ESLURM_USER_ID_MISSING
    assert upd(job(), user_id=1000) == SlurmRC.ESLURM_USER_ID_MISSING
    assert upd(job(user_id=1001), ROOT, name="x") == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("admin_comment", "x"),
        ("site_factor", 5),
        ("reboot", 1),
        ("reboot", 0),
        ("shared", 1),
        ("core_spec", 1),
        ("ntasks_per_node", 2),
        ("ntasks_per_socket", 1),
        ("deadline", T0 + 3600),
        ("priority", 200),
        ("nice", NICE_OFFSET - 1),
        ("contiguous", 1),
    ],
)
def test_operator_only_fields(field: str, value: object) -> None:
    j = job(state=JobState.PENDING)
    assert updated(j, {field: value}) == SlurmRC.ESLURM_ACCESS_DENIED
    assert updated(j, {field: value}, ROOT) == 0


def test_burst_buffer_is_not_for_users() -> None:
    assert upd(job(state=JobState.COMPLETE), burst_buffer="") == SlurmRC.ESLURM_NOT_SUPPORTED


def test_what_a_user_may_do() -> None:
    j = job(state=JobState.PENDING)
    assert upd(j, priority=50) == 0  # lower
    assert upd(j, priority=0) == 0  # hold
    assert upd(j, priority=INFINITE) == 0  # release of a job not held: ignored
    assert upd(j, nice=NICE_OFFSET + 10) == 0
    assert upd(j, time_limit=10) == 0
    assert upd(replace(j, contiguous=1), contiguous=0) == 0  # (0 on 0 is refused, as slurmctld does)
    assert upd(j, shared=NO_VAL16) == 0


def test_release(cluster: Cluster) -> None:
    user_hold = job(priority=0, state_reason=JobStateReason.WAIT_HELD_USER)
    admin_hold = job(priority=0, state_reason=JobStateReason.WAIT_HELD)
    assert upd(user_hold, priority=INFINITE) == 0
    assert upd(admin_hold, priority=INFINITE) == SlurmRC.ESLURM_ACCESS_DENIED
    assert upd(admin_hold, ROOT, priority=INFINITE) == 0


def test_time_limit(cluster: Cluster) -> None:
    pending = job(state=JobState.PENDING)
    running = job(state=JobState.RUNNING)
    assert upd(pending, cluster=cluster, time_limit=60) == 0  # up to the partition's MaxTime
    assert upd(pending, cluster=cluster, time_limit=61) == SlurmRC.ESLURM_ACCESS_DENIED
    assert upd(running, cluster=cluster, time_limit=31) == SlurmRC.ESLURM_ACCESS_DENIED
    assert upd(running, ROOT, cluster=cluster, time_limit=600) == 0
    assert upd(running, cluster=cluster, end_time=T0 + 10**6) == SlurmRC.ESLURM_ACCESS_DENIED
    assert upd(replace(running, end_time=T0 + 100), cluster=cluster, end_time=T0 + 50) == 0


def test_licenses_of_a_running_job() -> None:
    assert upd(job(state=JobState.RUNNING), licenses="lic:1") == SlurmRC.ESLURM_ACCESS_DENIED
    assert upd(job(state=JobState.RUNNING), licenses="") == 0
    assert upd(job(state=JobState.PENDING), licenses="lic:1") == 0


def test_root_only_partition_on_update(cluster: Cluster) -> None:
    j = job(state=JobState.PENDING)
    assert upd(j, cluster=cluster, partition="admin") == SlurmRC.ESLURM_ACCESS_DENIED
    assert upd(j, cluster=cluster, partition="debug") == 0
    assert upd(j, ROOT, cluster=cluster, partition="admin") == 0


def test_allow_groups_takes_members_primary_groups_root_and_slurmuser() -> None:
    """validate_group against this host's /etc/passwd and /etc/group (Debian's system users: daemon's
    primary group is daemon; nobody is in no group of those)."""
    part = Partition("p", ("n1",), "n1", allow_groups="daemon,nosuchgroup")
    check_groups(part, 1, 64030)  # daemon: its primary group
    check_groups(part, 0, 64030)  # root
    check_groups(part, 65534, 65534)  # SlurmUser
    with pytest.raises(SlurmError) as e:
        check_groups(part, 65534, 64030)  # nobody
    assert e.value.rc == SlurmRC.ESLURM_JOB_MISSING_REQUIRED_PARTITION_GROUP
    assert not in_allowed_groups("daemon", 4_000_000)  # a uid the system does not know
    check_groups(Partition("q", ("n1",), "n1"), 65534, 64030)  # no AllowGroups: anyone
