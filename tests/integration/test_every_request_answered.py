"""Every request a SLURM 22.05 client or daemon can send gets an answer from flurm, in standalone and in
shadow: never a silent close ("Zero Bytes were transmitted or received"), never a reply the client cannot
read ("Header lengths are longer than data received", "Unexpected message received").

Two probes. Each request type slurmctld 22.05 dispatches, sent with an empty body (as nobody, and as root
for the reads) by crafted.py, must get a reply frame. And the real clients, run for every family of
request they send, must not print those texts.
"""

from __future__ import annotations

import difflib
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from parity import normalise

from flurm.modes import SLURMCTLD_2205_REQUESTS, Op, operation_of
from flurm.protocol.constants import MsgType
from harness.loopback import SlurmCluster

CRAFTED = str(Path(__file__).with_name("crafted.py"))
# slurmctld itself sends no reply to these (messages from slurmdbd; proc_req.c returns without one)
NO_REPLY = {MsgType.ACCOUNTING_FIRST_REG, MsgType.ACCOUNTING_REGISTER_CTLD}
BROKEN = ("Zero Bytes were transmitted", "Header lengths are longer than data", "Unexpected message received")

# What the clients send, one command per request family (none of them changes the cluster for good).
COMMANDS: list[tuple[str, ...]] = [
    ("scontrol", "ping"),
    ("scontrol", "show", "config"),
    ("scontrol", "show", "burstbuffer"),
    ("scontrol", "show", "topology"),
    ("scontrol", "show", "frontend"),
    ("scontrol", "show", "assoc_mgr"),
    ("scontrol", "show", "reservation"),
    ("scontrol", "show", "licenses"),
    ("scontrol", "show", "step"),
    ("scontrol", "show", "federation"),
    ("scontrol", "show", "node"),
    ("scontrol", "show", "partition"),
    ("scontrol", "show", "job"),
    ("sshare",),
    ("sprio",),
    ("sinfo", "-T"),
    ("sinfo", "-R"),
    ("sdiag",),
    ("squeue", "--start"),
    ("strigger", "--get"),
    ("sbatch", "--test-only", "--wrap", "true"),
    ("scontrol", "top", "999"),
    ("scontrol", "notify", "999", "hello"),
    ("scontrol", "write", "batch_script", "999", "-"),
    ("scontrol", "requeue", "999"),
    ("scontrol", "suspend", "999"),
    ("scontrol", "setdebug", "info"),
    ("scontrol", "setdebugflags", "+Backfill"),
    ("scontrol", "create", "reservation", "StartTime=now", "Duration=60", "Nodes=nosuchnode", "Users=root"),
    ("scontrol", "delete", "reservation=nosuch"),
    ("scontrol", "delete", "partition=nosuch"),
    ("scontrol", "update", "StepId=999.0", "TimeLimit=5"),
]


@pytest.fixture(scope="module")
def clusters() -> Iterator[dict[str, tuple[SlurmCluster, Path]]]:
    """flurm standalone, and flurm in shadow of a slurmctld: (cluster, the slurm.conf to reach flurm)."""
    dirs = [Path(tempfile.mkdtemp(prefix=f"flurm-answered-{k}-")) for k in ("standalone", "shadow")]
    for d in dirs:
        d.chmod(0o755)
    standalone = SlurmCluster(dirs[0], "flurm")
    source = SlurmCluster(dirs[1], "slurmctld")
    try:
        standalone.start()
        source.start()
        source.wait_ready()
        port = source.start_shadow()
        yield {"standalone": (standalone, standalone.conf), "shadow": (source, source.client_conf(port))}
    finally:
        for c in (standalone, source):
            c.stop()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def probe(c: SlurmCluster, conf: Path, types: list[int], user: str | None) -> dict[int, str]:
    r = c.run(sys.executable, CRAFTED, "every", *map(str, types), user=user, conf=conf, timeout=300).check()
    answers = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    return {int(t): a for t, a in answers.items()}


@pytest.mark.parametrize("mode", ["standalone", "shadow"])
def test_every_request_type_gets_a_reply(clusters: dict[str, tuple[SlurmCluster, Path]], mode: str) -> None:
    c, conf = clusters[mode]
    types = [int(t) for t in SLURMCTLD_2205_REQUESTS]
    reads = [t for t in types if operation_of(t) == Op.READ]
    for user, asked in (("nobody", types), (None, reads)):
        answers = probe(c, conf, asked, user)
        assert sorted(answers) == sorted(asked)
        closed = sorted(MsgType(t).name for t, a in answers.items() if a == "closed" and t not in NO_REPLY)
        assert closed == [], f"{mode}, as {user or 'root'}: no reply to {closed}"


@pytest.mark.parametrize("mode", ["standalone", "shadow"])
def test_no_client_meets_a_dropped_or_unreadable_reply(
    clusters: dict[str, tuple[SlurmCluster, Path]], mode: str
) -> None:
    c, conf = clusters[mode]
    bad = []
    for user in ("nobody", None):
        for command in COMMANDS:
            r = c.run(*command, user=user, conf=conf, timeout=60)
            text = r.stdout + r.stderr
            if any(b in text for b in BROKEN):
                bad.append(f"{user or 'root'}: {' '.join(command)}: {text.strip()[:200]}")
    assert bad == [], "\n".join(bad)


# What a switched client reads through flurm in shadow is what slurmctld tells it (times aside).
HASH_VAL = re.compile(r"^HASH_VAL\s+=.*$", re.MULTILINE)
SHADOW_READS: list[tuple[str, ...]] = [
    c for c in COMMANDS if c[0] in ("sinfo", "sprio", "sshare") or c[:2] == ("scontrol", "show")
]


def test_in_shadow_a_client_reads_what_slurmctld_answers(
    clusters: dict[str, tuple[SlurmCluster, Path]],
) -> None:
    c, conf = clusters["shadow"]
    differ = []
    for user in ("nobody", None):
        for command in SHADOW_READS:
            direct = c.run(*command, user=user, timeout=60)
            through = c.run(*command, user=user, conf=conf, timeout=60)
            a, b = (
                HASH_VAL.sub("HASH_VAL = <HASH>", normalise(r.stdout + r.stderr, c))
                for r in (direct, through)
            )
            if (direct.returncode, a) != (through.returncode, b):
                differ.append(
                    f"{user or 'root'}: {' '.join(command)}:\n"
                    + "\n".join(
                        difflib.unified_diff(
                            a.splitlines(), b.splitlines(), "slurmctld", "flurm", lineterm=""
                        )
                    )
                )
    assert differ == [], "\n".join(differ)
