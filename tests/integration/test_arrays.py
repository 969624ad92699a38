"""Job arrays at SLURM's largest (MaxArraySize=4000001) and job id expressions beyond it.

* A job id expression whose task ids reach MaxArraySize is an invalid job id, as slurmctld's
  bitmap of MaxArraySize bits makes it (REQUEST_KILL_JOB, scontrol update/hold/release), whoever
  asks: it is refused before anything is built from it.
* A user's update or hold of another user's array tasks is refused and leaves the array as it was:
  one pending record with all its tasks (slurmctld splits the tasks out before it refuses them).
* An array of 4000001 tasks is submitted, listed, released and cancelled while ``scontrol ping``
  keeps answering UP, and SIGTERM then stops flurm cleanly.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from flurm.auth.authenticator import MungeAuthenticator
from flurm.config import load as load_config
from flurm.protocol.constants import MsgType, SlurmRC
from flurm.protocol.frame import decode_frame, encode_frame
from flurm.protocol.messages import encode_body
from flurm.protocol.messages.job_control import JobStepKill
from harness.loopback import SlurmCluster, cluster

MAX_ARRAY_SIZE = 4_000_001
# slurmctld counts every task of an array against MaxJobCount
CONF = f"MaxArraySize={MAX_ARRAY_SIZE}\nMaxJobCount={2 * MAX_ARRAY_SIZE}\nMinJobAge=300\nKillWait=2"


@pytest.fixture(scope="module")
def c() -> Iterator[SlurmCluster]:
    with cluster("flurm", nodes=1, cpus=2, extra_conf=CONF) as c:
        yield c


def _queue(c: SlurmCluster, job: int) -> list[str]:
    r = c.run("squeue", "-h", "-j", str(job), "-o", "%i %t").check()
    return r.stdout.split("\n")[:-1]


def _kill(c: SlurmCluster, job_id_text: str) -> int:
    """REQUEST_KILL_JOB with a job id text as scancel sends it (scancel itself refuses a range
    of more than 2^20 ids, another client need not); returns the rc flurm answers."""
    cfg = load_config(c.conf)
    auth = MungeAuthenticator.from_slurm_conf(cfg.auth_info, cfg.raw.get("communicationparameters"))
    body = encode_body(JobStepKill(sjob_id=job_id_text, signal=9))
    request = encode_frame(MsgType.REQUEST_KILL_JOB, body, auth.sign(MsgType.REQUEST_KILL_JOB, body))
    with socket.create_connection(("127.0.0.1", c.ctld_port), timeout=60) as s:
        s.sendall(request)
        reply = b""
        while len(reply) < 4 or len(reply) < 4 + struct.unpack(">I", reply[:4])[0]:
            chunk = s.recv(65536)
            assert chunk, "flurm closed the connection"
            reply += chunk
    frame = decode_frame(reply[4:])
    assert frame.header.msg_type == MsgType.RESPONSE_SLURM_RC
    return int(struct.unpack(">I", frame.body[:4])[0])


def test_an_id_beyond_max_array_size_is_invalid(c: SlurmCluster) -> None:
    job = c.sbatch("--array=1-4", "--hold", "--wrap", "true")
    beyond = f"{job}_[0-20000000]"
    assert _kill(c, beyond) == SlurmRC.ESLURM_INVALID_JOB_ID
    for user in ("nobody", "root"):
        for args in (
            ("scontrol", "update", f"JobId={beyond}", "TimeLimit=5"),
            ("scontrol", "hold", beyond),
            ("scontrol", "release", beyond),
            ("scontrol", "update", f"JobId={job}_{MAX_ARRAY_SIZE}", "TimeLimit=5"),
        ):
            r = c.run(*args, user=user)
            assert r.returncode != 0, (args, r)
            # slurmctld 22.05's texts, the id as scontrol prints it
            shown = args[2].removeprefix("JobId=").replace("[", "").replace("]", "")
            assert r.stderr.startswith(f"Invalid job id specified for job {shown}\n"), (user, args, r.stderr)
    assert _queue(c, job) == [f"{job}_[1-4] PD"]
    assert _kill(c, f"{job}_[1-4]") == 0  # within the bound, the same request cancels the tasks


def _records(c: SlurmCluster, job: int) -> list[str]:
    """The array's job records (squeue merges an array's pending records into one line)."""
    out = c.run("scontrol", "show", "job", "-o", str(job)).check().stdout
    return sorted(
        " ".join(re.findall(r"\b(?:JobId|ArrayTaskId|JobState|TimeLimit)=\S+", line))
        for line in out.splitlines()
    )


def test_refused_task_update_leaves_the_array_whole(c: SlurmCluster) -> None:
    job = c.sbatch("--array=1-4", "--hold", "--wrap", "true")
    before = _records(c, job)
    assert before == [f"JobId={job} ArrayTaskId=1-4 JobState=PENDING TimeLimit=UNLIMITED"]
    for args in (
        ("scontrol", "update", f"JobId={job}_[1-3]", "TimeLimit=5"),
        ("scontrol", "hold", f"{job}_2"),
        ("scontrol", "release", f"{job}_2"),
    ):
        r = c.run(*args, user="nobody")
        assert r.returncode != 0, (args, r)
        tasks = args[-2] if args[1] == "update" else args[-1]
        shown = tasks.removeprefix("JobId=").replace("[", "").replace("]", "")
        assert r.stderr == f"{shown}: Invalid user id\n", (args, r.stderr)  # slurmctld's text
    r = c.run("scancel", f"{job}_[1-3]", user="nobody")
    assert "Access/permission denied" in r.stderr
    assert _records(c, job) == before
    # the owner's own task update still splits the tasks out, as slurmctld does
    c.run("scontrol", "update", f"JobId={job}_[1-2]", "TimeLimit=5").check()
    assert _records(c, job) == sorted(
        [
            f"JobId={job + 1} ArrayTaskId=1 JobState=PENDING TimeLimit=00:05:00",
            f"JobId={job + 2} ArrayTaskId=2 JobState=PENDING TimeLimit=00:05:00",
            f"JobId={job} ArrayTaskId=3-4 JobState=PENDING TimeLimit=UNLIMITED",
        ]
    )
    c.run("scancel", str(job)).check()


def test_four_million_tasks_keep_the_controller_responsive(c: SlurmCluster) -> None:
    answers: list[str] = []
    stop = threading.Event()

    def ping() -> None:
        while not stop.is_set():
            r = c.run("scontrol", "ping")
            answers.append(r.stdout.strip() or r.stderr.strip())

    pinger = threading.Thread(target=ping)
    pinger.start()
    try:
        job = c.sbatch(f"--array=0-{MAX_ARRAY_SIZE - 1}", "--hold", "--wrap", "true")
        assert _queue(c, job) == [f"{job}_[0-{MAX_ARRAY_SIZE - 1}] PD"]
        shown = c.run("scontrol", "show", "job", str(job)).check().stdout
        assert f"ArrayTaskId=0-{MAX_ARRAY_SIZE - 1}" in shown
        c.run("scontrol", "release", str(job)).check()
        c.wait_state(f"{job}_0", ["RUNNING", "COMPLETING", "COMPLETED"])
        c.run("scancel", str(job)).check()
        deadline = time.monotonic() + 60
        while _queue(c, job) and time.monotonic() < deadline:  # until no record is left pending or running
            time.sleep(0.2)
        assert _queue(c, job) == []
    finally:
        stop.set()
        pinger.join()
    assert answers and all(a.endswith("is UP") for a in answers), [a for a in answers if "UP" not in a][:5]
    assert c.stop_flurm() == 0  # SIGTERM is heard and flurm stops in its normal time
