"""Generic resources (GRES): what a node has, what a job asks for, which devices a job holds.

The one model every room uses (the scheduler picks from it, the credentials carry it, the records show
it, the importer fills it). Pure: no I/O.

Vocabulary, as slurmctld's gres.c:

* a GRES **name** is a plugin (``gpu``, ``mps``, ``shard``, or any name GresTypes lists); its plugin id is
  :func:`plugin_id` of the name. A **type** is the model (``tesla``, ``a100``), optional.
* a node's GRES of one name is :class:`NodeGres`: the count configured in slurm.conf (``Gres=``), the
  count its slurmd found (gres.conf, registration), and the **topology** slurmd reported: one
  :class:`GresTopo` per gres.conf line or device file, each with its type, count, the **bits** (device
  indexes in the name's bitmap, in slurmd's order) and the cores it is close to. A GRES without files
  has no bits and is allocated by count only.
* a job's request is one :class:`GresRequest` per (name, type): per job (``--gpus``), per node
  (``--gres``, ``--gpus-per-node``), per socket, per task, with CPUs and memory per GRES.
* what a job holds on one node is one :class:`GresUse` per request: the count and, for devices, the
  bits. A job keeps them per node in its node order (``Job.gres_alloc``).

Counts take SLURM's suffixes (suffix_mult: k, m, g, t, p and their KiB/KB forms).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from flurm.config.gres import SHARED_NAMES as _SHARED_ORDER
from flurm.config.gres import plugin_id as plugin_id  # one rule: gres_build_id
from flurm.config.gres import suffix_mult
from flurm.protocol.constants import SlurmRC
from flurm.protocol.errors import FlurmError

# GRES plugins whose allocation is a share of a GPU (gres_id_shared in 22.05: config flag GRES_CONF_SHARED)
SHARED_NAMES = frozenset(_SHARED_ORDER)
# most GRES records a request or a node may carry: bounds what a client can make the controller expand
MAX_RECORDS = 64
# most devices (bits) one GRES name may have on one node (slurmctld's cap for a GRES with File= too)
MAX_BITS = 1024


class GresError(FlurmError):
    """A GRES string or request slurmctld refuses (``rc=`` gives another code than Invalid GRES)."""

    rc = SlurmRC.ESLURM_INVALID_GRES


def parse_count(text: str) -> int | None:
    """A count with SLURM's optional suffix ("2", "4G", "100k": suffix_mult); None if it is not one."""
    digits = len(text) - len(text.lstrip("0123456789"))
    if digits == 0:
        return None
    mult = suffix_mult(text[digits:])
    return None if mult is None else int(text[:digits]) * mult


# -- what a node has --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GresTopo:
    """One device group a slurmd reported (one gres.conf line or file): slurmctld's topo_* arrays."""

    type: str | None
    count: int
    bits: tuple[int, ...]  # device indexes in the name's bitmap; () when the GRES has no files
    cores: tuple[int, ...] | None = None  # node-local cores it is close to; None: any core
    links: str | None = None
    unique_id: str | None = None


@dataclass(slots=True)
class NodeGres:
    """One GRES name on one node: what it has and what jobs hold of it."""

    name: str
    configured: int  # gres_cnt_config: the sum of slurm.conf's Gres= items of this name
    configured_types: dict[str, int] = field(default_factory=dict)  # type -> count, from Gres=
    no_consume: bool = False
    found: int | None = None  # what slurmd reported (None: not registered yet)
    topo: tuple[GresTopo, ...] = ()  # from the registration; () until then or without files
    bit_count: int = 0  # size of the device bitmap (0: allocated by count only)
    # allocation, kept in step with the running jobs
    alloc: int = 0
    type_alloc: dict[str, int] = field(default_factory=dict)
    bit_alloc: dict[int, int] = field(default_factory=dict)  # bit -> count held (1 per job for a GPU)

    @property
    def plugin_id(self) -> int:
        return plugin_id(self.name)

    @property
    def shared(self) -> bool:
        return self.name in SHARED_NAMES

    @property
    def available(self) -> int:
        """gres_cnt_avail: what jobs may be given (the configured count until slurmd reported)."""
        return self.configured if self.found is None else min(self.found, self.configured)

    def type_available(self, gres_type: str) -> int:
        if self.topo:
            return sum(t.count for t in self.topo if t.type == gres_type)
        return self.configured_types.get(gres_type, 0)

    def types(self) -> list[str]:
        """The types of this name in their order (topology first, then configuration)."""
        seen: dict[str, None] = {}
        for t in self.topo:
            if t.type:
                seen.setdefault(t.type)
        for name in self.configured_types:
            seen.setdefault(name)
        return list(seen)


