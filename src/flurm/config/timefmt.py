"""SLURM time-limit strings: parsing (``sbatch -t``, ``MaxTime=``) and scontrol's formatting.

The accepted forms and their arithmetic follow SLURM 22.05 ``src/common/parse_time.c``
(``time_str2secs`` / ``time_str2mins`` / ``secs2time_str`` / ``mins2time_str``):

========================== =========================================
``INFINITE``, ``UNLIMITED`` unlimited (any case); so is ``-1``
``M``                       minutes
``M:S``                     minutes and seconds
``H:M:S``                   hours, minutes, seconds
``D-H``                     days and hours
``D-H:M``                   days, hours, minutes
``D-H:M:S``                 days, hours, minutes, seconds
========================== =========================================

Fields are not range-checked (``0:90`` is 90 seconds, ``1-30`` is 1 day 30 hours), a lone
``D-`` is D days, and minutes are rounded *up* from seconds (``0:1`` is 1 minute).  Only
digits, ``-`` and ``:`` may appear; a ``-`` must come before any ``:``.

Unlimited is ``None`` on the Python side: every function here takes and returns ``None``
for it (the formatters also accept SLURM's ``INFINITE`` constant, 0xFFFFFFFF).
"""

from __future__ import annotations

import re

from flurm.protocol.constants import SlurmRC
from flurm.protocol.errors import FlurmError

__all__ = [
    "TimeFormatError",
    "format_time_minutes",
    "format_time_seconds",
    "parse_time_minutes",
    "parse_time_seconds",
]

INFINITE = 0xFFFFFFFF
_INT32_MAX = 0x7FFFFFFF

_UNLIMITED_WORDS = frozenset({"-1", "infinite", "unlimited"})
_GROUP = re.compile(r"[0-9]+")
_LEADING_INT = re.compile(r"[+-]?[0-9]+")


class TimeFormatError(FlurmError, ValueError):
    """A time string SLURM would refuse (time_str2secs returns NO_VAL, or a negative time)."""

    rc = SlurmRC.ESLURM_INVALID_TIME_VALUE

    def __init__(self, text: str, why: str = "invalid time specification") -> None:
        super().__init__(f"{why}: {text!r}")
        self.text = text


def _is_valid_timespec(text: str) -> bool:
    """The shape check SLURM runs before scanning the numbers (_is_valid_timespec)."""
    digits = dashes = colons = 0
    in_digits = False
    for ch in text:
        if "0" <= ch <= "9":
            if not in_digits:
                digits += 1
                in_digits = True
        elif ch == "-":
            in_digits = False
            dashes += 1
            if colons:
                return False
        elif ch == ":":
            in_digits = False
            colons += 1
        else:
            return False
    if not digits or dashes > 1 or colons > 2:
        return False
    if dashes:
        return not ((colons == 1 and digits < 3) or (colons == 2 and digits < 4))
    return not ((colons == 1 and digits < 2) or (colons == 2 and digits < 3))


def _scan(text: str, separators: str) -> list[int]:
    """Like sscanf("%d<sep>%d<sep>..."): read signed ints separated by the given characters, stop early."""
    values: list[int] = []
    pos = 0
    for index in range(len(separators) + 1):
        m = _LEADING_INT.match(text, pos)
        if m is None:
            break
        values.append(int(m.group()))
        pos = m.end()
        if index == len(separators) or not text.startswith(separators[index], pos):
            break
        pos += 1
    return values


def _raw_seconds(text: str) -> int | None:
    """time_str2secs without the sign check: None for unlimited, raises for NO_VAL."""
    if not text:
        raise TimeFormatError(text, "empty time specification")
    if text.lower() in _UNLIMITED_WORDS:
        return None
    if not _is_valid_timespec(text):
        raise TimeFormatError(text)
    if "-" in text:
        fields = [*_scan(text, "-::"), 0, 0, 0, 0]
        days, hours, minutes, seconds = fields[:4]
        return days * 86400 + hours * 3600 + minutes * 60 + seconds
    fields = _scan(text, "::")
    if len(fields) == 3:
        hours, minutes, seconds = fields
        return hours * 3600 + minutes * 60 + seconds
    fields = [*fields, 0, 0]
    minutes, seconds = fields[:2]
    return minutes * 60 + seconds


def parse_time_seconds(text: str) -> int | None:
    """A SLURM time string as seconds; None means unlimited.

    Raises TimeFormatError where SLURM's time_str2secs() returns NO_VAL, and for a negative
    result (``-5`` scans as -5 days; every SLURM caller rejects it) or one that does not fit
    SLURM's int.
    """
    seconds = _raw_seconds(text)
    if seconds is None:
        return None
    if seconds < 0:
        raise TimeFormatError(text, "negative time")
    if seconds > _INT32_MAX:
        raise TimeFormatError(text, "time out of range")
    return seconds


def parse_time_minutes(text: str) -> int | None:
    """A SLURM time string as minutes, seconds rounded up (time_str2mins); None means unlimited.

    ``parse_time_minutes("1:30") == 2``, ``parse_time_minutes("2-0") == 2880``,
    ``parse_time_minutes("UNLIMITED") is None``. Raises TimeFormatError like parse_time_seconds.
    """
    seconds = parse_time_seconds(text)
    if seconds is None:
        return None
    return (seconds + 59) // 60


def _format_dhms(days: int, hours: int, minutes: int, seconds: int) -> str:
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def format_time_seconds(seconds: int | None) -> str:
    """secs2time_str: ``UNLIMITED``, ``HH:MM:SS`` or ``D-HH:MM:SS`` (``INVALID`` if negative)."""
    if seconds is None or seconds == INFINITE:
        return "UNLIMITED"
    if seconds < 0:
        return "INVALID"
    return _format_dhms(seconds // 86400, seconds // 3600 % 24, seconds // 60 % 60, seconds % 60)


def format_time_minutes(minutes: int | None) -> str:
    """mins2time_str, as scontrol prints MaxTime/TimeLimit: ``UNLIMITED``, ``00:10:00``, ``1-00:00:00``."""
    if minutes is None or minutes == INFINITE:
        return "UNLIMITED"
    if minutes < 0:
        return "INVALID"
    return _format_dhms(minutes // 1440, minutes // 60 % 24, minutes % 60, 0)
