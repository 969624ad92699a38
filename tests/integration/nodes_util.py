"""Helpers of the node and durability tests: slurmd daemons by pid file, job processes in /proc,
``scontrol show -o`` fields, and polling with a deadline."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from harness.loopback import SlurmCluster

T = TypeVar("T")
_FIELD = re.compile(r"(\S+?)=(.*?)(?= \S+?=|$)")


def fields(line: str) -> dict[str, str]:
    """``scontrol show ... -o`` output as a dict (values may hold spaces, e.g. OS=Linux ...)."""
    return {k: v.strip() for k, v in _FIELD.findall(line.strip())}


def job_fields(c: SlurmCluster, job_id: int) -> dict[str, str]:
    r = c.run("scontrol", "show", "job", "-o", str(job_id))
    return fields(r.stdout) if r.ok else {}


def node_fields(c: SlurmCluster, node: str) -> dict[str, str]:
    r = c.run("scontrol", "show", "node", "-o", node)
    return fields(r.stdout) if r.ok else {}


def sinfo_states(c: SlurmCluster) -> dict[str, str]:
    """node -> the short state sinfo prints (``idle``, ``mix``, ``alloc``, ``down*``, ``unk*``...)."""
    r = c.run("sinfo", "-h", "-N", "-o", "%N %t")
    return dict(line.split() for line in r.stdout.splitlines() if line.strip())


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.1) -> T:
    """Poll until ``probe`` returns something truthy; fail with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


# -- slurmd daemons --------------------------------------------------------------------------------


def slurmd_pidfile(c: SlurmCluster, node: str) -> Path:
    return c.dir / "run" / f"slurmd-{node}.pid"


def slurmd_pid(c: SlurmCluster, node: str) -> int:
    return int(slurmd_pidfile(c, node).read_text().strip())


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def kill_slurmd(c: SlurmCluster, node: str, sig: int = signal.SIGKILL) -> None:
    pid = slurmd_pid(c, node)
    os.kill(pid, sig)
    if sig in (signal.SIGKILL, signal.SIGTERM):
        wait_for(f"slurmd {node} (pid {pid}) to exit", lambda: not pid_alive(pid), 20)


def start_slurmd(c: SlurmCluster, node: str) -> None:
    subprocess.run(["slurmd", "-f", str(c.conf), "-N", node], check=True, capture_output=True, timeout=30)


# -- job processes ---------------------------------------------------------------------------------


def pids_running(argv: list[str], conf: Path | None = None) -> list[int]:
    """Pids of live processes whose command line is exactly ``argv`` (and, with ``conf``, whose job
    environment names that cluster's slurm.conf, so that other suites' jobs on this machine don't count)."""
    want = "\0".join(argv) + "\0"
    mark = f"SLURM_CONF={conf}\0".encode() if conf is not None else None
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "cmdline").read_text() != want or not pid_alive(int(entry.name)):
                continue
            if mark is not None and mark not in (entry / "environ").read_bytes():
                continue
            out.append(int(entry.name))
        except OSError:
            continue
    return out
