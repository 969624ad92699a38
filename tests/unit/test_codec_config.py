"""REQUEST_BUILD_INFO / RESPONSE_BUILD_INFO: the 22.05 slurm_ctl_conf codec, the configuration table
derived from slurm.conf, and SLURM's slurm.conf hash, against real slurmctld answers.

tests/golden/showconfig holds two bodies a real slurmctld sent with the slurm.conf each was read
from; tests/golden/captures/extra/showconf-* is a recorded ``scontrol show config`` exchange.
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import pytest

from flurm.auth.authenticator import FakeAuthenticator, Identity
from flurm.config import parse_text
from flurm.config.confhash import conf_hash
from flurm.config.ctl_conf import (
    cpu_freq_def,
    cpu_freq_governors,
    debug_flags,
    select_type_param,
    slurmctld_conf,
    task_plugin_param,
)
from flurm.controller.engine import Controller
from flurm.controller.handlers.config import build_info
from flurm.protocol.constants import NO_VAL, SLURM_22_05_PROTOCOL_VERSION, MsgType, SlurmRC
from flurm.protocol.frame import Frame, FrameDecoder, Header
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.common import ReturnCode
from flurm.protocol.messages.config_info import BUILD_INFO, BuildInfo, JobDefault, PluginParams
from flurm.protocol.messages.job_control import LastUpdateRequest
from flurm.protocol.wire import DecodeError, EncodeError
from flurm.rpc.transport import Reply, Request
from flurm.state.model import Job

GOLDEN = Path(__file__).resolve().parents[2] / "tests" / "golden"
SHOWCONFIG = GOLDEN / "showconfig"
NAMES = ("default", "non-default", "more-keys", "cpufreq-and-flags")
# what only the running slurmctld knows, and the path it was started with
RUNTIME = ("last_update", "boot_time", "next_job_id", "slurm_conf")


def golden(name: str) -> tuple[bytes, str]:
    return (SHOWCONFIG / f"{name}.body").read_bytes(), (SHOWCONFIG / f"{name}.conf").read_text()


def captured_reply() -> bytes:
    dec = FrameDecoder()
    dec.feed((GOLDEN / "captures" / "extra" / "showconf-conn1-s2c.bin").read_bytes())
    while (frame := dec.next_frame()) is not None:
        if frame.msg_type == MsgType.RESPONSE_BUILD_INFO:
            return frame.body
    raise AssertionError("no RESPONSE_BUILD_INFO in the capture")


# -- the codec ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_golden_bodies_round_trip_byte_for_byte(name: str) -> None:
    body, _ = golden(name)
    info = decode_body(MsgType.RESPONSE_BUILD_INFO, body)
    assert isinstance(info, BuildInfo)
    assert encode_body(info) == body


def test_recorded_scontrol_exchange_round_trips() -> None:
    body = captured_reply()
    info = decode_body(MsgType.RESPONSE_BUILD_INFO, body)
    assert isinstance(info, BuildInfo)
    assert encode_body(info) == body
    assert info.version == "22.05.8"
    assert info.cluster_name == "localtest"


def test_documented_values_of_a_default_configuration() -> None:
    info = decode_body(MsgType.RESPONSE_BUILD_INFO, golden("default")[0])
    assert isinstance(info, BuildInfo)
    assert info.control_machine == ("vm",) and info.control_addr == ("127.0.0.1",)
    assert info.acct_gather_conf == ()  # an empty list: count 0, not NO_VAL
    assert info.cgroup_conf is None and info.mpi_conf is None and info.job_defaults_list is None
    assert info.power_plugin == ""  # DEFAULT_POWER_PLUGIN is "", not NULL
    assert info.cpu_freq_def == NO_VAL
    assert info.prolog_epilog_timeout == 0xFFFE
    assert info.conf_flags == 0x41  # IPv4 enabled | config_overrides
    assert info.select_type_param == 0x0004  # CR_Core


def test_every_list_kind_round_trips() -> None:
    info = BuildInfo(
        control_addr=("10.0.0.1", "10.0.0.2"),
        control_machine=("ctl1", "ctl2"),
        acct_gather_conf=(("ProfileHDF5Dir", "/tmp"), ("Missing", None)),
        cgroup_conf=(),
        job_defaults_list=(JobDefault(1, 4), JobDefault(2, 1 << 40)),
        node_features_conf=(PluginParams("knl_generic", (("AllowUserBoot", "ALL"),)), PluginParams(None)),
        slurmctld_plugstack_conf=(),
        select_conf_key_pairs=(("a", "b"),),
    )
    assert decode_body(MsgType.RESPONSE_BUILD_INFO, encode_body(info)) == info


def test_truncated_bodies_and_bad_counts_are_refused() -> None:
    body, _ = golden("default")
    for cut in (0, 8, len(body) // 2, len(body) - 1):
        with pytest.raises(DecodeError):
            decode_body(MsgType.RESPONSE_BUILD_INFO, body[:cut])
    with pytest.raises(DecodeError):
        decode_body(MsgType.RESPONSE_BUILD_INFO, body + b"\0")
    # acct_gather_conf's count (after last_update, a u16 and 8 strings) claims more than the body holds
    info = decode_body(MsgType.RESPONSE_BUILD_INFO, body)
    assert isinstance(info, BuildInfo)
    prefix = encode_body(replace(info, acct_gather_conf=(("k", "v"),)))
    at = prefix.index(b"\x00\x00\x00\x01\x00\x00\x00\x02k\x00")
    with pytest.raises(DecodeError):
        decode_body(MsgType.RESPONSE_BUILD_INFO, prefix[:at] + b"\x00\xff\xff\xff" + prefix[at + 4 :])


def test_control_host_lists_must_pair_up() -> None:
    with pytest.raises(EncodeError):
        encode_body(BuildInfo(control_addr=("a", "b"), control_machine=("a",)))


# -- the table derived from slurm.conf ----------------------------------------------------------


# the goldens are 22.05's: the fields newer releases added are not on their wire
ON_22_05_WIRE = {name for name, _ in BUILD_INFO.layouts[SLURM_22_05_PROTOCOL_VERSION]} - set(RUNTIME)


@pytest.mark.parametrize("name", NAMES)
def test_derived_table_is_what_slurmctld_sent(name: str) -> None:
    body, text = golden(name)
    sent = decode_body(MsgType.RESPONSE_BUILD_INFO, body)
    assert isinstance(sent, BuildInfo)
    derived = slurmctld_conf(parse_text(text, "/etc/slurm.conf"), hostname="vm")
    problems = [
        f"{f.name}: slurmctld {getattr(sent, f.name)!r} flurm {getattr(derived, f.name)!r}"
        for f in fields(BuildInfo)
        if f.name in ON_22_05_WIRE and getattr(sent, f.name) != getattr(derived, f.name)
    ]
    assert not problems, "\n".join(problems)
    assert derived.slurm_conf == "/etc/slurm.conf"
    assert (derived.last_update, derived.boot_time, derived.next_job_id) == (0, 0, 0)


@pytest.mark.parametrize("name", NAMES)
def test_conf_hash_is_slurms(name: str) -> None:
    body, text = golden(name)
    sent = decode_body(MsgType.RESPONSE_BUILD_INFO, body)
    assert isinstance(sent, BuildInfo)
    assert conf_hash(text.encode()) == sent.hash_val
    assert parse_text(text).hash_val == sent.hash_val


def test_conf_hash_covers_included_files_in_reading_order(tmp_path: Path) -> None:
    (tmp_path / "part.conf").write_bytes(b"PartitionName=p Nodes=n1 Default=YES\n")
    main = b"ClusterName=c\nSlurmctldHost=h\nNodeName=n1\nInclude part.conf\n# tail \xc3\xa9\n"
    path = tmp_path / "slurm.conf"
    path.write_bytes(main)
    head, tail = main.split(b"# tail")
    expected = conf_hash(b"# tail" + tail, conf_hash((tmp_path / "part.conf").read_bytes(), conf_hash(head)))
    assert parse_text(main.decode(), str(path)).hash_val == expected
    assert expected != conf_hash(main)


def test_conf_hash_sign_extends_high_bytes_and_stops_at_nul() -> None:
    # C char is signed: 0xE9 enters as -23 << 8, which flips the high half of the register
    assert conf_hash(b"\xe9") != conf_hash(b"\x69")
    assert conf_hash(b"ab\0cd\nef") == conf_hash(b"ef", conf_hash(b"ab"))


def test_derivations_of_single_keys() -> None:
    base = "ClusterName=c\nSlurmctldHost=h\nNodeName=n1\nPartitionName=p Nodes=n1\n"

    def table(extra: str) -> BuildInfo:
        return slurmctld_conf(parse_text(base + extra), exists=lambda path: False)

    assert table("").mail_prog == "/bin/mail"  # neither mail program exists: the first default
    assert (
        slurmctld_conf(parse_text(base), exists=lambda p: p == "/usr/bin/mail").mail_prog == "/usr/bin/mail"
    )
    assert table("AccountingStorageType=accounting_storage/slurmdbd\n").accounting_storage_port == 6819
    assert table("AccountingStorageType=accounting_storage/slurmdbd\n").accounting_storage_user == "N/A"
    assert table("AccountingStorageTRES=gres/gpu\n").accounting_storage_tres.startswith("gres/gpu,cpu,mem")  # type: ignore[union-attr]
    assert table("DefCPUPerGPU=2\nDefMemPerGPU=1024\n").job_defaults_list == (
        JobDefault(1, 2),
        JobDefault(2, 1024),
    )
    assert table("PriorityFlags=DEPTH_OBLIVIOUS\n").priority_flags == 1 << 3
    assert table("PriorityDecayHalfLife=2-0\n").priority_decay_hl == 2 * 86400
    assert table("SchedulerTimeSlice=3\n").sched_time_slice == 30
    assert table("JobRequeue=5\n").job_requeue == 1
    assert table("SlurmctldDebug=debug3\nSlurmdDebug=42\n").slurmctld_debug == 7
    assert table("SlurmdDebug=42\n").slurmd_debug == 9
    assert table("PropagateResourceLimitsExcept=CORE\n").propagate_rlimits is None
    assert table("SuspendTime=-1\n").suspend_time == 0xFFFFFFFF
    assert table("SuspendTime=600\n").suspend_time == 600
    assert table("TopologyParam=NoInAddrAny\n").comm_params == "NoInAddrAny"
    assert table("AccountingStorageEnforce=wckeys\n").conf_flags & (1 << 5)
    assert table("PreemptType=preempt/partition_prio\nPreemptMode=REQUEUE,GANG\n").preempt_mode == 0x8002
    assert table("MaxNodeCount=10\nSelectType=select/cons_tres\n").max_node_cnt == 10
    assert table("").max_node_cnt == 1
    assert table("DebugFlags=Backfill,Bogus\n").debug_flags == 0  # slurm.conf refused: no flags
    assert cpu_freq_def("UserSpace") == NO_VAL  # refused as a default: slurmctld logs it and ignores it
    assert cpu_freq_def("perf") == 0x82000000
    assert cpu_freq_governors("OnDemand,bogus") == cpu_freq_governors(None) == 0x86800000
    assert debug_flags("Task,NetRaw,Agent") == (1 << 4) | (1 << 52)
    assert select_type_param("CR_Socket_Memory,CR_LLN") == 0x0002 | 0x0010 | 0x4000
    assert task_plugin_param("cores,autobind=threads,SlurmdOffSpec") == 0x0004 | 0x04000 | 0x40000


# -- the handler ----------------------------------------------------------------------------------

HANDLER_CONF = """
ClusterName=hc
SlurmctldHost=localhost
FirstJobId=5
MaxJobId=7
StateSaveLocation={state}
NodeName=n1 NodeAddr=127.0.0.1 CPUs=1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES State=UP
"""
BOOT = 1_795_600_000
NOW = BOOT + 100


def _ask(ctl: Controller, last_update: int, uid: int = 65534) -> Reply:
    body = LastUpdateRequest(last_update)
    frame = Frame(Header(MsgType.REQUEST_BUILD_INFO), 101, None, encode_body(body))
    return build_info(ctl, Request(MsgType.REQUEST_BUILD_INFO, body, Identity(uid, uid), frame, ("x", 1)))


def test_handler_adds_the_controllers_own_values(tmp_path: Path) -> None:
    config = parse_text(HANDLER_CONF.format(state=tmp_path), str(tmp_path / "slurm.conf"))
    ctl = Controller(config, FakeAuthenticator(), state_dir=tmp_path, clock=lambda: NOW)
    ctl.started_at = BOOT
    reply = _ask(ctl, 0)  # any user may ask (nobody here)
    assert reply.msg_type == MsgType.RESPONSE_BUILD_INFO and isinstance(reply.body, BuildInfo)
    assert (reply.body.last_update, reply.body.boot_time, reply.body.next_job_id) == (NOW, BOOT, 5)
    assert replace(reply.body, last_update=0, boot_time=0, next_job_id=0) == slurmctld_conf(config)
    # ids in use are skipped, and the counter wraps from MaxJobId to FirstJobId, as get_next_job_id does
    ctl.cluster.next_job_id = 7
    job = Job(job_id=7, name="j", user_id=0, group_id=0, partition="debug", script="#!/bin/sh")
    ctl.cluster.add_job(job)
    got = _ask(ctl, 0).body
    assert isinstance(got, BuildInfo) and got.next_job_id == 5


def test_handler_says_no_change_since_the_configuration_was_read(tmp_path: Path) -> None:
    config = parse_text(HANDLER_CONF.format(state=tmp_path))
    ctl = Controller(config, FakeAuthenticator(), state_dir=tmp_path, clock=lambda: NOW)
    ctl.started_at = BOOT
    unchanged = _ask(ctl, BOOT + 1)
    assert isinstance(unchanged.body, ReturnCode) and unchanged.body.rc == SlurmRC.SLURM_NO_CHANGE_IN_DATA
    assert isinstance(_ask(ctl, BOOT).body, BuildInfo)
