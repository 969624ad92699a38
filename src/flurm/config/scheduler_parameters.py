"""Values read from SchedulerParameters outside the scheduler."""

from __future__ import annotations

import re

DEFAULT_MAX_SCRIPT_SIZE = 4 * 1024 * 1024


def max_script_size(scheduler_parameters: str | None) -> int:
    """SchedulerParameters=max_script_size (bytes), read as slurmctld does: the first
    "max_script_size=" anywhere in the text, case-insensitive, then atoi() of what follows."""
    text = scheduler_parameters or ""
    at = text.lower().find("max_script_size=")
    if at < 0:
        return DEFAULT_MAX_SCRIPT_SIZE
    m = re.match(r"\s*([+-]?\d+)", text[at + len("max_script_size=") :])
    return int(m.group(1)) if m else 0
