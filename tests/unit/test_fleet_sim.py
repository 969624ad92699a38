"""The simulated slurmd fleet (bench/fleet): job plans from batch scripts, the slurm.conf lines of a
fleet, and what one simulated node answers and sends for each request, as slurmd 22.05's req.c does;
every body a node sends survives flurm's codec in each served release."""

from __future__ import annotations

import dataclasses
import signal

import pytest
from bench.fleet.conf import MAX_NODES, FleetConfError, FleetShape
from bench.fleet.node import (
    COMPLETE_RETRIES,
    CancelTimer,
    Effect,
    Register,
    Send,
    SimNode,
    StartTimer,
    empty_gres_info,
)
from bench.fleet.script import MAX_SECONDS, JobPlan, ScriptError, plan

from flurm.config.hostlists import expand
from flurm.config.slurmconf import NodeConf, parse_text
from flurm.protocol.constants import (
    NO_VAL,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    SLURM_BATCH_SCRIPT,
    MsgType,
    SlurmRC,
)
from flurm.protocol.messages import Body, decode_body, encode_body
from flurm.protocol.messages.common import Empty, ReturnCode
from flurm.protocol.messages.credential import JobCredential, StepId
from flurm.protocol.messages.slurmd import (
    SLURMD_REG_FLAG_RESP,
    BatchJobLaunch,
    CompleteBatchScript,
    CompleteProlog,
    EpilogComplete,
    KillJobMsg,
    LaunchProlog,
    NodeRegistrationStatus,
    PingSlurmdResponse,
)
from flurm.protocol.wire import Bitmap

V22, V24, V26 = SLURM_22_05_PROTOCOL_VERSION, SLURM_24_11_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION
RELEASES = {V22: "22.05.8", V24: "24.11.5", V26: "26.05.5"}
SLURM_USER = 64030  # a SlurmUser that is not root
NONE = Empty()  # the body of a request that has none (REQUEST_PING)

# -- script.py: job plans -------------------------------------------------------------------------


def test_directive_sets_time_and_exit_code() -> None:
    assert plan("#!/bin/sh\n#FLEET sleep=2.5 exit=3\n", 0.0) == JobPlan(2.5, 3)
    # spacing and order are free; one key alone leaves the other to the script or the default
    assert plan("  #  FLEET   exit=7  sleep=1\n", 9.0) == JobPlan(1.0, 7)
    assert plan("#FLEET exit=4\n", 9.0) == JobPlan(9.0, 4)
    assert plan("#FLEET sleep=1\nexit 5\n", 9.0) == JobPlan(1.0, 5)


def test_directive_wins_over_plain_lines() -> None:
    assert plan("#FLEET sleep=1 exit=0\nsleep 100\nexit 9\n", 0.0) == JobPlan(1.0, 0)


def test_plain_sleeps_are_summed_and_the_last_exit_counts() -> None:
    script = "#!/bin/sh\n# created by sbatch --wrap.\n\nsleep 2\necho hi\nsleep 0.5;\nexit 4\nexit 6\n"
    assert plan(script, 30.0) == JobPlan(2.5, 6)


def test_indented_or_compound_lines_are_not_run() -> None:
    # only top-level whole-line ``sleep N`` / ``exit N`` count; nothing else of a script runs
    assert plan("sleep 2 && exit 3\nfor i in 1; do sleep 9; done\necho exit 4\n", 7.0) == JobPlan(7.0, 0)


def test_without_anything_the_default_time_and_exit_zero() -> None:
    assert plan(None, 3.0) == JobPlan(3.0, 0)
    assert plan("", 0.0) == JobPlan(0.0, 0)
    assert plan("#!/bin/bash\n#SBATCH -N2\nhostname\n", 1.5) == JobPlan(1.5, 0)


@pytest.mark.parametrize(
    "line",
    [
        "#FLEET sleep=x",
        "#FLEET sleep=",
        "#FLEET sleep=-1",
        "#FLEET sleep=nan",
        "#FLEET sleep=inf",
        "#FLEET exit=-1",
        "#FLEET exit=",
        "#FLEET exit=1.5",
        "#FLEET exit=²",  # a digit to str.isdigit, not to int()
        "#FLEET runtime=5",
        "#FLEET sleep",
    ],
)
def test_bad_directive_raises(line: str) -> None:
    with pytest.raises(ScriptError):
        plan(f"#!/bin/sh\n{line}\n", 0.0)


