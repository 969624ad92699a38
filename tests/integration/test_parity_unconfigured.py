"""What slurmctld 22.05 dispatches for features a cluster has not configured: flurm answers the same.

Real clients side by side on a slurmctld cluster and a flurm cluster (3 nodes x 2 CPUs, three
partitions): burst buffers, topology, front end nodes, the association manager, sshare, sprio,
strigger, step updates, sattach, sbcast, dynamic nodes, FairShareDampeningFactor and partition
deletion print the same text and exit the same way. Then hand-made requests of the types no client
on this machine sends (scrontab, federation and slurmdbd messages, the pull of a trigger) are sent to
both controllers as root and their replies compared byte for byte.

Where flurm deliberately does not do what slurmctld does (it fires no triggers, runs no
heterogeneous jobs and adds or removes no nodes at run time), the tests check flurm's own refusal.
A second pair of clusters has PriorityType=priority/multifactor, where sprio asks the controller.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import socket
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from parity import (
    Action,
    Step,
    Transcript,
    assert_same,
    cluster_pair,
    cmd,
    poll,
    run_both,
    settle,
    wait_state,
    write_file,
)

from flurm.auth.authenticator import MungeAuthenticator
from flurm.config import load as load_config
from flurm.protocol.constants import NO_VAL, MsgType
from flurm.protocol.frame import encode_frame
from flurm.rpc.transport import Signer, call
from harness.loopback import SlurmCluster

CONF = "MinJobAge=300\nPartitionName=spare Nodes=ALL State=UP\nPartitionName=busy Nodes=ALL State=UP"


def wait_step(step: str) -> Action:
    def act(c: SlurmCluster) -> None:
        job = step.split(".")[0]
        poll(
            f"step {step}", lambda: step in c.run("squeue", "-h", "-s", "-j", job, "-o", "%i").stdout.split()
        )

    return act


Pair = tuple[SlurmCluster, SlurmCluster, Transcript, Transcript]

HETJOB = "#!/bin/sh\n#SBATCH -n1\n#SBATCH hetjob\n#SBATCH -n1\ntrue\n"

STEPS: list[Step] = [
    cmd("scontrol", "show", "burstbuffer"),
    cmd("scontrol", "show", "bbstat"),
    cmd("scontrol", "show", "bbstat", "a", "b"),
    cmd("scontrol", "show", "topology"),
    cmd("scontrol", "show", "topology", "compute-node-1"),
    cmd("scontrol", "show", "frontend"),
    cmd("scontrol", "show", "frontend", "fe1"),
    cmd("scontrol", "update", "FrontendName=fe1", "State=DRAIN", "Reason=x"),
    cmd("scontrol", "update", "FrontendName=fe1", "State=DRAIN", "Reason=x", user="nobody"),
    cmd("scontrol", "show", "assoc_mgr"),
    cmd("scontrol", "show", "assoc_mgr", user="nobody"),
    cmd("scontrol", "show", "assoc_mgr", "flags=users"),
    cmd("scontrol", "show", "assoc_mgr", "flags=qos", "users=root"),
    cmd("sshare"),
    cmd("sshare", "-a", "-l"),
    cmd("sshare", user="nobody"),
    cmd("sprio"),
    cmd("strigger", "--get"),
    cmd("strigger", "--set", "--node", "--down", "--program=/bin/true", user="nobody"),
    cmd("strigger", "--clear", "--id=7"),
    cmd("strigger", "--clear", "--jobid=5", user="nobody"),
    cmd("scontrol", "fsdampeningfactor", "3"),
    cmd("scontrol", "fsdampeningfactor", "3", user="nobody"),
    # dynamic nodes
    cmd("scontrol", "create", "nodename=extra1", "cpus=1"),
    cmd("scontrol", "create", "nodename=extra1", "cpus=1", user="nobody"),
    cmd("scontrol", "delete", "nodename=nosuchnode"),
    cmd("scontrol", "delete", "nodename=compute-node-3", label="delete an idle node"),
    cmd("scontrol", "delete", "nodename=compute-node-1", user="nobody"),
    # jobs: one running, one pending
    cmd("sbatch", "-N2", "--exclusive", "-p", "busy", "--wrap", "srun sleep 300"),  # 1
    wait_state(1, "RUNNING"),
    wait_step("1.0"),
    cmd("sbatch", "-p", "busy", "--hold", "--wrap", "true"),  # 2
    settle(),
    cmd("scontrol", "update", "StepId=999.0", "TimeLimit=5"),
    cmd("scontrol", "update", "StepId=1.0", "TimeLimit=5"),
    cmd("scontrol", "update", "StepId=1", "TimeLimit=5"),
    cmd("scontrol", "update", "StepId=1.0", "TimeLimit=5", user="nobody"),
    cmd("sattach", "--layout", "1.0"),
    cmd("sattach", "--layout", "1.0", user="nobody"),
    cmd("sattach", "999.0"),
    cmd("sattach", "1.5"),
    cmd("sattach", "2.0"),
    write_file("payload.txt", "x\n"),
    cmd("sbcast", "-j", "999", "payload.txt", "/tmp/x"),
    cmd("sbcast", "-j", "2", "payload.txt", "/tmp/x"),
    cmd("sbcast", "-j", "1", "payload.txt", "/tmp/x", user="nobody"),
    cmd("scontrol", "delete", "nodename=compute-node-1", label="delete a busy node"),
    # heterogeneous jobs (slurmctld queues them behind job 1)
    write_file("het.sh", HETJOB),
    cmd("sbatch", "-p", "busy", "het.sh"),
    cmd("sbatch", "-p", "busy", "-n1", ":", "-p", "busy", "-n1", "--wrap", "true"),
    cmd(
        "sh",
        "-c",
        "BIG=$(head -c 100000 /dev/zero | tr '\\0' x) sbatch -p busy het.sh",
        label="het job, big environment",
    ),
    # partitions
    cmd("scontrol", "delete", "partition=nosuch"),
    cmd("scontrol", "delete", "partition=spare", user="nobody"),
    cmd("scontrol", "delete", "partition=busy"),
    cmd("scontrol", "delete", "partition=spare"),
    cmd("scontrol", "delete", "partition=spare", label="delete it again"),
    cmd("sinfo", "-o", "%P %a", label="partitions after delete"),
    cmd("sbatch", "-p", "spare", "--wrap", "true", label="submit to the deleted partition"),
    cmd("scontrol", "delete", "partition=debug", label="delete the default partition"),
    cmd("sbatch", "--wrap", "true", label="submit with no default partition"),
    cmd("sinfo", "-o", "%P %a", label="partitions at the end"),
    # with no default partition left, slurmctld refuses it for that first
    cmd("salloc", "-n1", ":", "-n1", "true"),
]

# Deliberate differences: (label, what flurm prints on stderr).
NOT_SUPPORTED = "Requested operation not supported on this system"
REFUSED = {
    "delete an idle node": NOT_SUPPORTED,
    "sbatch -p busy het.sh": f"Batch job submission failed: {NOT_SUPPORTED}",
    "sbatch -p busy -n1 : -p busy -n1 --wrap true": f"Batch job submission failed: {NOT_SUPPORTED}",
    "het job, big environment": f"Batch job submission failed: {NOT_SUPPORTED}",
    "salloc -n1 : -n1 true": f"Job submit/allocate failed: {NOT_SUPPORTED}",
}


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    with cluster_pair(nodes=3, cpus=2, extra_conf=CONF) as (ref, got):
        a, b = run_both(ref, got, STEPS)
        yield ref, got, a, b


def test_reports_of_unconfigured_features(pair: Pair) -> None:
    _, _, ref, got = pair
    kinds = ("scontrol show", "scontrol update FrontendName", "sshare", "sprio")
    keys = [k for k in ref.labels() if k.startswith(kinds) and "partition" not in k]
    assert_same(ref, got, keys)
    assert got["scontrol show frontend"].stdout == "No nodes in the system\n"
    assert "No topology information available" in got["scontrol show topology"].stderr


def test_triggers_and_dampening(pair: Pair) -> None:
    _, _, ref, got = pair
    keys = [k for k in ref.labels() if k.startswith(("strigger", "scontrol fsdampeningfactor"))]
    assert_same(ref, got, keys)


def test_steps_and_dynamic_nodes(pair: Pair) -> None:
    _, _, ref, got = pair
    words = ("StepId", "sattach", "sbcast", "nodename", "node")
    keys = [k for k in ref.labels() if any(w in k for w in words) and k not in REFUSED]
    assert_same(ref, got, keys)


def test_partition_deletion(pair: Pair) -> None:
    _, _, ref, got = pair
    keys = [k for k in ref.labels() if "partition" in k]
    assert_same(ref, got, keys)
    assert "Partition is in use" in got["scontrol delete partition=busy"].stderr


def test_deliberate_refusals(pair: Pair) -> None:
    _, _, _, got = pair
    for label, text in REFUSED.items():
        out = got[label]
        assert out.returncode != 0, label
        assert text in out.stderr, (label, out.stderr)


# -- requests no client here sends ------------------------------------------------------------------


def _raw_call(c: SlurmCluster, msg_type: int, body: bytes) -> tuple[int, bytes] | str:
    """(reply type, reply body) of one request signed as root, or "no reply" (the connection closed)."""
    auth = MungeAuthenticator.from_slurm_conf(load_config(c.conf).auth_info)

    async def ask() -> tuple[int, bytes] | str:
        signer = Signer(auth, workers=1)
        try:
            resp = await call("127.0.0.1", c.ctld_port, msg_type, body, signer, decode=False, timeout=5)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            return "no reply"
        finally:
            signer.close()
        assert resp is not None
        return resp.msg_type, resp.raw

    return asyncio.run(ask())


def _string(s: str) -> bytes:
    raw = s.encode() + b"\0"
    return struct.pack(">I", len(raw)) + raw


def _trigger(res_type: int, trig_id: int = 0, res_id: str = "") -> bytes:
    one = struct.pack(">HIH", 0, trig_id, res_type) + _string(res_id)
    one += struct.pack(">IIHI", 0x10, 0, 0, NO_VAL) + _string("")
    return struct.pack(">I", 1) + one


_SIB = (
    struct.pack(">IHHQIII", 1, 0, 0, 0, 5, 0, 0)
    + struct.pack(">Q", 0)
    + _string("host")
    + struct.pack(">IH", 0, 0)
    + _string("host")
    + struct.pack(">H", 0)
)

CRAFTED: dict[str, tuple[int, bytes]] = {
    "crontab of root": (MsgType.REQUEST_CRONTAB, struct.pack(">I", 0)),
    "crontab update": (
        MsgType.REQUEST_UPDATE_CRONTAB,
        _string("* * * * * true\n") + struct.pack(">HII", 0, 0, 0),
    ),
    "sibling job lock": (MsgType.REQUEST_SIB_JOB_LOCK, _SIB),
    "sibling job unlock": (MsgType.REQUEST_SIB_JOB_UNLOCK, _SIB),
    "controller multi-message": (MsgType.REQUEST_CTLD_MULT_MSG, struct.pack(">I", 0)),
    "accounting update": (MsgType.ACCOUNTING_UPDATE_MSG, struct.pack(">I", 0)),
    "accounting first registration": (MsgType.ACCOUNTING_FIRST_REG, b""),
    "node registration status": (MsgType.REQUEST_NODE_REGISTRATION_STATUS, b""),
    "trigger pull of a slurmctld event": (MsgType.REQUEST_TRIGGER_PULL, _trigger(3)),
    "trigger pull of a node event": (MsgType.REQUEST_TRIGGER_PULL, _trigger(2)),
    "trigger pull of nothing": (MsgType.REQUEST_TRIGGER_PULL, struct.pack(">I", 0)),
    "trigger clear without id": (MsgType.REQUEST_TRIGGER_CLEAR, _trigger(2)),
    "trigger clear of job 0": (MsgType.REQUEST_TRIGGER_CLEAR, _trigger(1, res_id="x")),
    "end time of a missing job": (MsgType.REQUEST_JOB_END_TIME, struct.pack(">II", 999, 0)),
    "burst buffer status": (MsgType.REQUEST_BURST_BUFFER_STATUS, struct.pack(">I", 0)),
    "burst buffer info": (MsgType.REQUEST_BURST_BUFFER_INFO, b""),
    "topology": (MsgType.REQUEST_TOPO_INFO, b""),
    "shares": (MsgType.REQUEST_SHARE_INFO, struct.pack(">II", NO_VAL, NO_VAL)),
    "priority factors": (MsgType.REQUEST_PRIORITY_FACTORS, struct.pack(">III", NO_VAL, NO_VAL, 0)),
    "assoc_mgr": (MsgType.REQUEST_ASSOC_MGR_INFO, struct.pack(">IIII", NO_VAL, 7, NO_VAL, NO_VAL)),
}


def test_crafted_requests_get_slurmctlds_replies(
    pair: Pair,
) -> None:
    ref, got, _, _ = pair
    differ = []
    for label, (msg_type, body) in CRAFTED.items():
        a, b = _raw_call(ref, msg_type, body), _raw_call(got, msg_type, body)
        if a != b:
            differ.append(f"{label}: slurmctld {a!r} flurm {b!r}")
    assert not differ, "\n".join(differ)


def test_persistent_connection_refused_in_its_own_framing(pair: Pair) -> None:
    """REQUEST_PERSIST_INIT, as root and as a plain user, for a federation sibling and another kind,
    in 22.05, 21.08 and a newer version: PERSIST_RC behind its length alone, byte for byte."""
    ref, got, _, _ = pair
    crafted = str(Path(__file__).with_name("crafted.py"))
    differ = []
    for user in (None, "nobody"):
        for version, kind in (("0x2600", "2"), ("0x2500", "1"), ("0x2700", "0")):
            a, b = (
                c.run(sys.executable, crafted, "persist", version, kind, user=user, timeout=60).check().stdout
                for c in (ref, got)
            )
            if a != b or a.strip() == "closed":
                differ.append(f"{user or 'root'} {version} type {kind}: slurmctld {a!r} flurm {b!r}")
    assert not differ, "\n".join(differ)


def _after_no_reply(c: SlurmCluster, msg_type: int) -> str:
    """Send a request that gets no reply and a ping behind it on the same connection: "closed" when
    the controller closes the connection after the first, "answered" when it serves the ping."""
    auth = MungeAuthenticator.from_slurm_conf(load_config(c.conf).auth_info)
    ping = MsgType.REQUEST_PING
    data = encode_frame(msg_type, b"", auth.sign(msg_type, b"")) + encode_frame(
        ping, b"", auth.sign(ping, b"")
    )
    with socket.create_connection(("127.0.0.1", c.ctld_port), timeout=30) as s:
        s.sendall(data)
        try:
            return "answered" if s.recv(65536) else "closed"
        except ConnectionResetError:  # closed with the ping unread
            return "closed"


def test_no_reply_ends_the_connection(pair: Pair) -> None:
    """slurmctld serves one request per connection and closes it: after a message it does not answer
    (from slurmdbd) the peer sees the end at once."""
    ref, got, _, _ = pair
    for msg_type in (MsgType.ACCOUNTING_FIRST_REG, MsgType.ACCOUNTING_REGISTER_CTLD):
        assert _after_no_reply(ref, msg_type) == _after_no_reply(got, msg_type) == "closed", msg_type


def test_front_end_reply_layout(pair: Pair) -> None:
    ref, got, _, _ = pair
    later = struct.pack(">Q", 1_000_000)
    assert _raw_call(ref, MsgType.REQUEST_FRONT_END_INFO, later) == _raw_call(
        got, MsgType.REQUEST_FRONT_END_INFO, later
    )
    a = _raw_call(ref, MsgType.REQUEST_FRONT_END_INFO, struct.pack(">Q", 0))
    b = _raw_call(got, MsgType.REQUEST_FRONT_END_INFO, struct.pack(">Q", 0))
    assert isinstance(a, tuple) and isinstance(b, tuple)
    assert (a[0], len(a[1]), a[1][:4]) == (b[0], len(b[1]), b[1][:4])  # the rest is the time


def test_end_time_of_a_running_job(pair: Pair) -> None:
    """REQUEST_JOB_END_TIME (slurm_get_rem_time): SRUN_TIMEOUT with the job's end time, whose distance
    from the job's start is its time limit (a year for an unlimited job)."""
    ref, got, _, _ = pair
    limits = []
    for c in (ref, got):
        reply = _raw_call(c, MsgType.REQUEST_JOB_END_TIME, struct.pack(">II", 1, 0))
        assert isinstance(reply, tuple) and reply[0] == MsgType.SRUN_TIMEOUT, reply
        assert reply[1][:12] == struct.pack(">III", 1, NO_VAL, NO_VAL)
        (end,) = struct.unpack(">q", reply[1][12:])
        shown = c.run("scontrol", "show", "job", "-o", "1").stdout
        m = re.search(r"StartTime=(\S+)", shown)
        assert m is not None, shown
        start = datetime.datetime.fromisoformat(m.group(1)).timestamp()
        limits.append(end - start)
    assert limits[0] == limits[1]


