"""What a simulated job does, read from its batch script (sans-IO: text in, plan out).

``#FLEET sleep=SECONDS exit=CODE`` sets how long the job "runs" and the exit code it ends with. Without
it, the script's own top-level ``sleep N`` lines (summed) and its last ``exit N`` line are used, so
that ``sbatch --wrap 'sleep 5'`` behaves on the fleet as it would on a node; anything else the script
says is not run. Without either, the job runs the fleet's default time and exits 0.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# a job runs at most a year (longer directives are clamped, not refused: the controller's time
# limit ends such a job anyway)
MAX_SECONDS = 365 * 86400.0
# lines of a script looked at: scripts can be megabytes; the directives sit at the top
MAX_LINES = 10_000

_DIRECTIVE = re.compile(r"^\s*#\s*FLEET\b(.*)$")
_SLEEP = re.compile(r"^\s*sleep\s+(\d+(?:\.\d+)?)\s*;?\s*$")
_EXIT = re.compile(r"^\s*exit\s+(\d+)\s*;?\s*$")


class ScriptError(ValueError):
    """A #FLEET directive that cannot be read."""


@dataclass(frozen=True, slots=True)
class JobPlan:
    seconds: float
    exit_code: int = 0  # 0..255, the script's exit status

    @property
    def wait_status(self) -> int:
        """The job_rc a slurmstepd reports for a script that exited normally (exit code << 8)."""
        return self.exit_code << 8


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ScriptError(f"#FLEET sleep={text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise ScriptError(f"#FLEET sleep={text!r} must be a non-negative number of seconds")
    return min(value, MAX_SECONDS)


def _exit_code(text: str) -> int:
    # isdecimal: isdigit() also takes superscripts such as "²", which int() refuses
    if not (text.isascii() and text.isdecimal()):
        raise ScriptError(f"#FLEET exit={text!r} is not an exit code")
    return int(text) & 0xFF  # as a shell truncates ``exit 256``


def plan(script: str | None, default_seconds: float) -> JobPlan:
    """The plan of a job whose batch script is ``script``. Raises ScriptError for a bad directive."""
    directive_seconds: float | None = None
    directive_exit: int | None = None
    slept = 0.0
    slept_any = False
    last_exit: int | None = None
    for line in (script or "").splitlines()[:MAX_LINES]:
        m = _DIRECTIVE.match(line)
        if m:
            for token in m.group(1).split():
                key, _, value = token.partition("=")
                if key == "sleep":
                    directive_seconds = _seconds(value)
                elif key == "exit":
                    directive_exit = _exit_code(value)
                else:
                    raise ScriptError(f"#FLEET {token!r}: known are sleep=SECONDS and exit=CODE")
            continue
        if (s := _SLEEP.match(line)) is not None:
            slept += float(s.group(1))
            slept_any = True
        elif (e := _EXIT.match(line)) is not None:
            last_exit = int(e.group(1)) & 0xFF
    if directive_seconds is not None:
        seconds = directive_seconds
    elif slept_any:
        seconds = min(slept, MAX_SECONDS)
    else:
        seconds = default_seconds
    code = directive_exit if directive_exit is not None else (last_exit or 0)
    return JobPlan(seconds, code)