def test_times_are_clamped_to_a_year() -> None:
    assert plan("#FLEET sleep=1e12\n", 0.0).seconds == MAX_SECONDS
    assert plan("sleep 31536000\nsleep 31536000\n", 0.0).seconds == MAX_SECONDS


def test_exit_codes_are_truncated_as_a_shell_does() -> None:
    assert plan("#FLEET exit=256\n", 0.0).exit_code == 0
    assert plan("#FLEET exit=259\n", 0.0).exit_code == 3
    assert plan("exit 256\n", 0.0).exit_code == 0
    assert plan("exit 511\n", 0.0).exit_code == 255


def test_wait_status_is_the_exit_code_shifted() -> None:
    assert JobPlan(0.0, 3).wait_status == 3 << 8
    assert JobPlan(0.0, 0).wait_status == 0


# -- conf.py: the slurm.conf lines ----------------------------------------------------------------

HEADER = "ClusterName=fleet\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort=6817\n"


def test_conf_lines_pair_each_node_with_its_port() -> None:
    shape = FleetShape(nodes=12, cpus=4, port_base=30000)
    text = shape.lines()
    assert text == (
        "NodeName=sim[01-12] NodeHostname=localhost NodeAddr=127.0.0.1 Port=[30000-30011] "
        "CPUs=4 RealMemory=1000 State=UNKNOWN\n"
        "PartitionName=fleet Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n"
    )
    config = parse_text(HEADER + text)
    assert [(n.name, n.port, n.cpus, n.real_memory_mib) for n in config.nodes] == [
        (f"sim{i:02d}", 30000 + i - 1, 4, 1000) for i in range(1, 13)
    ]
    assert [p.name for p in config.partitions] == ["fleet"]


def test_conf_names_sort_as_numbers_and_options_apply() -> None:
    shape = FleetShape(nodes=1000, cpus=2, port_base=40000, memory_mib=512, prefix="cn", partition="big")
    assert shape.node_range == "cn[0001-1000]"
    names = expand(shape.node_range)
    assert names == sorted(names) and len(names) == 1000
    text = shape.lines()
    assert "RealMemory=512" in text and "PartitionName=big " in text


def test_conf_of_one_node_has_a_single_port() -> None:
    text = FleetShape(nodes=1, cpus=1, port_base=30000).lines()
    assert " Port=30000 " in text
    config = parse_text(HEADER + text)
    assert [(n.name, n.port) for n in config.nodes] == [("sim1", 30000)]


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        (dict(nodes=0), "--nodes"),
        (dict(nodes=MAX_NODES + 1), "--nodes"),
        (dict(cpus=0), "--cpus"),
        (dict(cpus=65536), "--cpus"),
        (dict(port_base=1023), "outside"),
        (dict(port_base=65535, nodes=2), "outside"),
        (dict(prefix="sim-"), "--prefix"),
        (dict(prefix=""), "--prefix"),
        (dict(memory_mib=-1), "--memory"),
    ],
)
def test_conf_refusals(kw: dict[str, object], says: str) -> None:
    args: dict[str, object] = dict(nodes=4, cpus=2, port_base=30000)
    args.update(kw)
    with pytest.raises(FleetConfError, match=says):
        FleetShape(**args)  # type: ignore[arg-type]


def test_conf_at_the_last_port_is_accepted() -> None:
    assert "Port=[65534-65535]" in FleetShape(nodes=2, cpus=1, port_base=65534).lines()


# -- node.py: what one node answers ---------------------------------------------------------------


def _node(version: int = V22, *, has_epilog: bool = False, default_seconds: float = 0.0) -> SimNode:
    conf = NodeConf(
        name="sim01",
        addr="127.0.0.1",
        hostname="localhost",
        port=30000,
        cpus=4,
        sockets=1,
        cores_per_socket=4,
        real_memory_mib=1000,
        tmp_disk_mib=10,
    )
    return SimNode(
        conf=conf,
        version=version,
        release=RELEASES[version],
        conf_hash=0x1234,
        slurm_user_uid=SLURM_USER,
        has_epilog=has_epilog,
        default_seconds=default_seconds,
        started=1_700_000_000,
    )


