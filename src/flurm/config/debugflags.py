"""DebugFlags: SLURM's DEBUG_FLAG_* bits (slurm.h), their names as slurmctld prints them
(read_config.c debug_flags2str, in its order) and the names it reads (debug_str2flags, any case)."""

from __future__ import annotations

from flurm.protocol.errors import FlurmError

# (name printed, bit), in debug_flags2str()'s order
FLAG_NAMES: tuple[tuple[str, int], ...] = (
    ("Accrue", 50),
    ("JobAccountGather", 54),
    ("Agent", 52),
    ("Backfill", 12),
    ("BackfillMap", 27),
    ("BurstBuffer", 40),
    ("Cgroup", 55),
    ("CpuFrequency", 41),
    ("CPU_Bind", 3),
    ("Data", 8),
    ("DB_Archive", 44),
    ("DB_Assoc", 30),
    ("DB_TRES", 45),
    ("DB_Event", 31),
    ("DB_Job", 32),
    ("DB_QOS", 33),
    ("DB_Query", 34),
    ("DB_Reservation", 35),
    ("DB_Resource", 36),
    ("DB_Step", 37),
    ("DB_Usage", 38),
    ("DB_WCKey", 39),
    ("Dependency", 53),
    ("Elasticsearch", 46),
    ("Energy", 18),
    ("ExtSensors", 19),
    ("Federation", 48),
    ("FrontEnd", 15),
    ("Gang", 13),
    ("Gres", 6),
    ("Hetjob", 49),
    ("Interconnect", 22),
    ("JobContainer", 24),
    ("NodeFeatures", 47),
    ("License", 20),
    ("MPI", 7),
    ("Network", 10),
    ("NetworkRaw", 4),
    ("NO_CONF_HASH", 5),
    ("Power", 42),
    ("Priority", 11),
    ("Profile", 21),
    ("Protocol", 26),
    ("Reservation", 14),
    ("Route", 29),
    ("Script", 56),
    ("SelectType", 0),
    ("Steps", 1),
    ("Switch", 17),
    ("TimeCray", 43),
    ("TraceJobs", 28),
    ("Triggers", 2),
    ("WorkQueue", 9),
)

# the other spellings debug_str2flags() accepts
_ALIASES = {"jag": 54, "net": 10, "netraw": 4, "trigger": 2, "powersave": 42, "workq": 9}
_BY_NAME = {name.lower(): bit for name, bit in FLAG_NAMES} | _ALIASES


class UnknownDebugFlag(FlurmError):
    pass


def parse_debug_flags(text: str | None) -> int:
    """``DebugFlags=Steps,Backfill`` -> the bit mask; an unknown name raises :class:`UnknownDebugFlag`."""
    mask = 0
    for token in (text or "").split(","):
        if not token:
            continue
        bit = _BY_NAME.get(token.lower())
        if bit is None:
            raise UnknownDebugFlag(f"Invalid DebugFlag: {token}")
        mask |= 1 << bit
    return mask


def format_debug_flags(mask: int) -> str:
    """The mask as ``scontrol show config`` prints DebugFlags ("" for none)."""
    return ",".join(name for name, bit in FLAG_NAMES if mask >> bit & 1)
