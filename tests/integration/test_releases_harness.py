"""The harness runs each SLURM release the tests need: a real slurmctld + slurmd cluster of 24.11 and of
26.05 from their chroots (harness/releases.py), and the host's 22.05 as before.

Each cluster: a batch job completes and its output file is read on the host at the path SLURM
reports; squeue, sinfo and scontrol show job answer; sinfo -V names the release; the daemons and
the job run from the release's own root; a job submitted as another user runs as that user (the
chroot resolves uids from the host's /etc/passwd). Afterwards none of the cluster's processes
lives on and the host's mount table holds nothing under the chroots.
"""

from __future__ import annotations

import pwd
import re
import time
from pathlib import Path

import pytest

from harness import launcher, releases
from harness.loopback import SlurmCluster, cluster

ALL = list(releases.RELEASES)


def _root_of(pid: int) -> Path:
    return Path(f"/proc/{pid}/root").resolve()


def _pid(path: Path) -> int:
    return int(path.read_text().split()[0])


def _mounts_under(root: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        targets = [line.split()[4] for line in f]
    return [t for t in targets if t == str(root) or t.startswith(f"{root}/")]


def _expected_root(release: releases.Release) -> Path:
    return release.root.resolve() if release.root is not None else Path("/")


def _batch_step(c: SlurmCluster, program: str, timeout: float = 30.0) -> tuple[list[int], set[int]]:
    """The cluster's slurmstepd and their descendants, once one of those runs ``program`` (RUNNING is
    set when the job is allocated, a moment before slurmd starts its slurmstepd)."""
    deadline = time.monotonic() + timeout
    while True:
        steps = launcher.leftover_slurmstepd(c.conf)
        below = launcher.descendants(steps)
        if any(_comm(pid) == program for pid in below):
            return steps, below
        if time.monotonic() > deadline:
            raise TimeoutError(f"no slurmstepd running {program}: {steps} {below}\n{c.log_tail()}")
        time.sleep(0.1)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _job_fields(c: SlurmCluster, job: int) -> dict[str, str]:
    out = c.run("scontrol", "show", "job", "-o", str(job)).check().stdout
    return dict(m.groups() for m in re.finditer(r"(\w+)=(\S*)", out))


@pytest.mark.parametrize("name", ALL)
def test_cluster_of_release(name: str) -> None:
    release = releases.get(name)
    pids: list[int] = []
    with cluster("slurmctld", release=name, cpus=2) as c:
        # the binaries are the release's: the version they print, the root they run in
        version = c.run("sinfo", "-V").check().stdout.split()
        assert version[0] in ("slurm", "slurm-wlm") and version[1].startswith(f"{name}."), version
        assert version[1] == release.version
        ctld = _pid(c.dir / "run" / "slurmctld.pid")
        slurmd = _pid(c.dir / "run" / "slurmd-compute-node-1.pid")
        pids += [ctld, slurmd]
        assert _root_of(ctld) == _root_of(slurmd) == _expected_root(release)

        sinfo = c.run("sinfo", "-h", "-o", "%P %a %D %t %N").check().stdout.split()
        assert sinfo == ["debug*", "up", "1", "idle", "compute-node-1"]

        # a job held running (until stop), seen by squeue
        sleeper = c.sbatch("--wrap", "sleep 300")
        c.wait_state(sleeper, ["RUNNING"])
        squeue = c.run("squeue", "-h", "-o", "%i %T %u %N").check().stdout.split()
        assert squeue == [str(sleeper), "RUNNING", "root", "compute-node-1"]
        # its slurmstepd is one stop() would find if slurmd were gone, and runs in the same root
        steps, job_pids = _batch_step(c, "sleep")
        assert len(steps) == 1 and _root_of(steps[0]) == _expected_root(release)
        pids += [*steps, *job_pids]

        job = c.sbatch("--wrap", "echo hi; cat /etc/debian_version")
        assert c.wait_state(job, ["COMPLETED", "FAILED"]) == "COMPLETED"
        fields = _job_fields(c, job)
        assert fields["JobId"] == str(job) and fields["ExitCode"] == "0:0"
        out = Path(fields["StdOut"])
        assert out == c.jobs_dir / f"slurm-{job}.out"
        lines = out.read_text().splitlines()
        assert lines[0] == "hi"
        # the job ran in the release's root: the host's Debian for 22.05 only
        host_debian = Path("/etc/debian_version").read_text().strip()
        assert (lines[1] == host_debian) == (release.root is None), lines

        # another user's job: the chroot sees the host's users and the same job directory
        c.jobs_dir.chmod(0o777)
        theirs = c.sbatch("--wrap", "id -un", user="nobody")
        assert c.wait_state(theirs, ["COMPLETED", "FAILED"]) == "COMPLETED"
        assert (c.jobs_dir / f"slurm-{theirs}.out").read_text() == "nobody\n"
        # by uid: 26.05's squeue refuses the name "nobody" (uid_from_string maps it to SLURM_AUTH_NOBODY)
        uid = str(pwd.getpwnam("nobody").pw_uid)
        listed = c.run("squeue", "-h", "-u", uid, "-t", "all", "-o", "%i %u").check().stdout.split()
        assert listed == [str(theirs), "nobody"]
    assert not [pid for pid in pids if launcher.pid_alive(pid)]
    if release.root is not None:
        assert _mounts_under(release.root.resolve()) == []


def test_clients_of_another_release() -> None:
    """A 26.05 cluster serves a 24.11 client (two releases back is within SLURM's support); 22.05 is
    too old for it: its client fails, which shows run(release=...) picks the other binary."""
    with cluster("slurmctld", release="26.05", cpus=2) as c:
        assert c.run("sinfo", "-V", release="24.11").check().stdout.split()[1].startswith("24.11.")
        job = c.sbatch("--wrap", "echo mixed", release="24.11")
        assert c.wait_state(job, ["COMPLETED", "FAILED"]) == "COMPLETED"
        assert (c.jobs_dir / f"slurm-{job}.out").read_text() == "mixed\n"
        listed = c.run("squeue", "-h", "-t", "all", "-o", "%i %T", release="24.11").check().stdout.split()
        assert listed == [str(job), "COMPLETED"]
        old = c.run("squeue", "-h", release="22.05")
        # slurmctld drops the old client's connection: the client reads the reply it cannot parse, the reset,
        # or (when the close comes before the client has written all of its request) a broken pipe
        refused = ("Insane message length", "Connection reset by peer", "Broken pipe")
        assert not old.ok and any(r in old.stderr for r in refused), old
