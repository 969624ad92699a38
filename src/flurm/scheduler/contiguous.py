"""``--contiguous``: a job placed on nodes that follow each other in the node table, as slurmctld does.

select/cons_tres gives such a job a run of consecutive nodes (node-table order, the order of
``sinfo -N``): the first run, smallest first, on which the job fits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, TypeVar


class _Placed(Protocol):
    @property
    def nodes(self) -> tuple[str, ...]: ...


class _Indexed(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def index(self) -> int: ...


_A = TypeVar("_A", bound=_Placed)


def windows(nodes: Sequence[_Indexed], smallest: int) -> Iterator[list[str]]:
    """Runs of nodes adjacent in the node table, by size (``smallest`` first), then by position."""
    ordered = sorted(nodes, key=lambda n: n.index)
    for size in range(max(1, smallest), len(ordered) + 1):
        for start in range(len(ordered) - size + 1):
            run = ordered[start : start + size]
            if run[-1].index - run[0].index == size - 1:
                yield [n.name for n in run]


def place(
    nodes: Sequence[_Indexed], excluded: set[str], smallest: int, attempt: Callable[[set[str]], _A | None]
) -> _A | None:
    """The first allocation ``attempt`` finds inside a run of nodes (it gets the nodes to leave out)
    whose nodes are themselves adjacent."""
    index = {n.name: n.index for n in nodes}
    usable = [n for n in nodes if n.name not in excluded]
    for run in windows(usable, smallest):
        inside = set(run)
        alloc = attempt({n.name for n in nodes if n.name not in inside})
        if alloc is None:
            continue
        taken = sorted(index[name] for name in alloc.nodes)
        if taken and taken[-1] - taken[0] == len(taken) - 1:
            return alloc
    return None
