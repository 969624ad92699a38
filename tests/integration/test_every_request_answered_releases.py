"""Every request a SLURM 24.11 or 26.05 client or daemon can send gets an answer from flurm, in that
release's protocol version: never a silent close where that release's own slurmctld answers, and no client
of that release meets a reply it cannot read ("Zero Bytes were transmitted or received", "Incompatible
versions of client and server code", ...).

The same two probes as test_every_request_answered.py, per release: each request type the release's
slurmctld dispatches (modes.SLURMCTLD_2411_REQUESTS, SLURMCTLD_2605_REQUESTS), sent with an empty body in
that release's version by crafted.py, to flurm and to the real slurmctld of the release; and the release's
real clients, one command per request family.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_every_request_answered import BROKEN, COMMANDS

from flurm.modes import SLURMCTLD_2411_REQUESTS, SLURMCTLD_2605_REQUESTS, Op, operation_of
from flurm.protocol.constants import MsgType
from harness import releases
from harness.loopback import SlurmCluster

CRAFTED = str(Path(__file__).with_name("crafted.py"))
REQUESTS = {"24.11": SLURMCTLD_2411_REQUESTS, "26.05": SLURMCTLD_2605_REQUESTS}
# what a client of these releases prints when a reply is in a layout it cannot read, or none came
UNREADABLE = (*BROKEN, "Incompatible versions of client and server code", "Protocol version has changed")
# the 22.05 commands, and what only the newer clients send
NEWER_COMMANDS: list[tuple[str, ...]] = [
    *(c for c in COMMANDS if c[:3] != ("scontrol", "show", "frontend")),  # 26.05 has no front ends
    ("squeue", "--only-job-state"),
    ("scancel", "999"),
    ("scontrol", "show", "hostnames", "n[1-3]"),
]


@pytest.fixture(scope="module", params=["24.11", "26.05"])
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[str, SlurmCluster, SlurmCluster]]:
    """flurm, and the release's own slurmctld, each without slurmd: (release, flurm, slurmctld)."""
    release: str = request.param
    dirs = [Path(tempfile.mkdtemp(prefix=f"flurm-answered-{release}-{k}-")) for k in ("flurm", "ctld")]
    for d in dirs:
        d.chmod(0o755)
    flurm = SlurmCluster(dirs[0], "flurm", release=release, slurmd=False)
    ctld = SlurmCluster(dirs[1], "slurmctld", release=release, slurmd=False)
    try:
        flurm.start()
        ctld.start()
        yield release, flurm, ctld
    finally:
        for c in (flurm, ctld):
            c.stop()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def probe(c: SlurmCluster, release: str, types: list[int], user: str | None) -> dict[int, str]:
    version = f"CRAFTED_VERSION={releases.get(release).protocol:#x}"
    r = c.run(
        "env", version, sys.executable, CRAFTED, "every", *map(str, types),
        user=user, timeout=300, release=releases.HOST,
    ).check()  # fmt: skip
    answers = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    return {int(t): a for t, a in answers.items()}


def test_every_request_type_gets_a_reply_where_slurmctld_gives_one(
    pair: tuple[str, SlurmCluster, SlurmCluster],
) -> None:
    release, flurm, ctld = pair
    types = sorted({int(t) for t in REQUESTS[release]})
    reads = [t for t in types if operation_of(t) == Op.READ]
    for user, asked in (("nobody", types), (None, reads)):
        ours = probe(flurm, release, asked, user)
        theirs = probe(ctld, release, asked, user)
        assert sorted(ours) == sorted(theirs) == sorted(asked)
        closed = sorted(
            MsgType(t).name for t, a in ours.items() if a == "closed" and theirs[t] != "closed"
        )
        assert closed == [], f"{release}, as {user or 'root'}: no reply to {closed}"


def test_no_client_of_the_release_meets_an_unreadable_reply(
    pair: tuple[str, SlurmCluster, SlurmCluster],
) -> None:
    release, flurm, _ = pair
    bad = []
    for user in ("nobody", None):
        for command in NEWER_COMMANDS:
            r = flurm.run(*command, user=user, timeout=60)
            text = r.stdout + r.stderr
            if any(b in text for b in UNREADABLE):
                bad.append(f"{user or 'root'}: {' '.join(command)}: {text.strip()[:200]}")
    assert bad == [], f"{release}:\n" + "\n".join(bad)
