"""cgroup.conf as SLURM 22.05 reads it (src/common/cgroup.c), and the settings slurmctld reports.

slurmctld reads cgroup.conf (beside slurm.conf) at start whatever its plugins, and refuses to start
if the file cannot be parsed. It reports the settings in ``scontrol show config`` ("Cgroup Support
Configuration") when ProctrackType, TaskPlugin or JobAcctGatherType names a cgroup plugin
(cgroup_get_conf_list). No file reads as an empty one: every key at its default.
"""

from __future__ import annotations

from dataclasses import dataclass

from flurm.config.extra_conf import ExtraKind, beside, read_extra_conf
from flurm.config.slurmconf import ConfigError

__all__ = ["CGROUP_OPTIONS", "CgroupConf", "cgroup_key_pairs", "read_cgroup_conf", "reports_cgroup"]

DEFAULT_MOUNTPOINT = "/sys/fs/cgroup"
DEFAULT_MIN_RAM_MB = 30  # XCGROUP_DEFAULT_MIN_RAM

CGROUP_OPTIONS: dict[str, ExtraKind] = {
    "CgroupAutomount": "bool",
    "CgroupMountpoint": "str",
    "CgroupReleaseAgentDir": "str",
    "ConstrainCores": "bool",
    "ConstrainRAMSpace": "bool",
    "AllowedRAMSpace": "float",
    "MaxRAMPercent": "float",
    "MinRAMSpace": "u64",
    "ConstrainSwapSpace": "bool",
    "ConstrainKmemSpace": "bool",
    "AllowedKmemSpace": "float",
    "MaxKmemPercent": "float",
    "MinKmemSpace": "u64",
    "AllowedSwapSpace": "float",
    "MaxSwapPercent": "float",
    "MemoryLimitEnforcement": "bool",
    "MemoryLimitThreshold": "float",
    "ConstrainDevices": "bool",
    "AllowedDevicesFile": "str",
    "MemorySwappiness": "u64",
    "CgroupPlugin": "str",
    "IgnoreSystemd": "bool",
    "IgnoreSystemdOnFailure": "bool",
}


@dataclass(frozen=True, slots=True)
class CgroupConf:
    """slurm_cgroup_conf: percentages as percent, sizes in MB; None where SLURM keeps no value."""

    automount: bool = False
    mountpoint: str = DEFAULT_MOUNTPOINT
    constrain_cores: bool = False
    constrain_ram_space: bool = False
    allowed_ram_space: float = 100.0
    max_ram_percent: float = 100.0
    min_ram_space: int = DEFAULT_MIN_RAM_MB
    constrain_swap_space: bool = False
    constrain_kmem_space: bool = False
    allowed_kmem_space: float | None = None  # bytes; SLURM's -1 (no limit)
    max_kmem_percent: float = 100.0
    min_kmem_space: int = DEFAULT_MIN_RAM_MB
    allowed_swap_space: float = 0.0
    max_swap_percent: float = 100.0
    constrain_devices: bool = False
    memory_swappiness: int | None = None  # SLURM's NO_VAL64
    plugin: str | None = None  # CgroupPlugin; the daemons autodetect when unset
    ignore_systemd: bool = False
    ignore_systemd_on_failure: bool = False

    @property
    def confines_memory(self) -> bool:
        """The part of cgroup_memcg_job_confinement that cgroup.conf decides."""
        return self.constrain_ram_space or self.constrain_swap_space


