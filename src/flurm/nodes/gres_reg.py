"""The GRES a slurmd registers with (node_mgr.c validate_node_specs: gres_node_config_unpack, then
gres_node_config_validate): its gres_info blob decoded, matched with the names GresTypes lists and
folded into the node's inventory (state/gres_node.py); the node's Gres= rebuilt from it.

A blob that does not decode is the reason "Could not unpack gres data"; a record of a GRES GresTypes
does not list is skipped (slurmctld: "No plugin configured to process GRES data from node ...").
"""

from __future__ import annotations

import logging

from flurm.config import gres as gres_conf
from flurm.config.slurmconf import SlurmConfig
from flurm.protocol.messages.slurmd import NodeRegistrationStatus, parse_gres_info
from flurm.protocol.wire import WireError
from flurm.state import gres_node
from flurm.state.model import Node

log = logging.getLogger("flurm.nodes")


def config_overrides(config: SlurmConfig) -> bool:
    """SlurmdParameters=config_overrides (CTL_CONF_OR): slurmd's hardware is not held to slurm.conf."""
    return "config_overrides" in (config.slurmd_parameters or "").lower()


def reported(node_name: str, blob: bytes | None, names: tuple[str, ...]) -> list[gres_node.Reported]:
    """The records of a registration's gres_info, of the names GresTypes lists (raises WireError)."""
    if not blob:
        return []
    _version, records = parse_gres_info(blob)
    by_id = {gres_conf.plugin_id(n): n for n in names}
    out: list[gres_node.Reported] = []
    for rec in records:
        name = by_id.get(rec.plugin_id)
        if name is None:
            if rec.count:
                log.error(
                    "No plugin configured to process GRES data from node %s "
                    "(Name:%s Type:%s PluginID:%s Count:%s)",
                    node_name,
                    rec.name,
                    rec.type_name,
                    rec.plugin_id,
                    rec.count,
                )
            continue
        if rec.name != name and rec.count:
            log.error("gres/%s duplicate plugin ID with %s, unable to process", rec.name, name)
            continue
        out.append(gres_node.Reported(name, rec.type_name, rec.count, rec.config_flags, rec.cpus, rec.links))
    return out


def register(node: Node, msg: NodeRegistrationStatus, config: SlurmConfig) -> str | None:
    """Fold the registration's GRES into ``node``; the reason its registration is invalid, or None."""
    names = config.gres_names
    try:
        records = reported(node.name, msg.gres_info, names)
    except WireError as exc:
        log.error("gres_node_config_unpack: unpack error from node %s: %s", node.name, exc)
        return "Could not unpack gres data"
    reason = gres_node.validate(
        node.gres_inv,
        names,
        records,
        sockets=msg.sockets,
        cores_per_socket=msg.cores,
        config_overrides=config_overrides(config),
    )
    node.gres = (
        gres_node.gres_text(node.gres_inv, names, sockets=msg.sockets, cores_per_socket=msg.cores)
        or node.gres_conf
    )
    return reason
