"""The GRES slurmctld allocated, in flurm's model (state/gres.py): imported jobs keep their devices.

Three sources, the best first:

* the saved ``job_state`` (takeover): a job's ``gres_list_alloc`` holds one record per (name, node type),
  each with the count and the device bitmap of every node of the job (node offset = position in the job's
  node list), as slurmctld's ``_job_alloc`` built them; a step's ``gres_list_alloc`` the same over the job's
  nodes, with ``node_in_use`` marking the step's (22.05 packs no type: the job's device says it).
* the job record on the wire (shadow): ``gres_detail_str`` has one string per node of the job, as
  gres_ctld_job_build_details writes it: ``gpu:tesla:1(IDX:0)``, ``gpu:2(IDX:0-1)``, ``gpu(CNT:1)``
  (no device on that node), 24.11's shared form ``shard:2(1/2,1/2)`` (per device: held/available). Only
  records with devices appear there; a GRES without files (counted, no bitmap) is taken from the job's
  per-node request.
* a node record's ``gres_used`` (shadow, nodes): ``gpu:tesla:1(IDX:0),gpu:k80:0(IDX:N/A)`` with a
  topology, ``gpu:2`` / ``shard:0`` without one, ``gpu:(null):1(IDX:0)`` for untyped devices, and from
  24.11 ``shard:a100:2(2/2,0/2)`` for a shared GRES (held/available per device).

slurmctld shows no GRES detail for a job that ended (its record's gres_detail_str is empty once the job no
longer holds its nodes): only a running, suspended or completing job is given an allocation.

Pure: strings and decoded records in, :class:`~flurm.state.gres.GresUse` out. Malformed text from the
source is skipped (never a crash of the mirror), and every count is bounded by state/gres.py's limits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from flurm.protocol.constants import NO_CONSUME_VAL64, JobState
from flurm.protocol.messages.credential import GresJobState, GresStepState
from flurm.protocol.wire import Bitmap
from flurm.state import gres
from flurm.state.gres import GresUse, NodeGres, NodeUses
from flurm.state.model import Job

# names every slurmctld knows whether GresTypes lists them or not
_BUILTIN_NAMES = ("gpu", "mps", "shard", "nic", "mic")

_DETAIL = re.compile(
    r"^(?P<name>[^:()]+)(?::(?P<type>\(null\)|[^:()]+))?"
    r"(?::(?P<count>\d+)\((?P<inner>[^()]*)\)|\(CNT:(?P<cnt>\d+)\))$"
)
_USED = re.compile(
    r"^(?P<name>[^:()]+)(?::(?P<type>\(null\)|[^:()]+))?:(?P<count>\d+)"
    r"(?:\(IDX:(?P<idx>[^()]*)\)|\((?P<shared>[^()]*)\))?$"
)


def holds_resources(job: Job) -> bool:
    """Running, suspended or completing: the job holds its nodes' cores, memory and GRES."""
    return job.base_state in (JobState.RUNNING, JobState.SUSPENDED) or job.is_completing()


def known_names(node_inventories: Iterable[Mapping[str, NodeGres]], gres_types: str | None) -> dict[int, str]:
    """plugin id -> GRES name: every name the nodes have, GresTypes lists, or SLURM builds in."""
    names: dict[str, None] = dict.fromkeys(_BUILTIN_NAMES)
    for inv in node_inventories:
        names.update(dict.fromkeys(inv))
    for name in (gres_types or "").split(","):
        if name.strip():
            names[name.strip()] = None
    return {gres.plugin_id(n): n for n in names}


def _bits(b: Bitmap | None) -> tuple[int, ...] | None:
    if b is None or b.count() > gres.MAX_BITS:
        return None  # (more devices than a node may have: not believed)
    return tuple(b.indexes())


def _per_node(values: Sequence[object] | None, i: int) -> object | None:
    return values[i] if values is not None and i < len(values) else None


