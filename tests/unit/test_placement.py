"""Placement options on an in-memory cluster: the constraint grammar and matcher, license text and
accounting, MaxMemPerCPU fitting and contiguous runs, as slurmctld 22.05 applies them."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import pytest

from flurm.config import parse_text
from flurm.config.licenses import LicenseError
from flurm.config.slurmconf import ConfigError
from flurm.controller import job_update
from flurm.controller.submit import fit_memory_limit, refuse_unhonoured
from flurm.errors import SlurmError
from flurm.protocol.constants import (
    MEM_PER_CPU,
    NO_VAL,
    NO_VAL16,
    SLURM_22_05_PROTOCOL_VERSION,
    JobFlag,
    JobState,
    JobStateFlag,
    JobStateReason,
    MsgType,
    NodeState,
    SlurmRC,
)
from flurm.protocol.messages import decode_body, encode_body
from flurm.protocol.messages.job_desc import JobDesc
from flurm.protocol.messages.licenses import LicenseInfoRequest, LicenseInfoResponse, LicenseRecord
from flurm.scheduler import constraints, contiguous
from flurm.scheduler.constraints import ConstraintError, Op, Term
from flurm.scheduler.scheduler import plan, request_pass
from flurm.state import licenses
from flurm.state.cluster import Cluster
from flurm.state.model import Job, Node

R = JobStateReason
T0 = 1_000_000

CONF = """\
ClusterName=test
SlurmctldHost=ctl(10.0.0.1)
Licenses=matlab:2,ansys
NodeName=n1 CPUs=2 Sockets=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000 Features=fast,ssd
NodeName=n2 CPUs=2 Sockets=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000 Features=fast
NodeName=n3 CPUs=2 Sockets=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000 Features=slow
NodeName=n4 CPUs=2 Sockets=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000 Features=slow,ssd
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def make_cluster() -> Cluster:
    cluster = Cluster(parse_text(textwrap.dedent(CONF)), None, clock=lambda: T0)
    for node in cluster.node_list:
        node.registered = True
        node.base_state = NodeState.IDLE
    return cluster


def add(cluster: Cluster, **kw: object) -> Job:
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
    )
    fields.update(kw)
    job = Job(**fields)  # type: ignore[arg-type]
    cluster.add_job(job)
    return job


def cycle(cluster: Cluster) -> list[Job]:
    request_pass(cluster)
    out = plan(cluster, T0)
    for d in out.starts:
        cluster.start_job(d.job, d.alloc, T0)
    return [d.job for d in out.starts]


# -- the grammar ------------------------------------------------------------------------------------


def test_parse_terms_and_operators() -> None:
    assert constraints.parse("a&b|c") == (
        Term("a", 0, 0, Op.AND),
        Term("b", 0, 0, Op.OR),
        Term("c", 0, 0, Op.END),
    )
    # a comma is an "&", and the text the job keeps says so
    assert constraints.parse("a,b") == constraints.parse("a&b")
    assert constraints.normalized("a,b") == "a&b"
    assert constraints.parse("(a|b)&c")[0] == Term("a", 0, 1, Op.OR)
    assert constraints.parse("[a|b]") == (Term("a", 0, 0, Op.XOR), Term("b", 0, 0, Op.END))
    assert constraints.parse("[a*2&b*1]") == (Term("a", 2, 0, Op.XAND), Term("b", 1, 0, Op.END))
    assert constraints.parse("a*3") == (Term("a", 3, 0, Op.END),)


@pytest.mark.parametrize(
    "text",
    [
        "(a",
        "a)",
        "[a|b",
        "a]",
        "[a&b]",
        "[a*2|b]",
        "[a|b*2]",
        "[a|b][c|d]",
        "a*0",
        "a*",
        "(a*2)",
        "&a",
        "a&&b",
        "()",
    ],
)
def test_parse_refuses_what_slurmctld_refuses(text: str) -> None:
    with pytest.raises(ConstraintError):
        constraints.parse(text)


def test_validate_knows_the_cluster_features() -> None:
    c = make_cluster()
    known = constraints.cluster_features(c.node_list)
    assert known == {"fast", "ssd", "slow"}
    constraints.validate("fast&[ssd|slow]", known)
    with pytest.raises(ConstraintError):
        constraints.validate("fast&foo", known)
    assert ConstraintError("x").rc == 2029  # ESLURM_INVALID_FEATURE, "Invalid feature specification"