def _cred(job_id: int, sluid: int = 0) -> JobCredential:
    return JobCredential(
        step_id=StepId(job_id, SLURM_BATCH_SCRIPT, NO_VAL, sluid),
        uid=1000,
        gid=1000,
        pw_name="alice",
        job_hostlist="sim01",
        job_nhosts=1,
        job_core_bitmap=Bitmap(4, 0b1),
        cores_per_socket=(4,),
        sockets_per_node=(1,),
        sock_core_rep_count=(1,),
        cpu_array=(1,),
        cpu_array_reps=(1,),
    )


def _launch(job_id: int, script: str | None, sluid: int = 0) -> BatchJobLaunch:
    return BatchJobLaunch(
        job_id=job_id,
        uid=1000,
        gid=1000,
        user_name="alice",
        credential=_cred(job_id, sluid),
        partition="fleet",
        cpus_per_node=(1,),
        cpu_count_reps=(1,),
        nodes="sim01",
        script=script,
    )


def _kill(job_id: int, step: int = NO_VAL) -> KillJobMsg:
    return KillJobMsg(StepId(job_id, step), 0x8004, 1000, 1000, 1_700_000_100)


def _rc(rc: int) -> tuple[int, Body]:
    return MsgType.RESPONSE_SLURM_RC, ReturnCode(int(rc))


def _sends(effects: list[Effect]) -> list[Send]:
    return [e for e in effects if isinstance(e, Send)]


def test_ping_answers_load_and_free_memory() -> None:
    node = _node()
    reply, effects = node.handle(MsgType.REQUEST_PING, NONE, 0)
    assert reply == (MsgType.RESPONSE_PING_SLURMD, PingSlurmdResponse(0, 1000, None))
    assert effects == []
    assert node.requests == {MsgType.REQUEST_PING: 1}


def test_ping_names_the_node_from_26_05() -> None:
    reply, _ = _node(V26).handle(MsgType.REQUEST_PING, NONE, 0)
    assert reply == (MsgType.RESPONSE_PING_SLURMD, PingSlurmdResponse(0, 1000, "sim01"))


def test_registration_request_is_a_ping_then_a_registration() -> None:
    reply, effects = _node().handle(MsgType.REQUEST_NODE_REGISTRATION_STATUS, NONE, SLURM_USER)
    assert reply == (MsgType.RESPONSE_PING_SLURMD, PingSlurmdResponse(0, 1000, None))
    assert effects == [Register(True)]


def test_launch_starts_the_plan() -> None:
    node = _node()
    reply, effects = node.handle(MsgType.REQUEST_BATCH_JOB_LAUNCH, _launch(7, "#FLEET sleep=2 exit=3\n"), 0)
    assert reply == _rc(0)
    assert effects == [StartTimer(7, 2.0)]
    assert node.jobs[7].plan == JobPlan(2.0, 3) and node.jobs[7].uid == 1000


def test_launch_without_a_plan_runs_the_default_time() -> None:
    node = _node(default_seconds=4.0)
    _, effects = node.handle(MsgType.REQUEST_BATCH_JOB_LAUNCH, _launch(7, "#!/bin/sh\nhostname\n"), 0)
    assert effects == [StartTimer(7, 4.0)]


def test_launch_of_an_unreadable_plan_fails_the_job_at_once() -> None:
    node = _node()
    reply, effects = node.handle(MsgType.REQUEST_BATCH_JOB_LAUNCH, _launch(7, "#FLEET sleep=soon\n"), 0)
    assert reply == _rc(0) and effects == [StartTimer(7, 0.0)]
    assert node.jobs[7].plan == JobPlan(0.0, 1)


def test_duplicate_launch_is_refused_and_changes_nothing() -> None:
    node = _node()
    node.handle(MsgType.REQUEST_BATCH_JOB_LAUNCH, _launch(7, "#FLEET sleep=5\n"), 0)
    reply, effects = node.handle(MsgType.REQUEST_BATCH_JOB_LAUNCH, _launch(7, "#FLEET sleep=1\n"), 0)
    assert reply == _rc(SlurmRC.ESLURM_DUPLICATE_JOB_ID) and effects == []
    assert node.jobs[7].plan == JobPlan(5.0, 0)