def read_cgroup_conf(slurm_conf_path: str) -> CgroupConf:
    """cgroup.conf beside ``slurm_conf_path`` (_read_slurm_cgroup_conf); ConfigError where slurmctld stops."""
    path = beside(slurm_conf_path, "cgroup.conf")
    values = read_extra_conf(path, CGROUP_OPTIONS)
    if values is None:
        return CgroupConf()
    if "cgroupreleaseagentdir" in values:
        raise ConfigError(path, None, "Support for CgroupReleaseAgentDir option has been removed.")
    d = CgroupConf()

    def flag(key: str) -> bool:
        return bool(values.get(key.lower(), False))

    def number(key: str, default: float) -> float:
        return float(values.get(key.lower(), default))

    def count(key: str, default: int) -> int:
        return int(values.get(key.lower(), default))

    mountpoint = str(values.get("cgroupmountpoint", DEFAULT_MOUNTPOINT))
    if mountpoint.endswith("/"):  # one trailing slash goes
        mountpoint = mountpoint[:-1]
    swappiness = None if "memoryswappiness" not in values else min(count("MemorySwappiness", 0), 100)
    kmem = number("AllowedKmemSpace", -1.0)
    plugin = values.get("cgroupplugin")
    return CgroupConf(
        automount=flag("CgroupAutomount"),
        mountpoint=mountpoint,
        constrain_cores=flag("ConstrainCores"),
        constrain_ram_space=flag("ConstrainRAMSpace"),
        allowed_ram_space=number("AllowedRAMSpace", d.allowed_ram_space),
        max_ram_percent=number("MaxRAMPercent", d.max_ram_percent),
        min_ram_space=count("MinRAMSpace", d.min_ram_space),
        constrain_swap_space=flag("ConstrainSwapSpace"),
        constrain_kmem_space=flag("ConstrainKmemSpace"),
        allowed_kmem_space=kmem if kmem >= 0 else None,  # NaN too: SLURM prints it only if >= 0
        max_kmem_percent=number("MaxKmemPercent", d.max_kmem_percent),
        min_kmem_space=count("MinKmemSpace", d.min_kmem_space),
        allowed_swap_space=number("AllowedSwapSpace", d.allowed_swap_space),
        max_swap_percent=number("MaxSwapPercent", d.max_swap_percent),
        constrain_devices=flag("ConstrainDevices"),
        memory_swappiness=swappiness,  # above 100 is logged and rounded down
        plugin=None if plugin is None else str(plugin),
        ignore_systemd=flag("IgnoreSystemd"),
        # IgnoreSystemd implies IgnoreSystemdOnFailure
        ignore_systemd_on_failure=flag("IgnoreSystemd") or flag("IgnoreSystemdOnFailure"),
    )


def reports_cgroup(proctrack_type: str, task_plugin: str, job_acct_gather_type: str) -> bool:
    """Whether slurmctld sends the cgroup settings: a plugin name holds "cgroup" (case matters)."""
    return any("cgroup" in name for name in (job_acct_gather_type, proctrack_type, task_plugin))


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _percent(value: float) -> str:
    return f"{value:.1f}%"


def cgroup_key_pairs(conf: CgroupConf) -> tuple[tuple[str, str | None], ...]:
    """cgroup_get_conf_list: the settings as scontrol prints them, sorted by name."""
    pairs: dict[str, str | None] = {
        "CgroupAutomount": _yes(conf.automount),
        "CgroupMountpoint": conf.mountpoint,
        "ConstrainCores": _yes(conf.constrain_cores),
        "ConstrainRAMSpace": _yes(conf.constrain_ram_space),
        "AllowedRAMSpace": _percent(conf.allowed_ram_space),
        "MaxRAMPercent": _percent(conf.max_ram_percent),
        "MinRAMSpace": f"{conf.min_ram_space} MB",
        "ConstrainSwapSpace": _yes(conf.constrain_swap_space),
        "ConstrainKmemSpace": _yes(conf.constrain_kmem_space),
        "AllowedKmemSpace": None if (kmem := conf.allowed_kmem_space) is None else f"{kmem:.0f} Bytes",
        "MaxKmemPercent": _percent(conf.max_kmem_percent),
        "MinKmemSpace": f"{conf.min_kmem_space} MB",
        "AllowedSwapSpace": _percent(conf.allowed_swap_space),
        "MaxSwapPercent": _percent(conf.max_swap_percent),
        "ConstrainDevices": _yes(conf.constrain_devices),
        "MemorySwappiness": None if conf.memory_swappiness is None else str(conf.memory_swappiness),
        "CgroupPlugin": conf.plugin,
        "IgnoreSystemd": _yes(conf.ignore_systemd),
        "IgnoreSystemdOnFailure": _yes(conf.ignore_systemd_on_failure),
    }
    return tuple(sorted(pairs.items()))