# -- priority/multifactor ---------------------------------------------------------------------------

MULTIFACTOR = "MinJobAge=300\nPriorityType=priority/multifactor"


def test_sprio_with_multifactor_and_no_pending_job() -> None:
    steps = [cmd("sprio"), cmd("sprio", "-l"), cmd("sprio", user="nobody")]
    with cluster_pair(nodes=1, cpus=2, extra_conf=MULTIFACTOR) as (ref, got):
        a, b = run_both(ref, got, steps)
        assert_same(a, b)
        raw = struct.pack(">III", NO_VAL, NO_VAL, 0)
        assert _raw_call(ref, MsgType.REQUEST_PRIORITY_FACTORS, raw) == _raw_call(
            got, MsgType.REQUEST_PRIORITY_FACTORS, raw
        )


def test_private_usage_and_users() -> None:
    """PrivateData=usage,users: slurmctld looks the caller up among the users it knows (none without
    accounting) and, not finding them, answers assoc_mgr with an empty body."""
    steps: list[Step] = [
        cmd("scontrol", "show", "assoc_mgr"),
        cmd("scontrol", "show", "assoc_mgr", user="nobody"),
        cmd("sshare", user="nobody"),
    ]
    with cluster_pair(nodes=1, cpus=2, extra_conf="PrivateData=usage,users") as (ref, got):
        a, b = run_both(ref, got, steps)
        assert_same(a, b)
    assert "Malformed RPC of type RESPONSE_ASSOC_MGR_INFO" in b["scontrol show assoc_mgr (as nobody)"].stderr
