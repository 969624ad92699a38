"""A job's ``--constraint``: SLURM 22.05's feature grammar, its checks at submit, and which nodes match.

The grammar is slurmctld's (job_scheduler.c build_feature_list): feature names joined by ``&`` (and)
or ``|`` (or), evaluated left to right; ``(...)`` groups; ``name*N`` asks for N nodes with that
feature; one ``[...]`` set either lists alternatives ``[a|b]`` (every node of the job shares one of
them) or counts ``[a*2&b*2]``. A comma is taken for ``&`` (slurmctld rewrites the job's text, so the
job then shows ``a&b``). A feature no node has, or a malformed expression, is refused at submit with
ESLURM_INVALID_FEATURE ("Invalid feature specification").

Placement (node_scheduler.c valid_feature_counts, _valid_features, _get_req_features):

* without counts or brackets, a job may only use the nodes the expression matches;
* ``[a|b]``: the job is tried on the nodes with ``a``, then on those with ``b`` (the rest of the
  expression still filters);
* with counts, the expression does not filter the nodes: the job must hold at least N nodes with
  each counted feature, the other nodes come from anywhere in the partition.

Pure logic: the scheduler and the submit checks call it.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from flurm.protocol.constants import SlurmRC
from flurm.protocol.errors import FlurmError
from flurm.state.model import Node


class Op(enum.Enum):
    """How a feature joins the next one (slurmctld's FEATURE_OP_*)."""

    AND = "&"
    OR = "|"
    XAND = "x&"  # "&" inside brackets
    XOR = "x|"  # "|" inside brackets
    END = ""


@dataclass(frozen=True, slots=True)
class Term:
    """One feature of an expression: its name, node count (0: none), parenthesis depth when it
    was closed and the operator that follows it."""

    name: str
    count: int
    paren: int
    op: Op


_A = TypeVar("_A")


class ConstraintError(FlurmError, ValueError):
    """The expression is not valid (slurmctld: ESLURM_INVALID_FEATURE)."""

    rc = SlurmRC.ESLURM_INVALID_FEATURE


_COUNT = re.compile(r"\d*")
_SPECIAL = frozenset("*&|[]()") | {""}


def normalized(text: str) -> str:
    """The text slurmctld keeps (and shows as Features=): commas become ``&``."""
    return text.replace(",", "&")


def parse(text: str) -> tuple[Term, ...]:
    """The terms of an expression, or ConstraintError for what build_feature_list refuses."""
    text = normalized(text)
    terms: list[Term] = []
    start: int | None = None  # where the current feature's name starts
    end: int | None = None  # where it ends, once an operator or bracket ended it
    count = paren = bracket = brackets = 0
    i = 0
    while True:
        c = text[i] if i < len(text) else ""
        if c in _SPECIAL and start is not None and end is None:
            end = i
        if c == "*":
            digits = _COUNT.match(text, i + 1)
            assert digits is not None
            count = int(digits.group()) if digits.group() else 0
            if start is None or count <= 0 or paren:
                raise ConstraintError(text)
            i = digits.end()
            continue
        if c in ("&", "|"):
            if start is None:
                raise ConstraintError(text)
            in_set = bracket and not paren
            op = (Op.XAND if in_set else Op.AND) if c == "&" else (Op.XOR if in_set else Op.OR)
            terms.append(Term(text[start:end], count, paren, op))
            start = end = None
            count = 0
        elif c == "[":
            brackets += 1
            if start is not None or bracket or brackets > 1:
                raise ConstraintError(text)
            bracket += 1
        elif c == "]":
            if start is None or not bracket:
                raise ConstraintError(text)
            bracket -= 1
        elif c == "(":
            if start is not None or paren:
                raise ConstraintError(text)
            paren += 1
        elif c == ")":
            if start is None or not paren:
                raise ConstraintError(text)
            paren -= 1
        elif c == "":
            if start is not None:
                terms.append(Term(text[start:end], count, paren, Op.END))
            break
        elif start is None:
            start = i
        i += 1
    if bracket or paren:
        raise ConstraintError(text)
    _check_sets(terms, text)
    return tuple(terms)


def _check_sets(terms: list[Term], text: str) -> None:
    """_valid_feature_list: inside brackets, ``&`` needs counts and ``|`` refuses them."""
    bracket = paren = 0
    has_xand = has_xor = False
    for t in terms:
        if t.op in (Op.XOR, Op.XAND):
            bracket = t.paren + 1
        paren = t.paren
        if (t.op is Op.XAND and not t.count) or (t.op is Op.XOR and t.count):
            raise ConstraintError(text)
        if bracket > paren and t.op not in (Op.XOR, Op.XAND):
            if (has_xand and not t.count) or (has_xor and t.count):
                raise ConstraintError(text)
            bracket = 0
            has_xand = has_xor = False
        has_xand = has_xand or t.op is Op.XAND
        has_xor = has_xor or t.op is Op.XOR


def validate(text: str, known: Iterable[str]) -> tuple[Term, ...]:
    """Parse and check that every feature is one some node of the cluster has."""
    terms = parse(text)
    names = set(known)
    for t in terms:
        if t.name not in names:
            raise ConstraintError(t.name)
    return terms


def cluster_features(nodes: Iterable[Node]) -> set[str]:
    return {f for n in nodes for f in n.features}


@dataclass(frozen=True, slots=True)
class Choice:
    """One way to place a job: the nodes it may use (None: any) and, per counted feature, how many
    nodes having it the job must hold."""

    allowed: frozenset[str] | None
    counts: tuple[tuple[frozenset[str], int], ...] = ()


def _having(name: str, nodes: Iterable[Node]) -> frozenset[str]:
    return frozenset(n.name for n in nodes if name in n.features)


def choices(terms: tuple[Term, ...], nodes: Iterable[Node]) -> list[Choice]:
    """The placements to try, in slurmctld's order."""
    node_list = list(nodes)
    every = frozenset(n.name for n in node_list)
    with_feature = {t.name: _having(t.name, node_list) for t in terms}
    counted = tuple((with_feature[t.name], t.count) for t in terms if t.count)
    if counted:
        return [Choice(None, counted)]
    base = _evaluate(terms, every, with_feature)
    alternatives = _alternatives(terms)
    if not alternatives:
        return [Choice(base)]
    return [Choice(base & with_feature[name]) for name in alternatives]


def _evaluate(
    terms: tuple[Term, ...], every: frozenset[str], having: Mapping[str, frozenset[str]]
) -> frozenset[str]:
    """Left to right, parentheses grouping; bracket alternatives do not filter here."""
    outer = every
    inner: frozenset[str] | None = None
    last_op, paren_op, last_paren = Op.AND, Op.AND, 0
    for t in terms:
        if last_paren < t.paren:
            paren_op, last_op, inner = last_op, Op.AND, every
        work = inner if inner is not None else outer
        if t.op in (Op.XOR, Op.XAND):
            pass
        elif last_op is Op.AND:
            work = work & having[t.name]
        elif last_op is Op.OR:
            work = work | having[t.name]
        if inner is not None:
            inner = work
        else:
            outer = work
        if last_paren > t.paren and inner is not None:
            outer = outer & inner if paren_op is Op.AND else outer | inner
            inner = None
        last_op, last_paren = t.op, t.paren
    return outer


def _alternatives(terms: tuple[Term, ...]) -> list[str]:
    """The features of a ``[a|b|...]`` set: each XOR term and the one that closes the set."""
    out: list[str] = []
    last = Op.AND
    for t in terms:
        if t.op is Op.XOR or last is Op.XOR:
            out.append(t.name)
        last = t.op
    return out


@functools.lru_cache(maxsize=1024)
def terms_of(text: str) -> tuple[Term, ...]:
    """The parsed terms of a job's (already accepted) constraint; an unparsable one matches nothing."""
    try:
        return parse(text)
    except ConstraintError:
        return (Term("", 0, 0, Op.END),)


def place(
    text: str,
    nodes: list[Node],
    excluded: set[str],
    usable: Callable[[Node], bool],
    attempt: Callable[[set[str], tuple[str, ...]], _A | None],
) -> _A | None:
    """Try each placement of the constraint ``text`` on ``nodes`` (a partition's): ``attempt`` gets
    the nodes to leave out and the nodes the job must hold, and answers an allocation or None. For
    a counted feature, the first usable nodes having it (by weight, then node order) are required."""
    for choice in choices(terms_of(text), nodes):
        out = set(excluded)
        if choice.allowed is not None:
            out.update(n.name for n in nodes if n.name not in choice.allowed)
        required: list[str] = []
        enough = True
        for having, count in choice.counts:
            picked = [
                n.name
                for n in sorted(nodes, key=lambda n: (n.weight, n.index))
                if n.name in having and n.name not in out and usable(n)
            ]
            already = [n for n in picked if n in required]
            extra = [n for n in picked if n not in required][: max(0, count - len(already))]
            if len(already) + len(extra) < count:
                enough = False
                break
            required.extend(extra)
        if not enough:
            continue
        alloc = attempt(out, tuple(required))
        if alloc is not None:
            return alloc
    return None


def candidates(text: str, nodes: Iterable[Node]) -> list[Node]:
    """The nodes of ``nodes`` some placement of the constraint could use ([] if none could ever
    satisfy it: too few nodes with a counted feature, or none matching)."""
    node_list = list(nodes)
    allowed: set[str] = set()
    for choice in choices(terms_of(text), node_list):
        if choice.allowed is None:
            members = {n.name for n in node_list}
            if all(len(having & members) >= count for having, count in choice.counts):
                allowed |= members
        else:
            allowed |= choice.allowed
    return [n for n in node_list if n.name in allowed]