# -- the matcher ------------------------------------------------------------------------------------


def _allowed(text: str, nodes: list[Node]) -> list[list[str] | None]:
    out: list[list[str] | None] = []
    for choice in constraints.choices(constraints.parse(text), nodes):
        out.append(sorted(choice.allowed) if choice.allowed is not None else None)
    return out


def test_expressions_are_evaluated_left_to_right() -> None:
    nodes = make_cluster().node_list
    assert _allowed("fast&ssd", nodes) == [["n1"]]
    assert _allowed("fast|slow&ssd", nodes) == [["n1", "n4"]]  # (fast|slow)&ssd
    assert _allowed("ssd&(fast|slow)", nodes) == [["n1", "n4"]]
    assert _allowed("slow|fast&ssd", nodes) == [["n1", "n4"]]


def test_brackets_offer_one_feature_for_all_nodes() -> None:
    nodes = make_cluster().node_list
    assert _allowed("[fast|slow]", nodes) == [["n1", "n2"], ["n3", "n4"]]
    assert _allowed("ssd&[fast|slow]", nodes) == [["n1"], ["n4"]]


def test_counts_require_nodes_but_do_not_filter() -> None:
    nodes = make_cluster().node_list
    (choice,) = constraints.choices(constraints.parse("ssd*2&fast"), nodes)
    assert choice.allowed is None
    assert choice.counts == ((frozenset({"n1", "n4"}), 2),)
    assert [n.name for n in constraints.candidates("ssd*3", nodes)] == []
    assert [n.name for n in constraints.candidates("ssd*2", nodes)] == ["n1", "n2", "n3", "n4"]


def test_scheduler_places_on_matching_nodes() -> None:
    c = make_cluster()
    slow = add(c, features="slow")
    both = add(c, features="fast&ssd")
    counted = add(c, features="ssd*2", min_nodes=2, min_cpus=2)
    xor = add(c, features="[fast|slow]", min_nodes=2, min_cpus=2)
    assert cycle(c) == [slow, both, counted, xor]
    assert slow.nodes == ("n3",)
    assert both.nodes == ("n1",)
    assert counted.nodes == ("n1", "n4")
    assert xor.nodes == ("n3", "n4")  # n1 is full: fast has one node left, slow two


def test_a_constraint_no_free_node_matches_waits_for_resources() -> None:
    c = make_cluster()
    first = add(c, features="fast&ssd", num_tasks=2, tasks_set=True, min_cpus=2)
    second = add(c, features="fast&ssd")
    assert cycle(c) == [first]
    assert second.state_reason == R.WAIT_RESOURCES


# -- contiguous -------------------------------------------------------------------------------------


def test_contiguous_windows_smallest_first() -> None:
    nodes = make_cluster().node_list
    assert list(contiguous.windows(nodes, 3)) == [
        ["n1", "n2", "n3"],
        ["n2", "n3", "n4"],
        ["n1", "n2", "n3", "n4"],
    ]
    gap = [n for n in nodes if n.name != "n2"]
    assert list(contiguous.windows(gap, 2)) == [["n3", "n4"]]


def test_contiguous_job_takes_adjacent_nodes() -> None:
    c = make_cluster()
    add(c, nodes=(), features="fast&ssd")  # n1 half used
    blocker = add(c, req_nodes="n3", num_tasks=2, tasks_set=True, min_cpus=2)  # n3 full
    job = add(c, contiguous=1, min_nodes=2, min_cpus=2)
    started = cycle(c)
    assert blocker in started and job in started
    assert job.nodes == ("n1", "n2")


# -- licenses ---------------------------------------------------------------------------------------


def test_license_text() -> None:
    assert licenses.parse("a:2,b;a:1") == {"a": 3, "b": 1}
    assert licenses.parse("a:") == {"a": 0}
    assert licenses.parse(None) == {}
    for bad in ("a:x", "a b", "a:-1", "a:2 ", "a:+"):
        with pytest.raises(LicenseError):
            licenses.parse(bad)
    assert LicenseError("x").rc == 2048  # ESLURM_INVALID_LICENSES


