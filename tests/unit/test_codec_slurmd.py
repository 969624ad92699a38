"""Controller <-> slurmd bodies and the job credential, against traffic captured between a real
slurmctld and a real slurmd 22.05.8 (tests/golden/slurmd, see its README)."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import pytest

from flurm.protocol.constants import (
    NO_VAL,
    NO_VAL16,
    SLURM_BATCH_SCRIPT,
    SLURM_EXTERN_CONT,
    MsgType,
)
from flurm.protocol.frame import Frame, FrameDecoder
from flurm.protocol.messages.base import body_class, decode_body, encode_body
from flurm.protocol.messages.common import Empty, ReturnCode
from flurm.protocol.messages.credential import (
    GresEpilogInfo,
    GresJobState,
    GresStepState,
    JobCredential,
    StepId,
)
from flurm.protocol.messages.nodes import AcctGatherEnergy
from flurm.protocol.messages.slurmd import (
    DEFAULT_TRES,
    JOB_LAUNCH_FAILED,
    JOB_REQUEUE_HOLD,
    BatchJobLaunch,
    CompleteBatchScript,
    CompleteProlog,
    EpilogComplete,
    JobAcctInfo,
    JobRequeue,
    KillJobMsg,
    LaunchProlog,
    NodeRegistrationResponse,
    NodeRegistrationStatus,
    PingSlurmdResponse,
    SignalTasks,
    StepComplete,
    TresRecord,
    parse_gres_info,
)
from flurm.protocol.wire import Bitmap, DecodeError, EncodeError, Reader, Writer

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "slurmd"
V = 0x2600
INFINITE64 = 0xFFFFFFFFFFFFFFFF


def frames_of(path: Path) -> list[Frame]:
    dec = FrameDecoder()
    dec.feed(path.read_bytes())
    out = []
    while (f := dec.next_frame()) is not None:
        out.append(f)
    assert dec.needed() == 4, f"{path.name}: trailing bytes"
    return out


def frame(name: str) -> Frame:
    frames = frames_of(GOLDEN / f"{name}.bin")
    assert len(frames) == 1, name
    return frames[0]


def body(name: str) -> object:
    f = frame(name)
    return decode_body(f.msg_type, f.body, f.version)


def rc(name: str) -> int:
    b = body(name)
    assert isinstance(b, ReturnCode)
    return b.rc


# -- every captured body ---------------------------------------------------------------------------


def test_every_golden_body_round_trips() -> None:
    paths = sorted(GOLDEN.glob("*.bin"))
    assert len(paths) >= 50
    seen: set[int] = set()
    for path in paths:
        for f in frames_of(path):
            assert body_class(f.msg_type) is not None, f"{path.name}: {f.msg_type} has no codec"
            decoded = decode_body(f.msg_type, f.body, f.version)
            assert encode_body(decoded, f.version) == f.body, path.name
            seen.add(f.msg_type)
    wanted = {
        MsgType.REQUEST_NODE_REGISTRATION_STATUS,
        MsgType.MESSAGE_NODE_REGISTRATION_STATUS,
        MsgType.RESPONSE_NODE_REGISTRATION,
        MsgType.REQUEST_PING,
        MsgType.RESPONSE_PING_SLURMD,
        MsgType.REQUEST_BATCH_JOB_LAUNCH,
        MsgType.REQUEST_COMPLETE_BATCH_SCRIPT,
        MsgType.REQUEST_STEP_COMPLETE,
        MsgType.REQUEST_TERMINATE_JOB,
        MsgType.REQUEST_KILL_TIMELIMIT,
        MsgType.MESSAGE_EPILOG_COMPLETE,
        MsgType.REQUEST_LAUNCH_PROLOG,
        MsgType.REQUEST_COMPLETE_PROLOG,
        MsgType.RESPONSE_SLURM_RC,
    }
    assert wanted <= seen


# -- registration and ping -------------------------------------------------------------------------


def test_startup_registration() -> None:
    reg = body("reg_1002_startup-c2s")
    assert isinstance(reg, NodeRegistrationStatus)
    assert (reg.node_name, reg.hostname, reg.arch, reg.version) == (
        "compute-node-1",
        "vm",
        "x86_64",
        "22.05.8",
    )
    assert (reg.cpus, reg.boards, reg.sockets, reg.cores, reg.threads) == (2, 1, 1, 2, 1)
    assert reg.real_memory > 1000 and reg.free_mem > 0 and reg.up_time > 0
    assert reg.timestamp >= reg.slurmd_start_time > 1_700_000_000
    assert reg.steps == () and reg.flags == 2 and reg.wants_response
    assert reg.energy == AcctGatherEnergy()
    assert (reg.dynamic_type, reg.dynamic_conf, reg.dynamic_feature) == (0, None, None)
    # the GRES blob of a node without GRES: u16 version 0x2600, u16 count 0
    assert reg.gres_info == b"\x26\x00\x00\x00"
    assert parse_gres_info(reg.gres_info) == (V, ())

    resp = body("reg_1002_startup-s2c")
    assert isinstance(resp, NodeRegistrationResponse)
    assert resp.node_name is None and resp.tres_list is not None
    got = [(t.id, t.type, t.name, t.count, t.alloc_secs) for t in resp.tres_list]
    assert got == [
        (1, "cpu", None, 2, 0),
        (2, "mem", None, 1000, 0),
        (3, "energy", None, 0, 0),
        (4, "node", None, 1, 0),
        (5, "billing", None, 2, 0),
        (6, "fs", "disk", 0, 0),
        (7, "vmem", None, 0, 0),
        (8, "pages", None, 0, 0),
    ]
    # DEFAULT_TRES is that list with zero counts
    assert [dataclasses.replace(t, count=0) for t in resp.tres_list] == list(DEFAULT_TRES)
    counts = {1: 2, 2: 1000, 4: 1, 5: 2}
    ours = NodeRegistrationResponse(
        tuple(dataclasses.replace(t, count=counts.get(t.id, 0)) for t in DEFAULT_TRES)
    )
    assert encode_body(ours) == frame("reg_1002_startup-s2c").body


def test_registration_after_1001_lists_running_steps() -> None:
    req = frame("node_reg_request_1001-c2s")
    assert req.msg_type == MsgType.REQUEST_NODE_REGISTRATION_STATUS and req.body == b""
    assert decode_body(req.msg_type, req.body) == Empty()
    ping = body("node_reg_request_1001-s2c")
    assert isinstance(ping, PingSlurmdResponse) and ping.free_mem > 0
    reg = body("reg_1002_running_job-c2s")
    assert isinstance(reg, NodeRegistrationStatus)
    assert reg.steps == (StepId(4, SLURM_BATCH_SCRIPT, NO_VAL),)
    assert reg.wants_response
    assert isinstance(body("reg_1002_running_job-s2c"), NodeRegistrationResponse)


def test_ping() -> None:
    req = frame("ping_1008-c2s")
    assert req.msg_type == MsgType.REQUEST_PING and req.body == b""
    resp = frame("ping_1008-s2c")
    assert resp.msg_type == MsgType.RESPONSE_PING_SLURMD and len(resp.body) == 12
    pong = decode_body(resp.msg_type, resp.body)
    assert isinstance(pong, PingSlurmdResponse)
    assert encode_body(PingSlurmdResponse(pong.cpu_load, pong.free_mem)) == resp.body
    assert resp.body == struct.pack(">IQ", pong.cpu_load, pong.free_mem)


# -- batch launch and its credential --------------------------------------------------------------


def test_batch_launch_as_root() -> None:
    launch = body("launch_4005_root-c2s")
    assert isinstance(launch, BatchJobLaunch)
    assert (launch.job_id, launch.het_job_id, launch.uid, launch.gid) == (1, 0, 0, 0)
    assert launch.user_name is None and launch.gids == ()  # slurmd takes both from the credential
    assert (launch.partition, launch.nodes, launch.ntasks, launch.pn_min_memory, launch.job_mem) == (
        "debug",
        "compute-node-1",
        0,
        0,
        0,
    )
    assert (launch.array_job_id, launch.array_task_id) == (0, NO_VAL)
    assert (launch.cpus_per_task, launch.job_core_spec, launch.cpus_per_node, launch.cpu_count_reps) == (
        1,
        0,
        (1,),
        (1,),
    )
    assert launch.script == "#!/bin/sh\n# This script was created by sbatch --wrap.\n\necho hello; true\n"
    assert launch.work_dir is not None and launch.std_out == launch.work_dir + "/job1.out"
    assert (launch.std_in, launch.std_err) == ("/dev/null", None)
    assert launch.argv == () and launch.spank_job_env == ()
    env = dict(e.split("=", 1) for e in launch.environment)
    assert env["SLURM_JOB_NAME"] == "wrap" and env["SLURM_SUBMIT_DIR"] == launch.work_dir
    assert env["PATH"] == "/usr/sbin:/usr/bin:/sbin:/bin" and "SLURM_UMASK" in env
    # cred_version 0: the credential came in the message's own version
    assert (launch.cred_version, launch.select_plugin_id, launch.account, launch.qos) == (0, 109, None, None)

    cred = launch.credential
    assert cred.step_id == StepId(1, SLURM_BATCH_SCRIPT, NO_VAL)
    assert (cred.uid, cred.gid, cred.pw_name, cred.pw_gecos, cred.pw_dir, cred.pw_shell) == (
        0,
        0,
        "root",
        "root",
        "/root",
        "/bin/bash",
    )
    assert cred.gids == (0,) and cred.gr_names == ()
    assert cred.job_gres == () and cred.step_gres == () and cred.job_core_spec == NO_VAL16
    assert (cred.job_partition, cred.job_std_in, cred.job_std_out) == ("debug", "/dev/null", launch.std_out)
    assert cred.step_hostlist == "compute-node-1" and cred.job_hostlist == "compute-node-1"
    # one core of the node's 1 socket x 2 cores
    assert cred.job_core_bitmap == Bitmap(2, 0b01) and cred.step_core_bitmap == Bitmap(2, 0b01)
    assert (cred.cores_per_socket, cred.sockets_per_node, cred.sock_core_rep_count) == ((2,), (1,), (1,))
    assert (cred.cpu_array, cred.cpu_array_reps) == ((1,), (1,))
    assert (cred.job_nhosts, cred.job_ntasks) == (1, 0)
    assert (cred.job_mem_alloc, cred.job_mem_alloc_rep_count) == ((0,), (1,))
    assert cred.step_mem_alloc == () and cred.selinux_context is None
    assert cred.ctime > 1_700_000_000
    assert cred.signature is None  # batch credentials are not signed in 22.05


def test_batch_launch_as_nobody() -> None:
    launch = body("launch_4005_nobody-c2s")
    assert isinstance(launch, BatchJobLaunch)
    assert (launch.job_id, launch.uid, launch.gid, launch.work_dir) == (2, 65534, 65534, "/tmp")
    cred = launch.credential
    assert (cred.uid, cred.gid, cred.pw_name, cred.pw_dir, cred.pw_shell, cred.gids) == (
        65534,
        65534,
        "nobody",
        "/nonexistent",
        "/usr/sbin/nologin",
        (65534,),
    )
    assert rc("launch_4005_nobody-s2c") == 0


def test_credential_bytes_and_signature() -> None:
    f = frame("launch_4005_root-c2s")
    launch = decode_body(f.msg_type, f.body)
    assert isinstance(launch, BatchJobLaunch)
    cred = launch.credential
    payload = cred.signed_payload()
    # in the message: u16 cred_version, the packed fields, packmem(signature) = u32 0 when unsigned
    at = f.body.index(struct.pack(">H", V) + payload)
    assert f.body[at + 2 + len(payload) : at + 6 + len(payload)] == b"\0\0\0\0"
    assert cred.encode() == payload + b"\0\0\0\0"
    assert JobCredential.decode(cred.encode()) == cred
    munge = b"MUNGE:AwQDAAD-fake-credential:\n\0"
    signed = cred.with_signature(munge)
    assert signed.signed_payload() == payload  # the signature does not cover itself
    assert signed.encode() == payload + struct.pack(">I", len(munge)) + munge
    assert JobCredential.decode(signed.encode()) == signed
    relaunch = dataclasses.replace(launch, credential=signed)
    assert decode_body(f.msg_type, encode_body(relaunch)) == relaunch


def test_launch_replies() -> None:
    for name in ("launch_4005_root-s2c", "launch_4005_timelimit-s2c", "launch_prolog_6017-s2c"):
        assert rc(name) == 0


# -- kill, time limit, completion ------------------------------------------------------------------


def test_terminate_after_normal_end() -> None:
    kill = body("terminate_6011_completed-c2s")
    assert isinstance(kill, KillJobMsg)
    assert kill.step_id == StepId(1, NO_VAL, NO_VAL)
    assert kill.job_state == 0x8003  # COMPLETE | COMPLETING
    assert (kill.job_uid, kill.job_gid, kill.het_job_id, kill.nodes, kill.select_plugin_id) == (
        0,
        0,
        0,
        "compute-node-1",
        109,
    )
    assert (kill.details, kill.derived_ec, kill.exit_code, kill.job_gres_info, kill.spank_job_env) == (
        None,
        0,
        0,
        (),
        (),
    )
    assert kill.start_time <= kill.time
    cred = kill.credential
    assert cred is not None and cred.signature is None
    # the kill credential: whole-job step id, no step hostlist/bitmap/memory, ctime = revoke time
    assert cred.step_id == kill.step_id and cred.ctime == kill.time
    assert cred.step_hostlist is None and cred.step_core_bitmap is None and cred.job_mem_alloc == ()
    assert cred.job_hostlist == "compute-node-1" and cred.pw_name == "root"
    assert rc("terminate_6011_completed-s2c") == 4002  # ESLURMD_KILL_JOB_ALREADY_COMPLETE


def test_cancel_of_a_running_job() -> None:
    kill = body("terminate_6011_cancelled-c2s")
    assert isinstance(kill, KillJobMsg)
    assert (kill.step_id.job_id, kill.job_state, kill.job_uid, kill.work_dir) == (2, 0x8004, 65534, "/tmp")
    assert rc("terminate_6011_cancelled-s2c") == 0
    done = body("complete_5018_sigterm-c2s")
    assert done == CompleteBatchScript(2, 15, 0, 65534, "compute-node-1", None)
    assert rc("complete_5018_sigterm-s2c") == 2021  # the controller had already ended the job
    assert body("epilog_6012_cancelled-c2s") == EpilogComplete(2, 0, "compute-node-1")
    assert not (GOLDEN / "epilog_6012_cancelled-s2c.bin").exists()  # no reply to 6012


def test_time_limit() -> None:
    kill = body("kill_timelimit_6009-c2s")
    assert isinstance(kill, KillJobMsg)
    assert frame("kill_timelimit_6009-c2s").msg_type == MsgType.REQUEST_KILL_TIMELIMIT
    assert (kill.step_id, kill.job_state) == (StepId(4, NO_VAL, NO_VAL), 0x8006)  # TIMEOUT | COMPLETING
    assert kill.time - kill.start_time >= 60
    assert rc("kill_timelimit_6009-s2c") == 0
    done = body("complete_5018_timelimit-c2s")
    assert isinstance(done, CompleteBatchScript) and done.job_id == 4 and done.job_rc == 15
    assert body("epilog_6012_timelimit-c2s") == EpilogComplete(4, 0, "compute-node-1")


def test_completion_without_accounting() -> None:
    f = frame("complete_5018_rc0-c2s")
    done = decode_body(f.msg_type, f.body)
    assert done == CompleteBatchScript(job_id=1, node_name="compute-node-1")
    # jobacct is the single byte 0 with JobAcctGatherType=none
    assert f.body[0] == 0 and len(f.body) == 1 + 16 + 4 + len("compute-node-1") + 1
    assert rc("complete_5018_rc0-s2c") == 0
    step = body("step_complete_5016-c2s")
    assert step == StepComplete(StepId(3, 0, NO_VAL), 0, 0, 0, None)


def test_completion_with_linux_accounting() -> None:
    done = body("complete_5018_jobacct-c2s")
    assert isinstance(done, CompleteBatchScript)
    assert (done.job_id, done.job_rc, done.user_id) == (1, 0, 0)
    acct = done.jobacct
    assert isinstance(acct, JobAcctInfo)
    assert acct.tres_ids == (1, 2, 3, 4, 5, 6, 7, 8) and acct.tres_list is None
    usage = [
        acct.tres_usage_in_max,
        acct.tres_usage_in_min_taskid,
        acct.tres_usage_in_tot,
        acct.tres_usage_out_max,
        acct.tres_usage_out_tot,
    ]
    assert all(len(u) == 8 for u in usage)
    assert acct.tres_usage_in_max[0] == INFINITE64  # unset values are INFINITE64
    step = body("step_complete_5016_jobacct-c2s")
    assert isinstance(step, StepComplete) and step.step_id.step_id == 0
    assert step.jobacct is not None and step.jobacct.tres_ids == acct.tres_ids


def test_prolog_alloc() -> None:
    f = frame("launch_prolog_6017-c2s")
    prolog = decode_body(f.msg_type, f.body)
    assert isinstance(prolog, LaunchProlog)
    assert (prolog.job_id, prolog.het_job_id, prolog.uid, prolog.gid, prolog.user_name) == (
        1,
        0,
        0,
        0,
        "root",
    )
    assert (prolog.nodes, prolog.x11, prolog.job_gres_info) == ("compute-node-1", 0, ())
    # the prolog credential is for the extern step and is not signed
    assert prolog.credential.step_id == StepId(1, SLURM_EXTERN_CONT, NO_VAL)
    assert prolog.credential.signature is None and prolog.credential.job_mem_alloc == (0,)
    assert body("complete_prolog_6018-c2s") == CompleteProlog(1, "compute-node-1", 0)
    assert rc("complete_prolog_6018-s2c") == 0


# -- bodies not in the captures --------------------------------------------------------------------


def test_signal_tasks_layout() -> None:
    sig = SignalTasks(StepId(7, SLURM_BATCH_SCRIPT), signal=10, flags=0x1)
    raw = encode_body(sig)
    assert raw == struct.pack(">IIIHH", 7, SLURM_BATCH_SCRIPT, NO_VAL, 1, 10)
    for t in (MsgType.REQUEST_SIGNAL_TASKS, MsgType.REQUEST_TERMINATE_TASKS):
        assert decode_body(t, raw) == sig


def test_requeue_layout() -> None:
    req = JobRequeue(12, None, JOB_REQUEUE_HOLD | JOB_LAUNCH_FAILED)
    raw = encode_body(req)
    assert raw == struct.pack(">III", 12, 0, 0x900)
    assert decode_body(MsgType.REQUEST_JOB_REQUEUE, raw) == req
    named = JobRequeue(12, "12", 0)
    assert decode_body(MsgType.REQUEST_JOB_REQUEUE, encode_body(named)) == named


def full_credential() -> JobCredential:
    """A credential that uses every optional part: GRES, group names, several node groups, steps."""
    gpu_job = GresJobState(
        plugin_id=7696487,
        gres_per_node=2,
        total_gres=4,
        type_name="a100",
        node_cnt=2,
        gres_cnt_node_alloc=(2, 2),
        gres_bit_alloc=(Bitmap(4, 0b0011), None),
        gres_bit_step_alloc=(Bitmap(4, 0b0001), Bitmap(4, 0)),
        gres_cnt_step_alloc=(1, 0),
    )
    gpu_step = GresStepState(
        plugin_id=7696487,
        gres_per_step=1,
        total_gres=1,
        node_cnt=2,
        node_in_use=Bitmap(2, 0b01),
        gres_cnt_node_alloc=(1, 0),
        gres_bit_alloc=(Bitmap(4, 1), None),
    )
    return JobCredential(
        step_id=StepId(99, 0),
        uid=1000,
        gid=1000,
        pw_name="alice",
        pw_gecos="Alice",
        pw_dir="/home/alice",
        pw_shell="/bin/sh",
        gids=(1000, 27),
        gr_names=("alice", "sudo"),
        job_gres=(gpu_job,),
        step_gres=(gpu_step,),
        job_account="physics",
        job_partition="gpu",
        step_hostlist="n[1-2]",
        ctime=1_800_000_000,
        job_core_bitmap=Bitmap(16, 0x0F0F),
        step_core_bitmap=Bitmap(16, 0x0101),
        cores_per_socket=(4, 8),
        sockets_per_node=(1, 1),
        sock_core_rep_count=(1, 1),
        cpu_array=(4,),
        cpu_array_reps=(2,),
        job_nhosts=2,
        job_ntasks=8,
        job_hostlist="n[1-2]",
        job_mem_alloc=(2048,),
        job_mem_alloc_rep_count=(2,),
        step_mem_alloc=(1024, 512),
        step_mem_alloc_rep_count=(1, 1),
        signature=b"MUNGE:x:\0",
    )


def test_full_credential_round_trips_in_every_carrier() -> None:
    cred = full_credential()
    assert JobCredential.decode(cred.encode()) == cred
    kill = KillJobMsg(
        StepId(99),
        job_state=4,
        job_uid=1000,
        job_gid=1000,
        time=1_800_000_100,
        credential=cred,
        job_gres_info=(GresEpilogInfo(7696487, 2, (2, 2), (Bitmap(4, 3), Bitmap(4, 12))),),
        spank_job_env=("A=1",),
    )
    for t in (MsgType.REQUEST_TERMINATE_JOB, MsgType.REQUEST_ABORT_JOB, MsgType.REQUEST_KILL_PREEMPTED):
        assert decode_body(t, encode_body(kill)) == kill
    # abort_job_on_node sends no credential
    orphan = KillJobMsg(StepId(5), job_state=4, job_uid=0, job_gid=0, time=1)
    raw = encode_body(orphan)
    assert raw[0] == 0 and decode_body(MsgType.REQUEST_ABORT_JOB, raw) == orphan
    prolog = LaunchProlog(99, 1000, 1000, cred, x11=1, x11_alloc_host="login", x11_alloc_port=6010)
    assert decode_body(MsgType.REQUEST_LAUNCH_PROLOG, encode_body(prolog)) == prolog
    launch = BatchJobLaunch(
        99, 1000, 1000, cred, argv=("a", "b"), environment=("X=1",), cpus_per_node=(4,), cpu_count_reps=(2,)
    )
    assert decode_body(MsgType.REQUEST_BATCH_JOB_LAUNCH, encode_body(launch)) == launch


def test_registration_with_gres_and_steps() -> None:
    blob = Writer()
    blob.u16(V)
    blob.u16(1)
    blob.u32(0x438A34D4)
    blob.u64(2)
    blob.u32(8)
    blob.u32(0)
    blob.u32(7696487)
    for s in ("0-7", None, "gpu", "a100", None):
        blob.string(s)
    reg = NodeRegistrationStatus(
        node_name="n1",
        cpus=8,
        steps=(StepId(3, SLURM_BATCH_SCRIPT), StepId(3, SLURM_EXTERN_CONT)),
        flags=2,
        gres_info=blob.getvalue(),
        energy=AcctGatherEnergy(1, 2, 3, 4, 5, 6),
        dynamic_type=2,
        dynamic_conf="CPUs=8",
    )
    raw = encode_body(reg)
    assert decode_body(MsgType.MESSAGE_NODE_REGISTRATION_STATUS, raw) == reg
    version, records = parse_gres_info(blob.getvalue())
    assert version == V and [(g.name, g.type_name, g.count, g.cpus) for g in records] == [
        ("gpu", "a100", 2, "0-7")
    ]
    no_list = NodeRegistrationResponse(None, "n1")
    assert encode_body(no_list)[:4] == b"\xff\xff\xff\xfe"
    assert decode_body(MsgType.RESPONSE_NODE_REGISTRATION, encode_body(no_list)) == no_list
    acct = JobAcctInfo(tres_ids=(1,), tres_list=(TresRecord(1, "cpu", None, 2),), tres_usage_in_max=(5,))
    done = CompleteBatchScript(3, 256, 0, 1000, "n1", acct)
    assert decode_body(MsgType.REQUEST_COMPLETE_BATCH_SCRIPT, encode_body(done)) == done


# -- malformed input -------------------------------------------------------------------------------


def test_inconsistent_inputs_are_refused() -> None:
    cred = full_credential()
    with pytest.raises(EncodeError):
        dataclasses.replace(cred, gr_names=("only-one",)).encode()
    with pytest.raises(EncodeError):
        dataclasses.replace(cred, cpu_array_reps=()).encode()
    with pytest.raises(EncodeError):
        dataclasses.replace(cred, sockets_per_node=(1,)).encode()
    # the total core count must be the bitmap's size
    raw = bytearray(dataclasses.replace(cred, job_gres=(), step_gres=()).encode())
    size_at = raw.index(struct.pack(">I", 16) + struct.pack(">I", 16))
    raw[size_at : size_at + 4] = struct.pack(">I", 15)
    with pytest.raises(DecodeError):
        JobCredential.decode(bytes(raw))
    # argc repeats the argv count
    f = frame("launch_4005_root-c2s")
    launch = decode_body(f.msg_type, f.body)
    assert isinstance(launch, BatchJobLaunch)
    bad = bytearray(encode_body(dataclasses.replace(launch, argv=("x",))))
    at = bad.index(struct.pack(">II", 1, 1) + struct.pack(">I", 2) + b"x\0")
    bad[at : at + 4] = struct.pack(">I", 2)
    with pytest.raises(DecodeError):
        decode_body(f.msg_type, bytes(bad))
    # a GRES record must carry the magic
    w = Writer()
    w.u16(1)
    w.u32(0xDEADBEEF)
    with pytest.raises(DecodeError):
        GresEpilogInfo.unpack(Reader(w.getvalue()[2:]), V)


def test_registration_gres_size_must_match() -> None:
    f = frame("reg_1002_startup-c2s")
    raw = bytearray(f.body)
    at = raw.index(b"\0\0\0\x04\0\0\0\x04\x26\0\0\0")
    raw[at : at + 4] = b"\0\0\0\x05"
    with pytest.raises(DecodeError):
        decode_body(f.msg_type, bytes(raw))


@pytest.mark.parametrize(
    "name",
    [
        "launch_4005_root-c2s",
        "terminate_6011_cancelled-c2s",
        "reg_1002_running_job-c2s",
        "reg_1002_startup-s2c",
        "complete_5018_jobacct-c2s",
        "launch_prolog_6017-c2s",
        "epilog_6012_cancelled-c2s",
        "ping_1008-s2c",
    ],
)
def test_every_prefix_is_a_decode_error(name: str) -> None:
    f = frame(name)
    for n in range(len(f.body)):
        with pytest.raises(DecodeError):
            decode_body(f.msg_type, f.body[:n], f.version)
    with pytest.raises(DecodeError):
        decode_body(f.msg_type, f.body + b"\0", f.version)


def test_prefixes_of_a_full_credential() -> None:
    raw = full_credential().encode()
    for n in range(len(raw)):
        with pytest.raises(DecodeError):
            JobCredential.decode(raw[:n])


def test_other_versions_are_refused() -> None:
    f = frame("launch_4005_root-c2s")
    with pytest.raises(DecodeError) as exc:
        decode_body(f.msg_type, f.body, 0x2500)
    assert exc.value.rc == 1005
    with pytest.raises(DecodeError):
        full_credential().signed_payload(0x2500)
