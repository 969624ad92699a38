"""Hostlists (``n[01-04],gpu7``): the one place that expands and compresses them (python-hostlist)."""

from __future__ import annotations

import functools
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
    key = tuple(names)
    if not key:
        return None
    if len(key) < _MEMO_FROM:
        return str(hostlist.collect_hostlist(key))
    return _compress_many(key)


# Lists at least this long are remembered: a partition of 5,000 nodes took 60 ms to compress for
# each sinfo (python-hostlist matches a regex per name), hashing the names takes a fraction of that
_MEMO_FROM = 64


@functools.lru_cache(maxsize=256)
def _compress_many(names: tuple[str, ...]) -> str:
    return str(hostlist.collect_hostlist(names))