def test_license_requests_are_checked_against_the_cluster() -> None:
    configured = {"matlab": 2, "ansys": 1}
    assert licenses.validate("matlab:2,ansys", configured) == {"matlab": 2, "ansys": 1}
    for bad in ("nosuch", "matlab:3", "matlab:x"):
        with pytest.raises(LicenseError):
            licenses.validate(bad, configured)


def test_licenses_in_slurm_conf() -> None:
    assert parse_text("ClusterName=x\nSlurmctldHost=h\nLicenses=a:2,b\n", "/x").licenses == "a:2,b"
    with pytest.raises(ConfigError, match="Invalid configured licenses: a:x"):
        parse_text("ClusterName=x\nSlurmctldHost=h\nLicenses=a:x\n", "/x")


def test_job_waits_for_licenses_until_they_are_given_back() -> None:
    c = make_cluster()
    holder = add(c, licenses="matlab:2")
    waiting = add(c, licenses="matlab")
    other = add(c, licenses="ansys")
    assert cycle(c) == [holder, other]
    assert waiting.state_reason == R.WAIT_LICENSES  # waits without blocking the partition
    states = licenses.report(licenses.configured(c.config.licenses), c.jobs.values())
    assert [(s.name, s.total, s.used, s.free) for s in states] == [("matlab", 2, 2, 0), ("ansys", 1, 1, 0)]
    # a completing job still holds them
    holder.state = JobState.COMPLETE | JobStateFlag.COMPLETING
    assert cycle(c) == []
    holder.state = JobState.COMPLETE
    c.release(holder)
    assert cycle(c) == [waiting]


def test_license_info_codec_round_trip() -> None:
    msg = LicenseInfoResponse(T0, (LicenseRecord("matlab", 2, 1, 0, 0), LicenseRecord("ansys", 1)))
    raw = encode_body(msg, SLURM_22_05_PROTOCOL_VERSION)
    # u32 count, time, then per license: str, u32 total, in use, reserved, u8 remote
    assert raw[:4] == b"\x00\x00\x00\x02"
    assert len(raw) == 4 + 8 + (4 + 7 + 12 + 1) + (4 + 6 + 12 + 1)
    assert decode_body(MsgType.RESPONSE_LICENSE_INFO, raw, SLURM_22_05_PROTOCOL_VERSION) == msg
    request = LicenseInfoRequest(T0, 0)
    raw = encode_body(request, SLURM_22_05_PROTOCOL_VERSION)
    assert decode_body(MsgType.REQUEST_LICENSE_INFO, raw, SLURM_22_05_PROTOCOL_VERSION) == request


# -- memory limits ----------------------------------------------------------------------------------


def test_memory_per_cpu_above_max_mem_per_cpu_takes_more_cpus() -> None:
    limit = 300 | MEM_PER_CPU
    fitted = fit_memory_limit(500 | MEM_PER_CPU, limit, 1, 1, 0)
    assert (fitted.memory, fitted.cpus_per_task, fitted.per_cpu_ratio) == (250 | MEM_PER_CPU, 2, 2)
    assert fit_memory_limit(200 | MEM_PER_CPU, limit, 1, 1, 0).cpus_per_task == 1


def test_memory_per_node_above_max_mem_per_cpu_takes_more_cpus_per_node() -> None:
    fitted = fit_memory_limit(600, 300 | MEM_PER_CPU, 1, 1, 0)
    assert (fitted.memory, fitted.cpus_per_task, fitted.pn_min_cpus) == (600, 1, 2)
    assert fit_memory_limit(5000, 300 | MEM_PER_CPU, 1, 1, 0).pn_min_cpus == 17
    assert fit_memory_limit(600, 0, 1, 1, 0).pn_min_cpus == 1  # no limit
    # no memory asked and no default: the partition's first node's memory counts (memory stays 0)
    fitted = fit_memory_limit(0, 600 | MEM_PER_CPU, 1, 1, 0, node_memory=1000)
    assert (fitted.memory, fitted.pn_min_cpus) == (0, 2)


# -- options flurm does not apply -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "rc"),
    [
        ({"prefer": "fast"}, SlurmRC.ESLURM_NOT_SUPPORTED),
        ({"batch_features": "fast"}, SlurmRC.ESLURM_NOT_SUPPORTED),
        ({"shared": 2}, SlurmRC.ESLURM_NOT_SUPPORTED),
        ({"bitflags": JobFlag.SPREAD_JOB}, SlurmRC.ESLURM_NOT_SUPPORTED),
        ({"x11": 1}, SlurmRC.ESLURM_X11_NOT_AVAIL),
    ],
)
def test_options_flurm_does_not_apply_are_refused(changes: dict[str, object], rc: int) -> None:
    with pytest.raises(SlurmError) as err:
        refuse_unhonoured(replace(SBATCH_DEFAULTS, **changes))  # type: ignore[arg-type]
    assert err.value.rc == rc


