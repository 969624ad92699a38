"""The controller's log level and DebugFlags, as ``scontrol setdebug`` / ``setdebugflags`` change them.

SLURM's levels (log.h log_level_t) map onto Python logging for the ``flurm`` loggers; the DebugFlags
are kept as SLURM's bits (``scontrol show config`` prints them with config.debugflags).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flurm.config.debugflags import UnknownDebugFlag, parse_debug_flags
from flurm.config.slurmconf import SlurmConfig

LOG_LEVEL_QUIET = 0
LOG_LEVEL_INFO = 3
LOG_LEVEL_DEBUG5 = 9  # the highest: log_level_t's LOG_LEVEL_END - 1

# log_num2string() / log_string2num()
LEVEL_NAMES = ("quiet", "fatal", "error", "info", "verbose", "debug", "debug2", "debug3", "debug4", "debug5")

_PYTHON_LEVEL = {
    0: logging.CRITICAL + 10,  # quiet: nothing
    1: logging.CRITICAL,
    2: logging.ERROR,
    3: logging.INFO,
    4: logging.INFO,  # verbose
}

log = logging.getLogger("flurm.controller")


def level_number(text: str | None, default: int = LOG_LEVEL_INFO) -> int:
    """SlurmctldDebug's value (a name or a number) as a log_level_t."""
    if not text:
        return default
    word = text.strip().lower()
    if word.isdigit():
        return clamp(int(word))
    return LEVEL_NAMES.index(word) if word in LEVEL_NAMES else default


def clamp(level: int) -> int:
    return max(LOG_LEVEL_QUIET, min(level, LOG_LEVEL_DEBUG5))


def python_level(level: int) -> int:
    return _PYTHON_LEVEL.get(level, logging.DEBUG)


@dataclass(slots=True)
class LogSettings:
    slurmctld_debug: int = LOG_LEVEL_INFO
    debug_flags: int = 0
    schedlog_level: int = 0

    @classmethod
    def from_config(cls, config: SlurmConfig) -> LogSettings:
        raw = config.raw
        try:
            flags = parse_debug_flags(raw.get("debugflags"))
        except UnknownDebugFlag as exc:
            log.warning("%s: DebugFlags ignored", exc)
            flags = 0
        schedlog = raw.get("slurmschedloglevel", "0").strip()
        return cls(
            level_number(raw.get("slurmctlddebug")),
            flags,
            min(int(schedlog), 1) if schedlog.isdigit() else 0,
        )

    def set_level(self, level: int) -> None:
        """scontrol setdebug: the level (clamped as slurmctld does) for every flurm logger."""
        self.slurmctld_debug = clamp(level)
        logging.getLogger("flurm").setLevel(python_level(self.slurmctld_debug))

    def change_flags(self, minus: int, plus: int) -> None:
        self.debug_flags = (self.debug_flags & ~minus) | plus
