"""What a job (or step) holds of GRES, as slurmctld keeps it: ``gres_list_alloc``, one record per GRES
name and **node type** with a count and a device bitmap per node of the job (gres_ctld.c).

A request for ``gpu:1`` on two nodes, one with tesla GPUs and one with k80s, is a tesla record (one GPU
on node 0, none on node 1) and a k80 record (none on node 0, one on node 1); a node type the request did
not touch there has a count of 0 and an empty bitmap. The credentials (state/gres_bind.py), the job
records and the TRES strings (state/records.py) and the HTTP API are all built from these records.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flurm.protocol.constants import NO_CONSUME_VAL64
from flurm.protocol.wire import Bitmap
from flurm.state import gres
from flurm.state.gres import GresError, GresUse, NodeGres, NodeUses
from flurm.state.gres_node import bit_fmt

if TYPE_CHECKING:
    from flurm.state.model import Job, Node

Inventories = Mapping[str, Mapping[str, NodeGres]]  # node name -> its GRES by name


def inventories(nodes: Mapping[str, Node], names: Iterable[str]) -> dict[str, Mapping[str, NodeGres]]:
    """The GRES of each node of ``names`` that ``nodes`` (the cluster's, by name) holds."""
    return {n: nodes[n].gres_inv for n in names if n in nodes}


@dataclass(slots=True)
class AllocRecord:
    """One record of a job's (or step's) allocation: a name and node type, per node of the job."""

    name: str
    type: str | None
    counts: list[int]
    bits: list[Bitmap | None]
    per_bit: list[tuple[int, ...] | None]  # shared GRES: the count on each bit (24.11 on)
    shared_per_node: int = 0  # mps/shard: the count per device (gres_per_node of the record)
    has_bits: bool = False

    @property
    def total(self) -> int:
        """total_gres of the credential: NO_CONSUME_VAL64 for a no_consume GRES."""
        if any(c == NO_CONSUME_VAL64 for c in self.counts):
            return NO_CONSUME_VAL64
        return sum(self.counts)

    @property
    def label(self) -> str:
        return f"{self.name}:{self.type}" if self.type else self.name

    def count_on(self, i: int) -> int:
        """What it holds on job node ``i`` (0 for no_consume, as slurmctld shows it)."""
        c = self.counts[i]
        return 0 if c == NO_CONSUME_VAL64 else c

    @property
    def shown_total(self) -> int:
        """What the job holds in all, as scontrol and the TRES strings count it (no_consume: 0)."""
        return sum(self.count_on(i) for i in range(len(self.counts)))

    def indexes(self, i: int) -> tuple[int, ...] | None:
        """The devices it holds on job node ``i``: () when the node has devices of this name but the job
        none of this type, None when there is no device bitmap."""
        bits = self.bits[i]
        if bits is None:
            return None
        return tuple(b for b in range(bits.size) if bits.value >> b & 1)


def bitmap_size(g: NodeGres, bits: tuple[int, ...]) -> int:
    """The size of ``g``'s device bitmap on its node: one bit per device (for mps and shard too: the
    GPUs they share); until slurmd reported, the configured count of a GPU-like GRES."""
    if g.bit_count:
        return g.bit_count
    reported = {b for t in g.topo for b in t.bits}
    if reported:
        return max(len(reported), max(reported) + 1)
    return max(0 if g.shared else g.available, max(bits, default=-1) + 1)


def _merged(uses: NodeUses, untyped: Collection[str]) -> NodeUses:
    """A node's uses with those of an untyped request (``untyped``: the names asked without a type) as
    one untyped use, however the scheduler split it by the node's types: slurmctld fills each type of the
    node from it, in the node's order, zero-count types included."""
    out: list[GresUse] = []
    for u in uses:
        if u.name not in untyped:
            out.append(u)
            continue
        at = next((k for k, o in enumerate(out) if o.name == u.name and o.type is None), None)
        if at is None:
            out.append(GresUse(u.name, None, u.count, u.bits))
            continue
        o = out[at]
        both = {*(o.bits or ()), *(u.bits or ())}
        bits = None if o.bits is None and u.bits is None else tuple(sorted(both))
        out[at] = GresUse(u.name, None, o.count + u.count, bits)
    return tuple(out)


def alloc_records(
    nodes: Sequence[str],
    uses: Sequence[NodeUses],
    inventories: Inventories,
    untyped: Collection[str] = (),
) -> list[AllocRecord]:
    """The allocation records (gres_list_alloc) of ``uses`` (one entry per node of ``nodes``), in the
    order slurmctld builds them: node by node, each request's types in the node's order. ``untyped``:
    the GRES names the job asked for without a type (:func:`untyped_names`)."""
    n = len(nodes)
    records: dict[tuple[str, str | None], AllocRecord] = {}

    def record(name: str, gtype: str | None) -> AllocRecord:
        rec = records.get((name, gtype))
        if rec is None:
            rec = records[(name, gtype)] = AllocRecord(name, gtype, [0] * n, [None] * n, [None] * n)
        return rec

    for i, node in enumerate(nodes):
        inv = inventories.get(node, {})
        for u in _merged(uses[i], untyped) if i < len(uses) else ():
            g = inv.get(u.name)
            if g is None:  # a node gone from slurm.conf (an imported job): what the job holds is all there is
                rec = record(u.name, u.type)
                rec.counts[i] += u.count
                if u.bits:
                    old = rec.bits[i]
                    size = max(old.size if old else 0, max(u.bits) + 1)
                    rec.bits[i] = Bitmap(size, (old.value if old else 0) | sum(1 << b for b in u.bits))
                    rec.has_bits = True
                continue
            if g.no_consume:
                for t in _types_for(g, u.type):
                    record(u.name, t).counts[i] = NO_CONSUME_VAL64
                continue
            kinds = _types_for(g, u.type)
            bit_type = gres.device_types(g)
            left = u.count
            for t in kinds:
                rec = record(u.name, t)
                if u.bits is not None:
                    size = bitmap_size(g, u.bits)
                    mine = [b for b in u.bits if t is None or bit_type.get(b, t) == t]
                    per = u.count // max(1, len(u.bits)) if g.shared else 1
                    rec.has_bits = True
                    old = rec.bits[i]
                    value = (old.value if old else 0) | sum(1 << b for b in mine)
                    rec.bits[i] = Bitmap(size, value)
                    rec.counts[i] += len(mine) * per
                    if g.shared and mine:
                        arr = list(rec.per_bit[i] or (0,) * size)
                        for b in mine:
                            arr[b] += per
                        rec.per_bit[i] = tuple(arr)
                        rec.shared_per_node = max(rec.shared_per_node, per)
                else:
                    take = left if t is None or t == u.type else min(left, g.type_available(t))
                    rec.counts[i] += take
                    left -= take
    return list(records.values())


def _types_for(g: NodeGres, wanted: str | None) -> list[str | None]:
    """The node types a use of ``wanted`` (None: any) fills: the node's types (one record each), or
    the untyped record when the node has none. An mps or shard record is untyped unless asked for a type
    (slurmctld keeps no types for them, even where slurmd reports the GPU's)."""
    if g.shared and wanted is None:
        return [None]
    types = g.types()
    if not types:
        return [None]
    if wanted is not None:
        return [wanted]
    return list(types)


def request_keys(*tres: str | None) -> list[tuple[str, str | None]]:
    """The (name, type) of a job's requests in gres_list_req's order, from its cpus_per_tres,
    tres_per_job/node/socket/task and mem_per_tres (in that order): an untyped one beside typed ones of
    its name only lends them its per-GRES values and is gone (_merge_generic_data)."""
    keys: dict[tuple[str, str | None], None] = {}
    for text in tres:
        try:
            items = gres.tres_items(text)
        except GresError:
            continue
        for name, gtype, _ in items:
            keys.setdefault((name, gtype))
    typed = {n for n, t in keys if t is not None}
    return [(n, t) for n, t in keys if t is not None or n not in typed]


def untyped_names(requests: Sequence[tuple[str, str | None]]) -> frozenset[str]:
    """The GRES names of :func:`request_keys` asked for without a type."""
    return frozenset(n for n, t in requests if t is None)


def job_request_keys(job: Job) -> list[tuple[str, str | None]]:
    """:func:`request_keys` of a job's own tres_per_* texts."""
    return request_keys(
        job.cpus_per_tres,
        job.tres_per_job,
        job.tres_per_node,
        job.tres_per_socket,
        job.tres_per_task,
        job.mem_per_tres,
    )


def job_untyped_names(job: Job) -> frozenset[str]:
    return untyped_names(job_request_keys(job))


def job_details(records: Sequence[AllocRecord], node_count: int) -> tuple[str | None, tuple[str | None, ...]]:
    """gres_ctld_job_build_details: the job's GRES in all (``gpu:tesla:1,gpu:k80:1``: what ``scontrol show
    job -d`` prints as JOB_GRES) and per node (``gpu:tesla:1(IDX:0)``, ``bandwidth(CNT:0)``: its GRES=);
    (None, ()) for a job without GRES."""
    if not records:
        return None, ()
    per_node: list[str | None] = [None] * node_count
    totals: list[str] = []
    for rec in records:
        for i in range(min(node_count, len(rec.counts))):
            held = rec.indexes(i)
            if held is not None:
                item = f"{rec.label}:{rec.count_on(i)}(IDX:{bit_fmt(held)})"
            elif rec.counts[i]:
                item = f"{rec.label}(CNT:{rec.count_on(i)})"
            else:
                continue
            per_node[i] = item if per_node[i] is None else f"{per_node[i]},{item}"
        totals.append(f"{rec.label}:{rec.shown_total}")
    return ",".join(totals), tuple(per_node)
