"""What the migration room (and the operator's views above it) needs of the running flurm: the
controller's port plus the migration's own pieces, which daemon.py builds and attaches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from flurm.controller.ports import ControllerPort

if TYPE_CHECKING:
    from flurm.migration.mirror import Mirror
    from flurm.migration.source import SourceClient
    from flurm.migration.takeover import Takeover


class MigrationHost(ControllerPort, Protocol):
    source: SourceClient | None  # None: flurm does not shadow a slurmctld
    mirror: Mirror | None
    takeover: Takeover | None

    async def listen_controller_endpoints(self) -> None:
        """Listen where slurmctld listened (the takeover's last step, and every start after it)."""
        ...