# -- what a job asks for --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GresRequest:
    """One gres_job_state: what a job asks of one (name, type)."""

    name: str
    type: str | None = None
    per_job: int = 0
    per_node: int = 0
    per_socket: int = 0
    per_task: int = 0
    cpus_per_gres: int = 0
    mem_per_gres: int = 0  # MiB
    total: int = 0  # total_gres: the least the job gets in all

    @property
    def plugin_id(self) -> int:
        return plugin_id(self.name)

    def key(self) -> tuple[str, str | None]:
        return (self.name, self.type)


def tres_items(text: str | None) -> list[tuple[str, str | None, int]]:
    """The GRES items of a tres_per_* string (``gres:gpu:tesla:2,gres:mps:100``; 24.11 writes ``gres/``,
    and its tres_per_task ``gres/gpu:tesla=2``): (name, type, count). Raises :class:`GresError` for a
    malformed item."""
    out: list[tuple[str, str | None, int]] = []
    for raw in (text or "").split(","):
        raw = raw.strip()
        if not raw:
            continue
        if raw.startswith(("gres:", "gres/")):
            raw = raw[5:]
        else:
            continue  # another TRES (licence, ...): not a GRES
        if len(out) >= MAX_RECORDS:
            raise GresError(f"more than {MAX_RECORDS} GRES requested")
        if "=" in raw:  # 24.11's tres_per_task form: gres/gpu:tesla=1
            head, _, count_text = raw.rpartition("=")
            parts = [*head.split(":"), count_text]
        else:
            parts = raw.split(":")
        if not parts[0] or len(parts) > 3 or any(not p for p in parts[1:]):
            raise GresError(f"Invalid GRES job specification {text}")
        name = parts[0]
        if len(parts) == 3:
            count = parse_count(parts[2])
            if count is None:
                raise GresError(f"Invalid GRES job specification {text}")
            gtype: str | None = parts[1]
        elif len(parts) == 2:
            count = parse_count(parts[1])
            gtype = None if count is not None else parts[1]
            count = 1 if count is None else count
        else:
            gtype, count = None, 1
        if count:
            out.append((name, gtype, count))
    return out


@dataclass(frozen=True, slots=True)
class JobShape:
    """What of a job's geometry the GRES arithmetic needs (NO_VAL-free: 0 = not given)."""

    num_tasks: int = 0
    min_nodes: int = 0
    max_nodes: int = 0
    sockets_per_node: int = 0
    ntasks_per_socket: int = 0


