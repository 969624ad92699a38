"""Real 24.11 and 26.05 slurmctld <-> slurmd traffic (tests/golden/{24.11,26.05}/slurmd) decodes and
re-encodes byte for byte; what flurm sends a 26.05 slurmd is what its slurmctld sends (the default
output path, the environment it adds, the sluid); the sluid is made as 26.05 makes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from flurm.nodes import batch_env
from flurm.protocol.constants import (
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    SLURM_BATCH_SCRIPT,
    JobState,
    JobStateReason,
    MsgType,
)
from flurm.protocol.frame import Frame, FrameDecoder
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.common import ReturnCode
from flurm.protocol.messages.slurmd import (
    BatchJobLaunch,
    CompleteBatchScript,
    KillJobMsg,
    NodeRegistrationStatus,
)
from flurm.state.model import Job
from flurm.state.reasons import FAIL_SIGNAL, failed_reason, shown_reason
from flurm.state.sluid import SluidSource, sluid_text

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
VERSIONS = {"24.11": SLURM_24_11_PROTOCOL_VERSION, "26.05": SLURM_26_05_PROTOCOL_VERSION}


def _frames(path: Path) -> list[Frame]:
    dec = FrameDecoder()
    dec.feed(path.read_bytes())
    out = []
    while (f := dec.next_frame()) is not None:
        out.append(f)
    assert dec.needed() == 4, f"{path.name}: trailing bytes"
    return out


def _body(release: str, name: str) -> object:
    (f,) = _frames(GOLDEN / release / "slurmd" / f"{name}.bin")
    assert f.version == VERSIONS[release]
    return decode_body(f.msg_type, f.body, f.version)


@pytest.mark.parametrize("release", list(VERSIONS))
def test_every_golden_body_round_trips(release: str) -> None:
    paths = sorted((GOLDEN / release / "slurmd").glob("*.bin"))
    seen = set()
    for path in paths:
        for f in _frames(path):
            assert f.version == VERSIONS[release], path.name
            decoded = decode_body(f.msg_type, f.body, f.version)
            assert encode_body(decoded, f.version) == f.body, path.name
            seen.add(f.msg_type)
    assert {
        MsgType.MESSAGE_NODE_REGISTRATION_STATUS,
        MsgType.RESPONSE_NODE_REGISTRATION,
        MsgType.REQUEST_BATCH_JOB_LAUNCH,
        MsgType.REQUEST_COMPLETE_BATCH_SCRIPT,
        MsgType.REQUEST_TERMINATE_JOB,
        MsgType.MESSAGE_EPILOG_COMPLETE,
        MsgType.RESPONSE_SLURM_RC,
    } <= seen


@pytest.mark.parametrize("release", list(VERSIONS))
def test_registration_launch_and_completions(release: str) -> None:
    reg = _body(release, "reg_1002_startup-c2s")
    assert isinstance(reg, NodeRegistrationStatus)
    assert reg.node_name == "compute-node-1" and reg.version is not None
    assert reg.version.startswith(f"{release}.")
    launch = _body(release, "launch_4005_root-c2s")
    assert isinstance(launch, BatchJobLaunch)
    step = launch.credential.step_id
    assert (step.job_id, step.step_id) == (1, SLURM_BATCH_SCRIPT)
    # 24.11 packs the sluid but its slurmctld leaves it 0; 26.05 gives every job one
    assert (step.sluid != 0) == (release == "26.05")
    assert launch.std_out is not None and launch.std_out.endswith("/job1.out")
    added = [e for e in launch.environment if e.startswith(("SLURM_JOB_", "SLURM_TASKS"))]
    if release == "24.11":
        assert added == ["SLURM_JOB_NAME=wrap"]
    else:
        assert added == [
            "SLURM_JOB_NAME=wrap",
            "SLURM_JOB_OVERSUBSCRIBE=NO",
            "SLURM_JOB_EXCLUSIVE=NO",
            "SLURM_TASKS_PER_NODE=1",
        ]
    rcs = []
    for name in ("rc0", "exit3", "cancelled"):
        done = _body(release, f"complete_5018_{name}-c2s")
        assert isinstance(done, CompleteBatchScript)
        reply = _body(release, f"complete_5018_{name}-s2c")
        assert isinstance(reply, ReturnCode)
        rcs.append((done.job_rc, reply.rc))
    assert rcs[:2] == [(0, 0), (3 << 8, 0)]
    assert rcs[2][1] == 2021  # the cancelled job had ended: ESLURM_ALREADY_DONE
    kill = _body(release, "terminate_6011_cancelled-c2s")
    assert isinstance(kill, KillJobMsg) and kill.step_id.job_id == 3


def test_sluid_as_26_05_makes_and_prints_it() -> None:
    launch = _body("26.05", "launch_4005_root-c2s")
    assert isinstance(launch, BatchJobLaunch)
    sluid = launch.credential.step_id.sluid
    cluster_id, ms, seq = sluid >> 52, sluid >> 10 & (1 << 42) - 1, sluid & 0x3FF
    assert 2 <= cluster_id <= 4095 and seq == 0
    assert SluidSource(cluster_id).next(ms / 1000) == sluid
    assert sluid_text(1388948009747202048) == "s16HM8VCE7FG00"  # its SLURM_JOB_SLUID in the job's output
    src = SluidSource(7)
    a, b, c = src.next(1.0), src.next(1.0), src.next(0.5)  # same millisecond, then a clock gone back
    assert a < b < c and b - a == 1 and c - b == 1


def _job(**kw: object) -> Job:
    base: dict[str, object] = dict(job_id=1, name="wrap", user_id=0, group_id=0, partition="debug")
    base.update(kw)
    return Job(**base)  # type: ignore[arg-type]


def test_launch_environment_and_output_per_release() -> None:
    job = _job(environment=("A=1", "SLURM_JOB_NAME=old"))
    v22, v24, v26 = SLURM_22_05_PROTOCOL_VERSION, SLURM_24_11_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION
    assert batch_env.launch_environment(job, (2,), 1, v22) == job.environment
    assert batch_env.launch_environment(job, (2,), 1, v24) == ("A=1", "SLURM_JOB_NAME=wrap")
    assert batch_env.launch_environment(job, (2, 2), 1, v26) == (
        "A=1",
        "SLURM_JOB_NAME=wrap",
        "SLURM_JOB_OVERSUBSCRIBE=NO",
        "SLURM_JOB_EXCLUSIVE=NO",
        "SLURM_TASKS_PER_NODE=2(x2)",
    )
    assert batch_env.std_out(job, v24) is None
    assert batch_env.std_out(job, v26) == "slurm-%j.out"
    assert batch_env.std_out(_job(array_task_id=3, array_job_id=1), v26) == "slurm-%A_%a.out"
    assert batch_env.std_out(_job(std_out="/x/o"), v26) == "/x/o"
    assert (batch_env.oversubscribe(_job(shared=1), 1), batch_env.exclusive(_job(shared=0), 1)) == (
        "YES",
        "NODE",
    )
    assert batch_env.tasks_per_node(_job(num_tasks=3, tasks_set=True), (2, 2)) == "2,1"


def test_a_signal_ends_a_job_with_each_release_s_reason() -> None:
    assert failed_reason(3 << 8) == JobStateReason.FAIL_EXIT_CODE
    assert failed_reason(9) == JobStateReason.FAIL_LAUNCH
    killed = _job(state=JobState.FAILED, exit_code=9, state_reason=JobStateReason.FAIL_LAUNCH)
    assert shown_reason(killed, SLURM_22_05_PROTOCOL_VERSION) == (JobStateReason.FAIL_LAUNCH, None)
    for v in (SLURM_24_11_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION):
        assert shown_reason(killed, v) == (FAIL_SIGNAL, "RaisedSignal:9(Killed)")
    # a launch failure without a signal, an exit code: as stored
    failed = _job(state=JobState.FAILED, exit_code=1 << 8, state_reason=JobStateReason.FAIL_LAUNCH)
    assert shown_reason(failed, SLURM_26_05_PROTOCOL_VERSION) == (JobStateReason.FAIL_LAUNCH, None)
