"""scontrol reconfigure: a new slurm.conf applied to the running controller, jobs untouched.

The nodes and partitions the new file describes are built by the same code that builds them at
start (a :class:`~flurm.state.cluster.Cluster` made from the new configuration, used as a template
only). Then, as slurmctld's read_slurm_conf(reconfig) does:

* a node already known keeps everything it learned at run time (state, registration, allocations,
  reason) and takes its configured attributes (CPUs, memory, address, features...) from the file;
* a new node is added, in the node-table order of the new file (indexes follow that order);
* a node no longer in the file is dropped, unless a job still holds it (then it stays, and a
  warning says so);
* the partitions are those of the file (slurmctld without ReconfigFlags=KeepPartInfo forgets what
  ``scontrol update`` changed in them); jobs keep their partition names.

slurmctld 22.05 itself exits when the set of nodes changes ("node count has changed before
reconfiguration ... You have to restart slurmctld"); flurm adds and removes nodes instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flurm.config.slurmconf import SlurmConfig
from flurm.controller.log_settings import LogSettings
from flurm.scheduler import scheduler
from flurm.state import gres_node
from flurm.state.cluster import Cluster
from flurm.state.model import Node

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

log = logging.getLogger("flurm.controller")

# What slurm.conf says about a node (the rest of a Node is what flurm learned while running).
NODE_CONFIG_FIELDS = (
    "addr",
    "hostname",
    "port",
    "cpus",
    "boards",
    "sockets",
    "cores_per_socket",
    "threads_per_core",
    "real_memory",
    "tmp_disk",
    "weight",
    "features",
    "gres_conf",
)


@dataclass(slots=True)
class Changes:
    nodes_added: list[str] = field(default_factory=list)
    nodes_changed: list[str] = field(default_factory=list)
    nodes_removed: list[str] = field(default_factory=list)
    nodes_kept: list[str] = field(default_factory=list)  # gone from the file but still busy
    partitions_added: list[str] = field(default_factory=list)
    partitions_removed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [
            f"{label} {','.join(names)}"
            for label, names in (
                ("nodes added", self.nodes_added),
                ("nodes changed", self.nodes_changed),
                ("nodes removed", self.nodes_removed),
                ("nodes kept while busy", self.nodes_kept),
                ("partitions added", self.partitions_added),
                ("partitions removed", self.partitions_removed),
            )
            if names
        ]
        return "; ".join(parts) or "no node or partition changed"


def apply(ctl: Controller, config: SlurmConfig) -> Changes:
    """Make ``config`` the controller's configuration; returns what changed."""
    cluster = ctl.cluster
    changes = apply_to_cluster(cluster, config)
    ctl.config = config
    ctl.log_settings = LogSettings.from_config(config)  # as the file says again (slurmctld too)
    ctl.log_settings.changed_at = ctl.now()
    if ctl.traits.drives_nodes:  # a new node's slurmd may run already: ask it to register
        for node in cluster.node_list:
            if node.name in changes.nodes_added:
                ctl.agent.request_registration(node)
    return changes


def apply_to_cluster(cluster: Cluster, config: SlurmConfig) -> Changes:
    changes = Changes()
    template = Cluster(config, None, cluster.clock)
    old_nodes = cluster.nodes
    nodes: dict[str, Node] = {}
    for fresh in template.node_list:
        node = old_nodes.get(fresh.name)
        if node is None:
            node = fresh
            changes.nodes_added.append(fresh.name)
        else:
            if any(getattr(node, f) != getattr(fresh, f) for f in NODE_CONFIG_FIELDS):
                changes.nodes_changed.append(node.name)
            gres_changed = node.gres_conf != fresh.gres_conf or cluster.config.gres_names != config.gres_names
            for f in NODE_CONFIG_FIELDS:
                setattr(node, f, getattr(fresh, f))
            if gres_changed:  # what slurmd reported and what jobs hold stay; Gres= is built again
                node.gres_inv = gres_node.reconfigured(node.gres_inv, node.gres_conf, config.gres_names)
                built = gres_node.gres_text(
                    node.gres_inv,
                    config.gres_names,
                    sockets=node.sockets,
                    cores_per_socket=node.cores_per_socket,
                )
                node.gres = built or node.gres_conf
            node.index = fresh.index
        nodes[node.name] = node
    for name, node in old_nodes.items():
        if name in nodes:
            continue
        if node.jobs:
            log.warning("reconfigure: node %s is not in slurm.conf any more but jobs run there: kept", name)
            node.index = len(nodes)
            nodes[name] = node
            changes.nodes_kept.append(name)
        else:
            changes.nodes_removed.append(name)
    changes.partitions_added = [p for p in template.partitions if p not in cluster.partitions]
    changes.partitions_removed = [p for p in cluster.partitions if p not in template.partitions]

    cluster.config = config
    cluster.nodes = nodes
    cluster.node_list = sorted(nodes.values(), key=lambda n: n.index)
    cluster.partitions = template.partitions
    cluster.default_partition = template.default_partition
    now = int(cluster.clock())
    cluster.last_node_update = cluster.last_part_update = cluster.last_job_update = now
    cluster.job_generation += 1  # job records name node indexes: rebuild them
    scheduler.request_pass(cluster)
    return changes
