"""slurm.conf reading (the same file SLURM uses), time strings, and rewriting a copy for clients."""

from flurm.config.render import render_with_overrides
from flurm.config.slurmconf import (
    ConfigError,
    ConfigWarning,
    ControlHost,
    NodeConf,
    NodeSetConf,
    PartitionConf,
    SlurmConfig,
    load,
    node_state_value,
    parse_text,
)
from flurm.config.timefmt import (
    TimeFormatError,
    format_time_minutes,
    format_time_seconds,
    parse_time_minutes,
    parse_time_seconds,
)

__all__ = [
    "ConfigError",
    "ConfigWarning",
    "ControlHost",
    "NodeConf",
    "NodeSetConf",
    "PartitionConf",
    "SlurmConfig",
    "TimeFormatError",
    "format_time_minutes",
    "format_time_seconds",
    "load",
    "node_state_value",
    "parse_text",
    "parse_time_minutes",
    "parse_time_seconds",
    "render_with_overrides",
]