def uses_from_job_states(
    states: Sequence[GresJobState], node_count: int, names: Mapping[int, str]
) -> tuple[NodeUses, ...]:
    """A saved job's ``gres_list_alloc`` as one tuple of uses per node of the job; () when it holds no GRES.

    A record of a plugin flurm does not know by name is left out (nothing on the nodes could be claimed).
    """
    per_node: list[list[GresUse]] = [[] for _ in range(node_count)]
    for st in states[: gres.MAX_RECORDS]:
        name = names.get(st.plugin_id)
        if name is None:
            continue
        for i in range(min(node_count, st.node_cnt)):
            raw = _per_node(st.gres_cnt_node_alloc, i)
            count = int(raw) if isinstance(raw, int) else 0
            bitmap = _per_node(st.gres_bit_alloc, i)
            bits = _bits(bitmap) if isinstance(bitmap, Bitmap) else None
            if count == NO_CONSUME_VAL64:
                count = 0  # a no_consume GRES: nothing is held
            if not count and not bits:
                continue
            if bits is not None and not bits:
                bits = None
            if not count and bits:
                count = len(bits)
            per_node[i].append(GresUse(name, st.type_name or None, count, bits))
    if not any(per_node):
        return ()
    return tuple(tuple(u) for u in per_node)


def uses_from_step_states(
    states: Sequence[GresStepState],
    job_nodes: Sequence[str],
    step_nodes: Sequence[str],
    job_alloc: Sequence[NodeUses],
    names: Mapping[int, str],
) -> tuple[NodeUses, ...]:
    """A saved step's ``gres_list_alloc`` as one tuple of uses per node of the step (in ``step_nodes`` order).

    The records are indexed by the job's node offsets. 22.05 packs no type with a step's record: the type
    is that of the job's use of the same name holding the same device on the node.
    """
    offset = {n: i for i, n in enumerate(job_nodes)}
    out: list[list[GresUse]] = [[] for _ in step_nodes]
    for st in states[: gres.MAX_RECORDS]:
        name = names.get(st.plugin_id)
        if name is None:
            continue
        for k, node in enumerate(step_nodes):
            i = offset.get(node)
            if i is None or i >= st.node_cnt:
                continue
            if st.node_in_use is not None and i not in st.node_in_use:
                continue
            raw = _per_node(st.gres_cnt_node_alloc, i)
            count = int(raw) if isinstance(raw, int) else 0
            bitmap = _per_node(st.gres_bit_alloc, i)
            bits = _bits(bitmap) if isinstance(bitmap, Bitmap) else None
            if count == NO_CONSUME_VAL64:
                count = 0
            if not count and not bits:
                continue
            bits = bits or None
            gtype = st.type_name or _job_type(job_alloc, i, name, bits)
            out[k].append(GresUse(name, gtype, count or len(bits or ()), bits))
    if not any(out):
        return ()
    return tuple(tuple(u) for u in out)


def _job_type(job_alloc: Sequence[NodeUses], i: int, name: str, bits: tuple[int, ...] | None) -> str | None:
    uses = [u for u in (job_alloc[i] if i < len(job_alloc) else ()) if u.name == name]
    if bits:
        for u in uses:
            if u.bits and set(bits) <= set(u.bits):
                return u.type
    types = {u.type for u in uses}
    return types.pop() if len(types) == 1 else None


# -- the wire ---------------------------------------------------------------------------------------


def split_items(text: str) -> list[str]:
    """Comma-separated items whose parentheses may hold commas themselves (``gpu:2(IDX:0,2),mps:0``)."""
    items: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [s.strip() for s in items if s.strip()]


def parse_index_list(text: str) -> tuple[int, ...] | None:
    """bit_fmt's text ("0", "0-1", "0,2-3"; "" for none); None if it is not one."""
    out: list[int] = []
    for part in text.split(","):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            return None
        first, last = int(lo), int(hi) if sep else int(lo)
        if last < first or last >= gres.MAX_BITS:
            return None
        out.extend(range(first, last + 1))
    return tuple(sorted(set(out)))


def _type_of(text: str | None) -> str | None:
    return None if text in (None, "", "(null)") else text