def job_requests(
    *,
    tres_per_job: str | None = None,
    tres_per_node: str | None = None,
    tres_per_socket: str | None = None,
    tres_per_task: str | None = None,
    cpus_per_tres: str | None = None,
    mem_per_tres: str | None = None,
    known_names: Iterable[str] = (),
    shape: JobShape = JobShape(),
    base: Sequence[GresRequest] = (),
    cleared: Iterable[str] = (),
) -> tuple[GresRequest, ...]:
    """gres_job_state_validate(): the job's GRES requests, one per (name, type), in the order first met.

    ``known_names`` is GresTypes (plus gpu/mps/shard when configured): any other name is refused.
    An update (scontrol update job) starts from the job's requests ``base``, with the fields named in
    ``cleared`` (``per_node``, ``cpus_per_gres``...: the options given as "") cleared; the strings
    given set their fields of the (name, type) they name, the other records keep theirs.
    """
    known = set(known_names)
    fields_of: dict[tuple[str, str | None], dict[str, int]] = {}
    gone = set(cleared)
    for r in base:
        kept = {
            f: getattr(r, f)
            for f in ("per_job", "per_node", "per_socket", "per_task", "cpus_per_gres", "mem_per_gres")
            if getattr(r, f) and f not in gone
        }
        fields_of[r.key()] = kept

    def take(text: str | None, attr: str, mult: int) -> None:
        for name, gtype, count in tres_items(text):
            if name not in known:
                raise GresError(f"Invalid GRES job specification {text}")
            rec = fields_of.setdefault((name, gtype), {})
            rec[attr] = count
            if attr.startswith("per_"):
                rec["total"] = max(rec.get("total", 0), count * max(1, mult))

    take(cpus_per_tres, "cpus_per_gres", 1)
    take(tres_per_job, "per_job", 1)
    take(tres_per_node, "per_node", shape.min_nodes or 1)
    sockets = shape.min_nodes * shape.sockets_per_node
    if not sockets and shape.num_tasks and shape.ntasks_per_socket:
        sockets = -(-shape.num_tasks // shape.ntasks_per_socket)
    take(tres_per_socket, "per_socket", sockets or 1)
    take(tres_per_task, "per_task", shape.num_tasks or 1)
    take(mem_per_tres, "mem_per_gres", 1)
    # _merge_generic_data: an untyped record that only carries CPUs or memory per GRES (--cpus-per-gpu with
    # --gpus=k80:1) lends them to the typed records of its name and goes
    for name in {n for n, t in fields_of if t is not None}:
        generic = fields_of.get((name, None))
        if generic is None or any(generic.get(f) for f in ("per_job", "per_node", "per_socket", "per_task")):
            continue
        del fields_of[(name, None)]
        for (n, _), values in fields_of.items():
            if n == name:
                for f in ("cpus_per_gres", "mem_per_gres"):
                    if generic.get(f) and not values.get(f):
                        values[f] = generic[f]
    requests = [GresRequest(name, gtype, **values) for (name, gtype), values in fields_of.items() if values]
    asked = (tres_per_job, tres_per_node, tres_per_socket, tres_per_task)
    if mem_per_tres and not any(n == "gpu" for text in asked for n, _, _ in tres_items(text)):
        raise GresError("Requested mem_per_tres but did not request any GPU")
    for r in requests:
        if not _counted(r):
            raise GresError(f"GRES {r.name} has CPUs or memory per GRES but no count")
        _test_counts(r, shape)
    _test_overlap(requests)
    _test_shared(requests, shape)
    return tuple(requests)


def _test_shared(requests: Sequence[GresRequest], shape: JobShape) -> None:
    """A shared GRES (mps, shard) is asked for per node only (per job with one node, per socket with
    one socket, per task with one task), and not in the same job as the GPUs it shares."""
    shared = [r for r in requests if r.name in SHARED_NAMES]
    for r in shared:
        if (
            (r.per_job and shape.max_nodes != 1)
            or (r.per_socket and shape.sockets_per_node != 1)
            or (r.per_task and shape.num_tasks != 1)
        ):
            raise GresError(f"{r.name}: a shared GRES is counted per node only")
    if shared and any(r.name == "gpu" for r in requests):
        raise GresError("a job may not ask for GPUs and for shares of GPUs")


def _test_counts(r: GresRequest, shape: JobShape) -> None:
    """_test_gres_cnt(): per job >= per node >= per socket, per job >= per task, per node >= per task;
    per socket needs --sockets-per-node; per job a multiple of per node."""
    n = r.name
    if r.per_job and any(x > r.per_job for x in (r.per_node, r.per_task, r.per_socket)):
        raise GresError(f"Failed to ensure --{n}s >= --gres={n}/--{n}s-per-node >= --{n}s-per-socket")
    if r.per_node and (r.per_task > r.per_node or r.per_socket > r.per_node):
        raise GresError(f"Failed to ensure --{n}s >= --{n}s-per-task")
    if r.per_socket and not shape.sockets_per_node:
        raise GresError(f"--{n}s-per-socket option requires --sockets-per-node specification")
    if r.per_job and r.per_node and r.per_job % r.per_node:
        raise GresError(f"Failed to validate job spec, --{n}s is not multiple of --gres={n}/--{n}s-per-node")
    if r.per_node and r.per_socket and r.per_node % r.per_socket:
        raise GresError(f"--gres={n}/--{n}s-per-node not multiple of --{n}s-per-socket")
    if r.per_job and shape.min_nodes and r.per_job < shape.min_nodes:
        raise GresError(f"Failed to validate job spec, --{n}s < -N")
    if r.per_task and r.per_job and r.per_job % r.per_task:
        raise GresError(f"Failed to validate job spec, --{n}s not multiple of --{n}s-per-task")
    if r.per_task and r.per_node and r.per_node % r.per_task:
        raise GresError(f"--gres={n}/--{n}s-per-node not multiple of --{n}s-per-task")


def _test_overlap(requests: Sequence[GresRequest]) -> None:
    """A name asked for both with and without a type (``gpu:2,gpu:tesla:1``) is refused, as
    gres_job_state_validate's overlap check refuses it (except for the shared GRES mps and shard)."""
    typed = {r.name for r in requests if r.type is not None}
    untyped = {r.name for r in requests if r.type is None}
    if (typed & untyped) - SHARED_NAMES:
        text = "Invalid GRES specification (with and without type identification)"
        raise GresError(text, rc=SlurmRC.ESLURM_INVALID_GRES_TYPE)


def _counted(r: GresRequest) -> bool:
    return bool(r.per_job or r.per_node or r.per_socket or r.per_task)


# -- what a job holds ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GresUse:
    """What a job (or step) holds of one request on one node."""

    name: str
    type: str | None
    count: int
    bits: tuple[int, ...] | None = None  # device indexes; None for a GRES allocated by count

    def to_json(self) -> list[Any]:
        return [self.name, self.type, self.count, None if self.bits is None else list(self.bits)]

    @classmethod
    def from_json(cls, v: Sequence[Any]) -> GresUse:
        name, gtype, count, bits = v
        gres_type = None if gtype is None else str(gtype)
        return cls(str(name), gres_type, int(count), None if bits is None else tuple(int(b) for b in bits))


NodeUses = tuple[GresUse, ...]


def uses_to_json(per_node: Sequence[NodeUses]) -> list[list[list[Any]]]:
    return [[u.to_json() for u in uses] for uses in per_node]


def uses_from_json(v: Sequence[Sequence[Sequence[Any]]]) -> tuple[NodeUses, ...]:
    return tuple(tuple(GresUse.from_json(u) for u in uses) for uses in v)


def claim(inventory: Mapping[str, NodeGres], uses: Iterable[GresUse]) -> None:
    """A job now holds ``uses`` on this node."""
    _apply(inventory, uses, 1)


def release(inventory: Mapping[str, NodeGres], uses: Iterable[GresUse]) -> None:
    """A job no longer holds ``uses`` on this node."""
    _apply(inventory, uses, -1)


def _apply(inventory: Mapping[str, NodeGres], uses: Iterable[GresUse], sign: int) -> None:
    for u in uses:
        g = inventory.get(u.name)
        if g is None or g.no_consume:
            continue
        g.alloc = max(0, g.alloc + sign * u.count)
        if u.type:
            g.type_alloc[u.type] = max(0, g.type_alloc.get(u.type, 0) + sign * u.count)
        if u.bits:
            per_bit = u.count // len(u.bits) if g.shared else 1
            for b in u.bits:
                left = g.bit_alloc.get(b, 0) + sign * per_bit
                if left > 0:
                    g.bit_alloc[b] = left
                else:
                    g.bit_alloc.pop(b, None)


def free_count(g: NodeGres, gres_type: str | None) -> int:
    """How much of ``g`` (of one type, or of any) no job holds."""
    if g.no_consume:
        return g.type_available(gres_type) if gres_type else g.available
    if gres_type is None:
        return max(0, g.available - g.alloc)
    return max(0, g.type_available(gres_type) - g.type_alloc.get(gres_type, 0))


def free_bits(g: NodeGres, gres_type: str | None) -> list[int]:
    """The device indexes of ``g`` (of one type, or of any) that no job holds, lowest first.

    Devices without a topology (gres.conf File= with neither Type= nor Cores=: slurmd reports no
    topology, slurmctld still allocates the bits) are bits 0..bit_count-1 of no type."""
    if not g.topo:
        if gres_type is not None and gres_type not in g.configured_types:
            return []
        return [b for b in range(g.bit_count) if b not in g.bit_alloc]
    out: list[int] = []
    for t in g.topo:
        if gres_type is not None and t.type != gres_type:
            continue
        out.extend(b for b in t.bits if b not in g.bit_alloc)
    return sorted(set(out))


def copy_node(g: NodeGres) -> NodeGres:
    """``g`` with allocation counts of its own (what a planning pass changes without touching the node)."""
    return replace(g, type_alloc=dict(g.type_alloc), bit_alloc=dict(g.bit_alloc))


def copy_inventory(inventory: Mapping[str, NodeGres]) -> dict[str, NodeGres]:
    return {name: copy_node(g) for name, g in inventory.items()}


def empty_inventory(inventory: Mapping[str, NodeGres]) -> dict[str, NodeGres]:
    """The node's GRES as if no job held any (for "could it ever fit" tests)."""
    return {name: replace(g, alloc=0, type_alloc={}, bit_alloc={}) for name, g in inventory.items()}


def near_first(g: NodeGres, bits: Sequence[int], cores: Iterable[int] | None) -> list[int]:
    """``bits`` with the devices close to ``cores`` first (gres.conf Cores=), each group lowest first."""
    if cores is None:
        return sorted(bits)
    wanted = set(cores)
    near: set[int] = set()
    for t in g.topo:
        if t.cores is None or wanted.intersection(t.cores):
            near.update(t.bits)
    return sorted(bits, key=lambda b: (b not in near, b))


def take(
    g: NodeGres, gres_type: str | None, count: int, cores: Iterable[int] | None = None
) -> tuple[GresUse, ...] | None:
    """``count`` of ``g`` for a job whose cores on the node are ``cores``: the free devices close to
    those cores first, then the lowest. An untyped request on a node whose GRES have types is held as
    one use per type it takes (slurmctld shows it so: ``gpu:tesla:1(IDX:0)``). None if not free."""
    if count <= 0:
        return ()
    if gres_type is not None or g.shared or g.no_consume or not g.types():
        if g.bit_count and not g.shared and not g.no_consume:
            bits = near_first(g, free_bits(g, gres_type), cores)
            if len(bits) < count or free_count(g, gres_type) < count:
                return None
            return (GresUse(g.name, gres_type, count, tuple(sorted(bits[:count]))),)
        one = pick(g, gres_type, count)
        return None if one is None else (one,)
    if free_count(g, None) < count:
        return None
    if g.bit_count:
        bits = near_first(g, free_bits(g, None), cores)[:count]
        if len(bits) < count:
            return None
        type_of = {b: t.type for t in g.topo for b in t.bits}
        out = []
        for gtype in g.types():
            mine = tuple(sorted(b for b in bits if type_of.get(b) == gtype))
            if mine:
                out.append(GresUse(g.name, gtype, len(mine), mine))
        return tuple(out)
    out, left = [], count
    for gtype in g.types():
        n = min(left, free_count(g, gtype))
        if n > 0:
            out.append(GresUse(g.name, gtype, n))
            left -= n
    return tuple(out) if left <= 0 else None


def pick(g: NodeGres, gres_type: str | None, count: int) -> GresUse | None:
    """``count`` of ``g`` for a job on this node, the lowest free devices first; None if they are not free.

    A shared GRES (mps, shard) is taken from one device that has that much left.
    """
    if count <= 0:
        return None
    if g.no_consume:
        return GresUse(g.name, gres_type, count) if free_count(g, gres_type) >= count else None
    if not g.bit_count:
        return GresUse(g.name, gres_type, count) if free_count(g, gres_type) >= count else None
    if g.shared:
        for t in g.topo:
            if gres_type is not None and t.type != gres_type:
                continue
            for b in t.bits:
                per_bit = t.count // max(1, len(t.bits))
                if per_bit - g.bit_alloc.get(b, 0) >= count:
                    return GresUse(g.name, gres_type, count, (b,))
        return None
    bits = free_bits(g, gres_type)
    if len(bits) < count or free_count(g, gres_type) < count:
        return None
    return GresUse(g.name, gres_type, count, tuple(bits[:count]))


def device_types(g: NodeGres) -> dict[int, str | None]:
    """The type of each device of ``g``: from what slurmd reported, else (before it registered) the
    configured types in their order, one device each."""
    out: dict[int, str | None] = {}
    for t in g.topo:
        for b in t.bits:
            out.setdefault(b, t.type)
    if not g.topo:
        b = 0
        for gtype, count in g.configured_types.items():
            for _ in range(count):
                out[b] = gtype
                b += 1
    return out


@dataclass(frozen=True, slots=True)
class TypeUsage:
    """How much of one GRES name (and type) a node has and how much its jobs hold (views, metrics)."""

    name: str
    type: str | None
    total: int  # what jobs may be given (gres_cnt_avail, per type the type's count)
    used: int  # what jobs hold (0 for no_consume)
    used_bits: tuple[int, ...] = ()  # the device indexes held


def usage(g: NodeGres) -> list[TypeUsage]:
    """``g`` per type (one untyped entry for a node without types). A device held by a job counts for
    the type of that device whether or not the job named a type."""
    types = g.types()
    used_bits = sorted(g.bit_alloc)
    if not types:
        return [TypeUsage(g.name, None, g.available, 0 if g.no_consume else g.alloc, tuple(used_bits))]
    of_bit = device_types(g)
    out: list[TypeUsage] = []
    for t in types:
        held = tuple(b for b in used_bits if of_bit.get(b) == t)
        if g.no_consume:
            used = 0
        elif g.bit_count and not g.shared and of_bit:
            used = len(held)
        else:  # counted only, shared, or devices without topology: what the typed uses hold
            used = g.type_alloc.get(t, 0)
        out.append(TypeUsage(g.name, t, g.type_available(t), used, held))
    return out


@dataclass(frozen=True, slots=True)
class GresAsk:
    """What a job asks of GRES in its tres_per_* texts and the geometry they scale with (0: not given)."""

    tres_per_job: str | None = None
    tres_per_node: str | None = None
    tres_per_socket: str | None = None
    tres_per_task: str | None = None
    nodes: int = 1
    sockets_per_node: int = 0
    num_tasks: int = 0

    def in_all(self, names: Collection[str]) -> int:
        """The GRES of ``names`` asked in all, as job_get_tres_mem and gres_select_util_job_min_cpus count
        them: per job, else per node x nodes, per socket x sockets x nodes, per task x tasks (the first of
        these given); raises :class:`GresError` for a text that does not parse."""

        def counted(text: str | None) -> int:
            return sum(count for name, _, count in tres_items(text) if name in names)

        if n := counted(self.tres_per_job):
            return n
        if n := counted(self.tres_per_node):
            return n * max(1, self.nodes)
        if n := counted(self.tres_per_socket):
            return n * max(1, self.nodes) * max(1, self.sockets_per_node)
        if n := counted(self.tres_per_task):
            return n * max(1, self.num_tasks)
        return 0


def requested_mem(mem_per_tres: str | None, ask: GresAsk) -> int | None:
    """The memory (MiB) a job that gave --mem-per-gpu and no --mem asks for, as job_get_tres_mem
    estimates it for the TRES request: memory per GRES (the most of any name) times the GRES asked in all;
    None when no GRES has memory per GRES."""
    try:
        mem = {name: count for name, _, count in tres_items(mem_per_tres)}
        return max(mem.values()) * ask.in_all(mem) if mem else None
    except GresError:
        return None


def min_cpus(cpus_per_tres: str | None, ask: GresAsk) -> int:
    """gres_select_util_job_min_cpus: the CPUs a job's --cpus-per-gpu asks for, CPUs per GRES times the
    GRES asked in all, the most of any name; 0 without CPUs per GRES."""
    try:
        per: dict[str, int] = {}
        for name, _, count in tres_items(cpus_per_tres):
            per[name] = max(per.get(name, 0), count)
        return max((cpus * ask.in_all((name,)) for name, cpus in per.items()), default=0)
    except GresError:
        return 0
