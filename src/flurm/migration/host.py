"""The migration room's pieces as one value: what daemon.py builds when flurm follows a slurmctld
(shadow, and every mode after it), and what the operator's handles (admin RPC, HTTP API, metrics)
are given beside the controller's port (:class:`~flurm.controller.ports.ControllerPort`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flurm.migration.forward import Forwarder
    from flurm.migration.mirror import Mirror
    from flurm.migration.source import SourceClient
    from flurm.migration.takeover import Takeover


@dataclass(frozen=True, slots=True)
class Migration:
    source: SourceClient
    mirror: Mirror
    forwarder: Forwarder
    takeover: Takeover