def parse_detail(text: str) -> NodeUses:
    """One node's gres_detail_str as the uses it names (unparsable items are skipped)."""
    out: list[GresUse] = []
    for item in split_items(text)[: gres.MAX_RECORDS]:
        m = _DETAIL.match(item)
        if m is None:
            continue
        name, gtype = m["name"], _type_of(m["type"])
        if m["cnt"] is not None:
            if int(m["cnt"]):
                out.append(GresUse(name, gtype, int(m["cnt"])))
            continue
        count, inner = int(m["count"]), m["inner"]
        if inner.startswith("IDX:"):
            bits = parse_index_list(inner[4:])
            if bits is None:
                continue
        else:  # 24.11 shared: "held/available" per device
            bits = _shared_bits(inner)
            if bits is None:
                continue
        if count or bits:
            out.append(GresUse(name, gtype, count or len(bits), bits or None))
    return tuple(out)


def _shared_bits(inner: str) -> tuple[int, ...] | None:
    bits: list[int] = []
    for i, pair in enumerate(inner.split(",")[: gres.MAX_BITS]):
        held, sep, _avail = pair.partition("/")
        if not sep or not held.isdigit():
            return None
        if int(held):
            bits.append(i)
    return tuple(bits)


def uses_from_details(
    details: Sequence[str], nodes: Sequence[str], per_node_requests: Sequence[gres.GresRequest] = ()
) -> tuple[NodeUses, ...]:
    """A wire job record's gres_detail_str (one per node of the job) as uses per node; () for none.

    GRES the details cannot show (no devices) are taken from the job's per-node requests."""
    per_node = [list(parse_detail(details[i])) if i < len(details) else [] for i in range(len(nodes))]
    shown = {u.name for uses in per_node for u in uses}
    for req in per_node_requests:
        if req.per_node and req.name not in shown:
            for uses in per_node:
                uses.append(GresUse(req.name, req.type, req.per_node))
    if not any(per_node):
        return ()
    return tuple(tuple(u) for u in per_node)


@dataclass
class NodeUsed:
    """What a node's GresUsed says of one GRES name."""

    alloc: int = 0
    type_alloc: dict[str, int] = field(default_factory=dict)
    bits: set[int] = field(default_factory=set)
    shown_bits: bool = False  # the text lists devices (a topology)


def parse_node_used(text: str | None) -> dict[str, NodeUsed]:
    """A node record's gres_used as what is held of each name (unparsable items are skipped)."""
    out: dict[str, NodeUsed] = {}
    for item in split_items(text or "")[: gres.MAX_RECORDS]:
        m = _USED.match(item)
        if m is None:
            continue
        name, gtype, count = m["name"], _type_of(m["type"]), int(m["count"])
        used = out.setdefault(name, NodeUsed())
        if m["idx"] is not None or m["shared"] is not None:
            used.shown_bits = True
            if m["shared"] is not None:  # 24.11's shared GRES: held/available per device
                bits = _shared_bits(m["shared"])
            else:
                bits = () if m["idx"] == "N/A" else parse_index_list(m["idx"])
            if bits is None:
                continue
            used.bits.update(bits)
        used.alloc += count
        if gtype and count:
            used.type_alloc[gtype] = used.type_alloc.get(gtype, 0) + count
    return out


def apply_node_used(inventory: Mapping[str, NodeGres], text: str | None) -> None:
    """Make a node's allocation counts what slurmctld reports held (shadow: jobs are slurmctld's)."""
    used = parse_node_used(text)
    for name, g in inventory.items():
        u = used.get(name)
        g.alloc = u.alloc if u else 0
        g.type_alloc = dict(u.type_alloc) if u else {}
        if g.shared and u and u.bits:
            # a shared GRES shows the devices in use, not how much of each: one unit each at least
            g.bit_alloc = {b: max(1, g.bit_alloc.get(b, 0)) for b in u.bits}
        else:
            g.bit_alloc = {b: 1 for b in u.bits} if u else {}


def clear_alloc(inventory: Mapping[str, NodeGres]) -> None:
    """No job holds anything of this node's GRES (before the adopted jobs claim theirs again)."""
    for g in inventory.values():
        g.alloc = 0
        g.type_alloc = {}
        g.bit_alloc = {}
