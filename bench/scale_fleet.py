"""The simulated fleet as bench/scale.py drives it: one ``python -m bench.fleet serve`` per cluster, its CPU
time, its stats, and its stop (SIGTERM, then SIGKILL for any of its own processes that outlive it)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_CLK_TCK = os.sysconf("SC_CLK_TCK")


class FleetError(RuntimeError):
    pass


def process_cpu(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds; 0 once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@dataclass
class FleetProcess:
    """A running fleet serving every node of ``conf``; ``workers`` > 1 splits it over that many children."""

    conf: Path
    dir: Path
    workers: int = 1
    proc: subprocess.Popen[bytes] | None = None
    pids: list[int] = field(default_factory=list)  # every process of the fleet, known once it is ready

    @property
    def ready_file(self) -> Path:
        return self.dir / "fleet.ready"

    @property
    def stats_file(self) -> Path:
        return self.dir / "fleet.stats"

    def _files(self, base: Path) -> list[Path]:
        if self.workers == 1:
            return [base]
        return [Path(f"{base}.{i}") for i in range(self.workers)]

    def start(self, timeout: float = 180.0) -> float:
        """Start the fleet and wait until every node listens; returns the wall-clock time (time.time()) at
        which the last of its processes was ready: the registrations start then."""
        self.dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "bench.fleet", "serve", "-f", str(self.conf)]
        argv += ["--stats", str(self.stats_file), "--ready", str(self.ready_file)]
        if self.workers > 1:
            argv += ["--workers", str(self.workers)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
        with open(self.dir / "fleet.log", "ab") as log:
            self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        files = self._files(self.ready_file)
        while not all(f.exists() for f in files):
            if self.proc.poll() is not None:
                raise FleetError(f"fleet exited with {self.proc.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise FleetError(f"fleet not listening after {timeout:.0f} s: {self.log_tail()}")
            time.sleep(0.05)
        self.pids = [self.proc.pid, *_children(self.proc.pid)]
        return max(f.stat().st_mtime for f in files)

    def cpu_seconds(self) -> float:
        """CPU time the fleet's processes have used so far."""
        return sum(process_cpu(pid) for pid in self.pids)

    def _servers(self) -> list[int]:
        """The processes that serve nodes (and answer SIGUSR1): the children when there are workers."""
        return self.pids[1:] if self.workers > 1 else self.pids[:1]

    def stats(self, timeout: float = 10.0) -> dict[str, object]:
        """What the fleet saw so far (SIGUSR1 makes each serving process write its stats file), merged."""
        files = self._files(self.stats_file)
        for f in files:
            f.unlink(missing_ok=True)
        for pid in self._servers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while not all(f.exists() for f in files):
            if time.monotonic() > deadline:
                raise FleetError("the fleet wrote no stats")
            time.sleep(0.05)
        return merge_stats([json.loads(f.read_text()) for f in files])

    def stop(self, timeout: float = 30.0) -> dict[str, object]:
        """SIGTERM, wait, SIGKILL whatever of the fleet's processes is left; its final stats ({} if none)."""
        if self.proc is None:
            return {}
        pids = self.pids or [self.proc.pid]
        pids += [c for c in _children(self.proc.pid) if c not in pids]
        files = self._files(self.stats_file)
        for f in files:
            f.unlink(missing_ok=True)
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)  # the parent forwards it to its workers
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in pids[1:]) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in pids:
            if _alive(pid):
                print(f"[fleet] process {pid} outlived SIGTERM: killed", file=sys.stderr)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)
        if any(_alive(p) for p in pids):
            raise FleetError(f"fleet processes still alive: {[p for p in pids if _alive(p)]}")
        self.proc = None
        got = [json.loads(f.read_text()) for f in files if f.exists()]
        return merge_stats(got) if got else {}

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join((self.dir / "fleet.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def merge_stats(parts: list[dict[str, object]]) -> dict[str, object]:
    """The stats of the fleet's processes as one: counts summed, the longest ``seconds``."""
    out: dict[str, object] = {}
    received: dict[str, int] = {}
    for part in parts:
        for key, value in part.items():
            if key == "received" and isinstance(value, dict):
                for name, count in value.items():
                    received[name] = received.get(name, 0) + int(count)
            elif key == "seconds" and isinstance(value, int | float):
                out[key] = max(float(value), float(str(out.get(key, 0.0))))
            elif isinstance(value, int):
                prior = out.get(key, 0)
                out[key] = (prior if isinstance(prior, int) else 0) + value
    out["received"] = dict(sorted(received.items()))
    return out
