"""How each served SLURM release's slurmctld fills and shows the settings whose defaults changed
between releases: one row per release, read by the configuration table (ctl_conf.py) for the release
of the client that asks, and by the takeover's pre-flight (state/support.py) for the source's release.

The facts are read_config.c's _validate_and_set_defaults and read_config.h/slurm.h of each release
(22.05.8, 24.11.5, 26.05.5), and Debian's packaging of each (which PMIx plugin ships). Everything not
listed here is the same in the three releases.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from flurm.protocol.constants import (
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
)

__all__ = ["NONE_PLUGINS", "Pmix", "ReleaseRules", "rules"]


class Pmix(Enum):
    """Whether the release's slurmctld lists mpi.conf's PMIx settings ("MPI Plugins Configuration"):
    it does where its mpi/pmix plugin loads."""

    HOST = "host"  # 22.05: the plugin opens libpmix.so of a -dev package; loads where that is installed
    ALWAYS = "always"  # 24.11: Debian's plugin opens libpmix.so.2, a dependency of the plugin package
    NEVER = "never"  # 26.05: Debian's build ships no mpi/pmix plugin


# BuildInfo fields that 24.11 and 26.05 leave unset (scontrol prints "(null)") when their value names
# a "none" plugin (xstrcasestr(value, "none")): unset keys too, since 22.05's defaults there are */none
NONE_PLUGINS = (
    "accounting_storage_type",
    "acct_gather_energy_type",
    "acct_gather_filesystem_type",
    "acct_gather_interconnect_type",
    "acct_gather_profile_type",
    "cli_filter_plugins",
    "job_acct_gather_type",
    "job_comp_type",
    "job_container_plugin",  # NamespaceType's place in 26.05
    "mcs_plugin",
    "switch_type",
    "task_plugin",
)


@dataclass(frozen=True, slots=True)
class ReleaseRules:
    slurm_version: str  # the release flurm was tested against: its SLURM_VERSION in scontrol show config
    none_plugins_unset: bool  # NONE_PLUGINS, MpiDefault=none|openmpi and PreemptType=preempt/none unset
    priority_type: str  # DEFAULT_PRIORITY_TYPE: what slurmctld runs when slurm.conf names none
    topology_plugin: str  # what slurmctld runs when slurm.conf names none (or a "none" one)
    topology_aliases: tuple[str, ...]  # values slurmctld replaces by that default (lower case)
    tree_width: int  # DEFAULT_TREE_WIDTH
    gpu_freq_def: str | None  # GpuFreqDef when not set
    job_comp_loc_default: bool  # JobCompLoc gets a default (a file, or the database for jobcomp/mysql)
    health_check_node_any: int  # HEALTH_CHECK_NODE_ANY: HealthCheckNodeState's default bits
    pmix: Pmix


_RULES = {
    SLURM_22_05_PROTOCOL_VERSION: ReleaseRules(
        slurm_version="22.05.8",
        none_plugins_unset=False,
        priority_type="priority/basic",
        topology_plugin="topology/none",
        topology_aliases=(),
        tree_width=50,
        gpu_freq_def="high,memory=high",
        job_comp_loc_default=True,
        health_check_node_any=0x000F,
        pmix=Pmix.HOST,
    ),
    SLURM_24_11_PROTOCOL_VERSION: ReleaseRules(
        slurm_version="24.11.5",
        none_plugins_unset=True,
        priority_type="priority/multifactor",
        topology_plugin="topology/default",
        topology_aliases=("none", "topology/none"),  # 24.11 looks for "none" in the value
        tree_width=16,
        gpu_freq_def=None,
        job_comp_loc_default=False,
        health_check_node_any=0x000F,
        pmix=Pmix.ALWAYS,
    ),
    SLURM_26_05_PROTOCOL_VERSION: ReleaseRules(
        slurm_version="26.05.5",
        none_plugins_unset=True,
        priority_type="priority/multifactor",
        topology_plugin="topology/flat",
        topology_aliases=("none", "default", "topology/none", "topology/default"),
        tree_width=16,
        gpu_freq_def=None,
        job_comp_loc_default=False,
        health_check_node_any=0x00FF,
        pmix=Pmix.NEVER,
    ),
}


def rules(version: int) -> ReleaseRules:
    """The row of the release of protocol ``version``; 22.05's for the older ones flurm reads."""
    return _RULES.get(version, _RULES[SLURM_22_05_PROTOCOL_VERSION])
