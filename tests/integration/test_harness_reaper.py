"""The harness stops the clusters of a test process killed before its teardown (a timeout around
pytest): the next cluster's start finds them by their owner file and stops their daemons by pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness import launcher
from harness.loopback import REPO, reap_orphaned_clusters

pytestmark = pytest.mark.integration

_OWNER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from harness.loopback import cluster
    with cluster("flurm") as c:
        print(c.dir, flush=True)
        time.sleep(600)
    """
)


def _pidfiles(dir: Path) -> list[Path]:
    layout = launcher.Layout(dir)
    return [layout.munged_pidfile, *layout.slurmd_pidfiles(), dir / "run" / "flurm.pid"]


def _daemon_pids(dir: Path) -> list[int]:
    pids = [launcher.pidfile_pid(f, dir) for f in _pidfiles(dir)]
    return [p for p in pids if p is not None]


def test_the_daemons_of_a_killed_test_process_are_stopped_by_the_next_start() -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER, str(REPO)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert owner.stdout is not None
        dir = Path(owner.stdout.readline().strip())
        pids = _daemon_pids(dir)
        assert len(pids) == 3, pids  # munged, slurmd, flurm
        os.kill(owner.pid, signal.SIGKILL)  # no teardown
        owner.wait(10)
        assert len(_daemon_pids(dir)) == len(pids), "the daemons died on their own"
        reap_orphaned_clusters()
        deadline = time.monotonic() + 30
        while _daemon_pids(dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _daemon_pids(dir) == []
        assert not (dir / "owner").exists()
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(10)
