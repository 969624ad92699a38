"""The controller's log level, DebugFlags and scheduler log level, as ``scontrol setdebug``,
``setdebugflags`` and ``schedloglevel`` change them.

They start as slurm.conf says (read as slurmctld reads them: config/ctl_conf.py) and are what
``scontrol show config`` reports. SLURM's levels (log.h log_level_t) map onto Python logging for
the ``flurm`` loggers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flurm.config.ctl_conf import slurmctld_conf
from flurm.config.slurmconf import SlurmConfig

LOG_LEVEL_QUIET = 0
LOG_LEVEL_INFO = 3
LOG_LEVEL_DEBUG5 = 9  # the highest: log_level_t's LOG_LEVEL_END - 1

# log_num2string()
LEVEL_NAMES = ("quiet", "fatal", "error", "info", "verbose", "debug", "debug2", "debug3", "debug4", "debug5")

_PYTHON_LEVEL = {
    0: logging.CRITICAL + 10,  # quiet: nothing
    1: logging.CRITICAL,
    2: logging.ERROR,
    3: logging.INFO,
    4: logging.INFO,  # verbose
}


def clamp(level: int) -> int:
    return max(LOG_LEVEL_QUIET, min(level, LOG_LEVEL_DEBUG5))


def python_level(level: int) -> int:
    return _PYTHON_LEVEL.get(level, logging.DEBUG)


@dataclass(slots=True)
class LogSettings:
    slurmctld_debug: int = LOG_LEVEL_INFO
    debug_flags: int = 0
    sched_log_level: int = 0
    sched_logfile: str | None = None
    changed_at: int = 0  # when an operator last changed one (slurmctld's slurm_conf.last_update)

    @classmethod
    def from_config(cls, config: SlurmConfig) -> LogSettings:
        table = slurmctld_conf(config)
        return cls(table.slurmctld_debug, table.debug_flags, table.sched_log_level, table.sched_logfile)

    def set_level(self, level: int, now: int) -> None:
        """scontrol setdebug: the level (clamped as slurmctld does) for every flurm logger."""
        self.slurmctld_debug = clamp(level)
        self.changed_at = now
        logging.getLogger("flurm").setLevel(python_level(self.slurmctld_debug))

    def change_flags(self, minus: int, plus: int, now: int) -> None:
        self.debug_flags = (self.debug_flags & ~minus) | plus
        self.changed_at = now