def test_batch_end_reports_the_exit_status_once() -> None:
    node = _node()
    node.handle(MsgType.REQUEST_BATCH_JOB_LAUNCH, _launch(7, "#FLEET sleep=1 exit=3\n"), 0)
    effects = node.batch_ended(7)
    assert effects == [
        Send(
            MsgType.REQUEST_COMPLETE_BATCH_SCRIPT,
            CompleteBatchScript(7, 3 << 8, 0, 1000, "sim01"),
            retries=COMPLETE_RETRIES,
        )
    ]
    assert node.jobs == {} and node.batch_ended(7) == []


def test_terminate_of_a_running_job_ends_it_with_sigterm_then_epilog() -> None:
    node = _node()
    node.handle(MsgType.REQUEST_BATCH_JOB_LAUNCH, _launch(7, "#FLEET sleep=60\n"), 0)
    reply, effects = node.handle(MsgType.REQUEST_TERMINATE_JOB, _kill(7), 0)
    assert reply == _rc(0)
    assert effects == [
        CancelTimer(7),
        Send(
            MsgType.REQUEST_COMPLETE_BATCH_SCRIPT,
            CompleteBatchScript(7, int(signal.SIGTERM), 0, 1000, "sim01"),
            retries=COMPLETE_RETRIES,
        ),
        Send(MsgType.MESSAGE_EPILOG_COMPLETE, EpilogComplete(7, 0, "sim01"), expect_reply=False),
    ]
    assert node.jobs == {}
    # the timer that fires anyway (cancelled too late) reports nothing more
    assert node.batch_ended(7) == []


def test_kill_preempted_is_a_terminate() -> None:
    node = _node()
    node.handle(MsgType.REQUEST_BATCH_JOB_LAUNCH, _launch(7, "#FLEET sleep=60\n"), 0)
    reply, effects = node.handle(MsgType.REQUEST_KILL_PREEMPTED, _kill(7), 0)
    assert reply == _rc(0) and len(_sends(effects)) == 2


def test_terminate_of_an_unknown_job_is_already_complete_and_sends_nothing() -> None:
    reply, effects = _node().handle(MsgType.REQUEST_TERMINATE_JOB, _kill(8), 0)
    assert reply == _rc(SlurmRC.ESLURMD_KILL_JOB_ALREADY_COMPLETE) and effects == []


def test_terminate_of_an_unknown_job_with_an_epilog_runs_it() -> None:
    reply, effects = _node(has_epilog=True).handle(MsgType.REQUEST_TERMINATE_JOB, _kill(8), 0)
    assert reply == _rc(0)
    assert effects == [
        Send(MsgType.MESSAGE_EPILOG_COMPLETE, EpilogComplete(8, 0, "sim01"), expect_reply=False)
    ]


def test_terminate_of_one_step_leaves_the_job_running() -> None:
    node = _node()
    node.handle(MsgType.REQUEST_BATCH_JOB_LAUNCH, _launch(7, "#FLEET sleep=60\n"), 0)
    reply, effects = node.handle(MsgType.REQUEST_TERMINATE_JOB, _kill(7, step=0), 0)
    assert reply == _rc(0) and effects == [] and 7 in node.jobs


def test_timelimit_always_sends_the_epilog() -> None:
    reply, effects = _node().handle(MsgType.REQUEST_KILL_TIMELIMIT, _kill(8), 0)
    assert reply == _rc(0)
    assert effects == [
        Send(MsgType.MESSAGE_EPILOG_COMPLETE, EpilogComplete(8, 0, "sim01"), expect_reply=False)
    ]
    node = _node()
    node.handle(MsgType.REQUEST_BATCH_JOB_LAUNCH, _launch(7, "#FLEET sleep=60\n"), 0)
    _, effects = node.handle(MsgType.REQUEST_KILL_TIMELIMIT, _kill(7), 0)
    assert [s.msg_type for s in _sends(effects)] == [
        MsgType.REQUEST_COMPLETE_BATCH_SCRIPT,
        MsgType.MESSAGE_EPILOG_COMPLETE,
    ]


