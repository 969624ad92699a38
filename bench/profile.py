"""Sampling flurm with py-spy while a scenario runs, and a plain-text summary of where the time went.

``py-spy record --format raw`` writes collapsed stacks (``frame;frame;...;leaf count`` per line, the
first frame being the thread with ``--threads``). The summary gives, per thread, the share of samples
in which a function is the leaf ("self") and in which it is anywhere on the stack ("total").
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")


def py_spy() -> str | None:
    """The py-spy executable (next to this Python, or on PATH), or None."""
    local = Path(sys.executable).with_name("py-spy")
    if local.exists():
        return str(local)
    return shutil.which("py-spy")


@contextlib.contextmanager
def record(pid: int, out: Path, rate: int = 250) -> Iterator[None]:
    """Sample ``pid`` into ``out`` (raw collapsed stacks) for the duration of the block."""
    exe = py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed (.venv/bin/pip install py-spy)")
    cmd = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--threads",
        "--nonblocking",
        *(["--gil"] if os.environ.get("FLURM_PROFILE_GIL") else []),
        "--output",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _short(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)``."""
    m = _FRAME.match(frame)
    if not m:
        return frame
    return f"{m['func']} ({Path(m['file']).name})"


def summarize(path: Path, top: int = 15) -> str:
    """Per thread: total samples, then the top functions by self and by total share."""
    self_time: dict[str, Counter[str]] = {}
    total_time: dict[str, Counter[str]] = {}
    samples: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        count = int(m["count"])
        frames = m["stack"].split(";")
        thread, stack = frames[0], [_short(f) for f in frames[1:]]
        thread = re.sub(r"\s*\(?0x[0-9a-f]+\)?", "", thread).strip() or "thread"
        samples[thread] += count
        if not stack:
            continue
        self_time.setdefault(thread, Counter())[stack[-1]] += count
        totals = total_time.setdefault(thread, Counter())
        for f in set(stack):
            totals[f] += count
    lines: list[str] = []
    grand = sum(samples.values()) or 1
    for thread, n in samples.most_common():
        if n < grand * 0.02:
            continue
        lines.append(f"  thread {thread}: {n} samples ({100 * n / grand:.0f}% of all)")
        for title, table in (("self", self_time.get(thread)), ("total", total_time.get(thread))):
            if not table:
                continue
            lines.append(f"    by {title}:")
            for func, c in table.most_common(top):
                lines.append(f"      {100 * c / n:5.1f}%  {func}")
    return "\n".join(lines)
