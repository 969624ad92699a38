"""How an allocation is described on the wire: run-length lists and core bitmaps over a job's nodes.

SLURM describes a job's nodes, CPUs, memory and cores compactly (job_resources, job credentials,
launch messages): values with repeat counts, and one core bitmap spanning the job's nodes in order
(bit ``offset(node) + core``). One place builds these for every message that carries them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flurm.protocol.wire import Bitmap
from flurm.state.model import Node


def rle(values: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Values and their repeat counts: (2, 2, 4) -> ((2, 4), (2, 1))."""
    vals: list[int] = []
    reps: list[int] = []
    for v in values:
        if vals and vals[-1] == v:
            reps[-1] += 1
        else:
            vals.append(v)
            reps.append(1)
    return tuple(vals), tuple(reps)


@dataclass(frozen=True, slots=True)
class CoreLayout:
    """The nodes' socket/core shapes (run-length encoded) and a core bitmap over all of them."""

    sockets_per_node: tuple[int, ...]
    cores_per_socket: tuple[int, ...]
    sock_core_rep_count: tuple[int, ...]
    core_bitmap: Bitmap


def core_layout(nodes: Sequence[Node], cores: Sequence[Sequence[int]]) -> CoreLayout:
    """``cores[i]``: the core indexes used on ``nodes[i]`` (node-local, socket-major)."""
    sockets: list[int] = []
    per_socket: list[int] = []
    reps: list[int] = []
    for n in nodes:
        if sockets and sockets[-1] == n.sockets and per_socket[-1] == n.cores_per_socket:
            reps[-1] += 1
        else:
            sockets.append(n.sockets)
            per_socket.append(n.cores_per_socket)
            reps.append(1)
    value, offset = 0, 0
    for i, n in enumerate(nodes):
        for c in cores[i] if i < len(cores) else ():
            value |= 1 << (offset + c)
        offset += n.total_cores
    return CoreLayout(tuple(sockets), tuple(per_socket), tuple(reps), Bitmap(offset, value))