def test_abort_ends_the_job_without_a_message() -> None:
    node = _node()
    node.handle(MsgType.REQUEST_BATCH_JOB_LAUNCH, _launch(7, "#FLEET sleep=60\n"), 0)
    reply, effects = node.handle(MsgType.REQUEST_ABORT_JOB, _kill(7), 0)
    assert reply == _rc(0) and effects == [CancelTimer(7)]
    assert node.jobs == {} and node.batch_ended(7) == []
    reply, effects = node.handle(MsgType.REQUEST_ABORT_JOB, _kill(9), 0)
    assert reply == _rc(0) and effects == []


def test_prolog_is_answered_then_completed() -> None:
    msg = LaunchProlog(7, 1000, 1000, _cred(7), nodes="sim01")
    reply, effects = _node().handle(MsgType.REQUEST_LAUNCH_PROLOG, msg, 0)
    assert reply == _rc(0)
    assert effects == [
        Send(MsgType.REQUEST_COMPLETE_PROLOG, CompleteProlog(7, "sim01", 0), retries=COMPLETE_RETRIES)
    ]


def test_reconfigure_registers_again() -> None:
    for msg_type in (MsgType.REQUEST_RECONFIGURE, MsgType.REQUEST_RECONFIGURE_WITH_CONFIG):
        assert _node().handle(msg_type, NONE, 0) == (_rc(0), [Register(True)])


@pytest.mark.parametrize(
    "msg_type",
    [
        MsgType.REQUEST_HEALTH_CHECK,
        MsgType.REQUEST_SIGNAL_TASKS,
        MsgType.REQUEST_TERMINATE_TASKS,
        MsgType.REQUEST_JOB_NOTIFY,
        MsgType.REQUEST_SUSPEND_INT,
        MsgType.REQUEST_SHUTDOWN,
        MsgType.REQUEST_REBOOT_NODES,
    ],
)
def test_requests_answered_zero_with_no_effect(msg_type: int) -> None:
    assert _node().handle(msg_type, NONE, 0) == (_rc(0), [])


def test_step_launch_is_not_supported_and_other_types_are_invalid() -> None:
    node = _node()
    assert node.handle(MsgType.REQUEST_LAUNCH_TASKS, NONE, 0) == (_rc(SlurmRC.ESLURM_NOT_SUPPORTED), [])
    assert node.handle(MsgType.REQUEST_JOB_INFO, NONE, 0) == (_rc(22), [])  # EINVAL


@pytest.mark.parametrize(
    "msg_type",
    [MsgType.REQUEST_PING, MsgType.REQUEST_BATCH_JOB_LAUNCH, MsgType.REQUEST_TERMINATE_JOB],
)
def test_other_users_are_refused(msg_type: int) -> None:
    node = _node()
    body: Body = _launch(7, None) if msg_type == MsgType.REQUEST_BATCH_JOB_LAUNCH else _kill(7)
    if msg_type == MsgType.REQUEST_PING:
        body = NONE
    assert node.handle(msg_type, body, 1000) == (_rc(SlurmRC.ESLURM_USER_ID_MISSING), [])
    assert node.jobs == {}
    assert node.requests == {msg_type: 1}  # counted all the same


# -- node.py: the registration -------------------------------------------------------------------


def test_registration_describes_the_node() -> None:
    reg = _node().registration(wants_response=True)
    assert (reg.node_name, reg.hostname, reg.version) == ("sim01", "localhost", "22.05.8")
    assert (reg.cpus, reg.boards, reg.sockets, reg.cores, reg.threads) == (4, 1, 1, 4, 1)
    assert (reg.real_memory, reg.free_mem, reg.cpu_load, reg.tmp_disk) == (1000, 1000, 0, 10)
    assert reg.hash_val == 0x1234 and reg.slurmd_start_time == 1_700_000_000
    assert reg.flags == SLURMD_REG_FLAG_RESP and reg.steps == ()
    assert reg.gres_info == empty_gres_info(V22) == b"\x26\x00\x00\x00"
    assert _node().registration(wants_response=False).flags == 0


