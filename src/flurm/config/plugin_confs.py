"""The plugin configuration files slurmctld reads beside slurm.conf, read once with slurm.conf.

slurm.conf's ``load`` reads them too (a file slurmctld would refuse to start with makes the whole
configuration a ConfigError), so that what slurmctld reports of them (``scontrol show config``) and
what they decide come from the files as they were when the configuration was read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flurm.config.acct_gather import KeyPairs, acct_gather_types, read_acct_gather_conf
from flurm.config.cgroup import CgroupConf, read_cgroup_conf
from flurm.config.mpi import read_mpi_conf, read_pmix_settings
from flurm.config.slurmconf import ConfigError

# the plugin directory of the SLURM build flurm stands in for (Debian's slurm-wlm packages)
DEFAULT_PLUGIN_DIR = "/usr/lib/x86_64-linux-gnu/slurm-wlm"

if TYPE_CHECKING:
    from flurm.config.slurmconf import SlurmConfig

__all__ = ["PluginConfs", "read_plugin_confs"]


@dataclass(frozen=True, slots=True)
class PluginConfs:
    cgroup: CgroupConf = field(default_factory=CgroupConf)
    acct_gather: KeyPairs = ()  # the loaded plugins' acct_gather.conf settings, as slurmctld lists them
    mpi: KeyPairs | None = None  # the PMIx settings of mpi.conf where the PMIx plugin loads
    # the same whether or not it loads on this host (for a build whose plugin always loads, as
    # 24.11's: config/release_rules.py); None where mpi.conf is unreadable and no plugin reads it here
    mpi_settings: KeyPairs | None = field(default_factory=lambda: read_pmix_settings(None))


def _over_memory_kill(job_acct_gather_params: str | None) -> bool:
    """job_acct_oom_kill: OverMemoryKill is one of JobAcctGatherParams' comma-separated words."""
    return any(word.lower() == "overmemorykill" for word in (job_acct_gather_params or "").split(","))


def read_plugin_confs(config: SlurmConfig) -> PluginConfs:
    """The files beside ``config.path``; ConfigError where slurmctld would not start."""
    cgroup = read_cgroup_conf(config.path)
    # slurmctld's read_config: two memory enforcements at once are refused
    if (
        _over_memory_kill(config.raw.get("jobacctgatherparams"))
        and cgroup.confines_memory
        and "cgroup" in config.task_plugin
    ):
        raise ConfigError(
            config.path,
            None,
            "Jobs memory is being constrained by both TaskPlugin cgroup and JobAcctGather plugin. "
            "This enables two incompatible memory enforcement mechanisms, one of them must be disabled.",
        )
    acct_gather = read_acct_gather_conf(config.path, acct_gather_types(config.raw))
    mpi = read_mpi_conf(config.path, config.raw.get("plugindir", DEFAULT_PLUGIN_DIR))
    try:
        mpi_settings = mpi if mpi is not None else read_pmix_settings(config.path)
    except ConfigError:  # no plugin here reads mpi.conf: not a reason to refuse the configuration
        mpi_settings = None
    return PluginConfs(cgroup=cgroup, acct_gather=acct_gather, mpi=mpi, mpi_settings=mpi_settings)
