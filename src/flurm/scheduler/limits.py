"""What a scheduling pass asks of accounting's limits (AccountingStorageEnforce): the scheduler stays
pure, the controller hands it one pass's checker (or None: nothing is enforced)."""

from __future__ import annotations

from typing import Protocol

from flurm.state.model import Job, Partition

# (state_reason, state_desc): why the job waits
Held = tuple[int, str | None]


class Limits(Protocol):
    def before(self, job: Job, part: Partition) -> Held | None:
        """Before nodes are chosen: job and wall limits, the partition's AllowQos/AllowAccounts."""
        ...

    def after(self, job: Job, part: Partition, cpus: int, nodes: int) -> Held | None:
        """Once nodes are found: the TRES limits, with what the job would be given."""
        ...

    def started(self, job: Job, part: Partition, cpus: int, nodes: int) -> None:
        """The pass starts the job: later jobs of the pass count it."""
        ...