def test_registration_lists_the_batch_steps_of_running_jobs_only() -> None:
    node = _node(V24)
    node.handle(MsgType.REQUEST_BATCH_JOB_LAUNCH, _launch(7, "#FLEET sleep=60\n", sluid=77), 0)
    node.handle(MsgType.REQUEST_BATCH_JOB_LAUNCH, _launch(8, "#FLEET sleep=1\n"), 0)
    node.handle(MsgType.REQUEST_BATCH_JOB_LAUNCH, _launch(9, "#FLEET sleep=60\n"), 0)
    node.batch_ended(8)
    node.handle(MsgType.REQUEST_TERMINATE_JOB, _kill(9), 0)
    assert node.registration(True).steps == (StepId(7, SLURM_BATCH_SCRIPT, NO_VAL, 77),)


# -- every body a node sends or answers, through flurm's codec -------------------------------------


def _everything_sent(version: int) -> list[tuple[int, Body]]:
    """(type, body) of each message a node sends, gathered by driving it through every request."""
    node = _node(version, has_epilog=True)
    sluids = (70, 80) if version >= V24 else (0, 0)  # 22.05's step ids have none
    out: list[tuple[int, Body]] = []

    def take(result: tuple[tuple[int, Body] | None, list[Effect]]) -> None:
        reply, effects = result
        if reply is not None:
            out.append(reply)
        out.extend((s.msg_type, s.body) for s in _sends(effects))

    take(node.handle(MsgType.REQUEST_PING, NONE, 0))
    take(node.handle(MsgType.REQUEST_BATCH_JOB_LAUNCH, _launch(7, "#FLEET sleep=1 exit=3\n", sluids[0]), 0))
    take(node.handle(MsgType.REQUEST_BATCH_JOB_LAUNCH, _launch(8, "#FLEET sleep=9\n", sluids[1]), 0))
    out.append((MsgType.MESSAGE_NODE_REGISTRATION_STATUS, node.registration(True)))
    take((None, node.batch_ended(7)))
    take(node.handle(MsgType.REQUEST_TERMINATE_JOB, _kill(8), 0))
    take(node.handle(MsgType.REQUEST_KILL_TIMELIMIT, _kill(9), 0))
    take(node.handle(MsgType.REQUEST_LAUNCH_PROLOG, LaunchProlog(10, 1000, 1000, _cred(10)), 0))
    take(node.handle(MsgType.REQUEST_PING, NONE, 1000))
    return out


@pytest.mark.parametrize("version", [V22, V24, V26])
def test_every_body_sent_round_trips_through_the_codec(version: int) -> None:
    sent = _everything_sent(version)
    types = {t for t, _ in sent}
    assert types == {
        MsgType.RESPONSE_PING_SLURMD,
        MsgType.RESPONSE_SLURM_RC,
        MsgType.MESSAGE_NODE_REGISTRATION_STATUS,
        MsgType.REQUEST_COMPLETE_BATCH_SCRIPT,
        MsgType.MESSAGE_EPILOG_COMPLETE,
        MsgType.REQUEST_COMPLETE_PROLOG,
    }
    for msg_type, body in sent:
        wire = encode_body(body, version)
        got = decode_body(msg_type, wire, version)
        if version >= V26 and isinstance(got, CompleteBatchScript | EpilogComplete | CompleteProlog):
            # 26.05 names the job by a step id: decoded, it is kept as sent
            assert got.step is not None and got.step.job_id == got.job_id
            got = dataclasses.replace(got, step=None)
        assert got == body, (MsgType(msg_type).name, version)
        assert encode_body(got, version) == wire


def test_registration_round_trips_with_running_steps() -> None:
    for version in (V22, V24, V26):
        node = _node(version)
        node.handle(MsgType.REQUEST_BATCH_JOB_LAUNCH, _launch(7, "#FLEET sleep=60\n", sluid=70), 0)
        reg = node.registration(True)
        got = decode_body(MsgType.MESSAGE_NODE_REGISTRATION_STATUS, encode_body(reg, version), version)
        assert isinstance(got, NodeRegistrationStatus)
        want_sluid = 70 if version >= V24 else 0  # 22.05's step id has no sluid
        assert got.steps == (StepId(7, SLURM_BATCH_SCRIPT, NO_VAL, want_sluid),)
        assert got.gres_info == empty_gres_info(version)
        assert (got.node_name, got.cpus, got.version) == ("sim01", 4, RELEASES[version])