def test_what_sbatch_sends_by_default_is_accepted() -> None:
    refuse_unhonoured(SBATCH_DEFAULTS)
    refuse_unhonoured(replace(SBATCH_DEFAULTS, shared=0, contiguous=1, req_switch=1))
    refuse_unhonoured(replace(SBATCH_DEFAULTS, threads_per_core=1, ntasks_per_core=1))
    refuse_unhonoured(replace(SBATCH_DEFAULTS, sockets_per_node=2, cores_per_socket=2))


# the unset values of a plain `sbatch --wrap` (protocol capture)
SBATCH_DEFAULTS = JobDesc(
    task_dist=0x2000,
    kill_on_node_fail=NO_VAL16,
    pn_min_tmp_disk=NO_VAL,
    ntasks_per_board=0,
    ntasks_per_core=NO_VAL16,
    boards_per_node=0,
    sockets_per_board=0,
    sockets_per_node=NO_VAL16,
    cores_per_socket=NO_VAL16,
    threads_per_core=NO_VAL16,
    shared=NO_VAL16,
    bitflags=0x1E000000,
)


# -- updates ----------------------------------------------------------------------------------------


def test_update_of_a_field_flurm_does_not_apply_is_refused() -> None:
    c = make_cluster()
    job = add(c)
    assert (
        job_update.refusal(job, JobDesc(job_id=job.job_id, priority=0, bitflags=JobFlag.USE_DEFAULT_ACCT))
        == 0
    )
    for changes in (
        {"tres_bind": "gres/gpu:closest"},
        {"tres_freq": "gpu:high"},
        {"bitflags": JobFlag.RESET_ACCRUE_TIME},
    ):
        desc = replace(JobDesc(job_id=job.job_id), **changes)  # type: ignore[arg-type]
        assert job_update.refusal(job, desc) == SlurmRC.ESLURM_NOT_SUPPORTED, changes


def test_update_of_placement_fields() -> None:
    c = make_cluster()
    job = add(c)
    assert job_update.apply_placement(job, JobDesc(features="fast,ssd", licenses="ansys"), c) == (0, True)
    assert (job.features, job.licenses) == ("fast&ssd", "ansys")
    assert job_update.apply_placement(job, JobDesc(features="foo"), c)[0] == SlurmRC.ESLURM_INVALID_FEATURE
    assert (
        job_update.apply_placement(job, JobDesc(licenses="matlab:3"), c)[0] == SlurmRC.ESLURM_INVALID_LICENSES
    )
    assert job_update.apply_placement(job, JobDesc(exc_nodes="n9"), c)[0] == SlurmRC.ESLURM_INVALID_NODE_NAME
    assert job_update.apply_placement(job, JobDesc(req_nodes="n1", contiguous=1, shared=0), c) == (0, True)
    assert (job.req_nodes, job.contiguous, job.shared) == ("n1", 1, 0)
    assert job_update.apply_placement(job, JobDesc(features="", req_nodes=""), c) == (0, True)
    assert (job.features, job.req_nodes) == (None, None)
    cycle(c)
    assert job.is_running()
    assert job_update.apply_placement(job, JobDesc(features="fast"), c)[0] == SlurmRC.ESLURM_JOB_NOT_PENDING
    assert job_update.refusal(job, JobDesc(min_nodes=2)) == SlurmRC.ESLURM_NOT_SUPPORTED
    assert job_update.apply_placement(job, JobDesc(licenses="matlab:2"), c) == (0, True)  # an operator's


def test_an_update_of_a_field_slurmctld_ignores_is_accepted_and_changes_nothing() -> None:
    from flurm.controller.job_update import unapplied_field

    # slurmctld's _update_job() never reads the group id: success, nothing changed (as flurm)
    assert unapplied_field(JobDesc(job_id_str="1", group_id=0)) is None
    assert unapplied_field(JobDesc(job_id_str="1", tres_bind="x")) == "tres_bind"
