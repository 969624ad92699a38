"""Hostlists (``n[01-04],gpu7``): the one place that expands and compresses them (python-hostlist)."""

from __future__ import annotations

from collections.abc import Iterable

import hostlist

from flurm.protocol.constants import SlurmRC
from flurm.protocol.errors import FlurmError


class HostlistError(FlurmError, ValueError):
    """A hostlist expression that does not parse."""

    rc = SlurmRC.ESLURM_INVALID_NODE_NAME


def expand(expr: str, *, duplicates: bool = False) -> list[str]:
    """The names of a hostlist expression, in order (duplicates dropped unless ``duplicates``)."""
    try:
        return list(hostlist.expand_hostlist(expr, allow_duplicates=duplicates))
    except hostlist.BadHostlist as exc:
        raise HostlistError(str(exc)) from None


def compress(names: Iterable[str]) -> str | None:
    """The compressed hostlist of ``names`` (``n[1-3]``); None for no names, as SLURM packs it."""
    names = list(names)
    if not names:
        return None
    return str(hostlist.collect_hostlist(names))
