"""Merging slurmctld's saved state (StateSaveLocation) into flurm at the takeover."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flurm.controller.engine import Controller


def merge(ctl: Controller) -> int:
    """Add the jobs slurmctld saved that flurm does not know yet; returns how many. (Reader pending.)"""
    return 0
