"""Sets of array task ids: what an array's meta record still holds, what a job id names.

A :class:`TaskSet` is a bitmap held in one Python int (bit i = task i), as slurmctld holds an array's
tasks in a bitstr of MaxArraySize bits. Every operation is a handful of C-speed int operations,
linear in the highest task id at worst: a set of 4 million tasks is 500 KB, and a union, a
difference, a count or a test costs well under a millisecond. Nothing here builds a Python object per
task except iteration, which callers use only where they act on each task anyway.

Expressions ("0-15:4,20", "[1-3]") are bounded by the array size limit before anything is built, so
no text can make a set bigger than MaxArraySize bits.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterator

from flurm.errors import FlurmError
from flurm.protocol.constants import SlurmRC

# one token of an array expression: N, N-M or N-M:S, each number optionally bracketed as SLURM allows
_TOKEN = re.compile(r"\[?(\d{1,10})\]?(?:-(\d{1,10})\]?(?::(\d{1,10})\]?)?)?")
_BINARY_DIGITS = bytes.maketrans(b"\x00\x01", b"01")


class TaskSetError(FlurmError, ValueError):
    """An expression that names no valid set of task ids (SLURM refuses it; as a job id's array part,
    with ESLURM_INVALID_JOB_ID)."""

    rc = SlurmRC.ESLURM_INVALID_ARRAY


class TaskSet:
    """An immutable set of task ids (non-negative ints) as a bitmap.

    Its runs of consecutive ids are kept once known: an array's pending set loses one task per
    start (:meth:`without`), and its persistent form (:meth:`to_text`, written at every change)
    then costs the number of runs, not a scan of the bitmap.
    """

    __slots__ = ("_bits", "_count", "_runs")

    def __init__(self, bits: int = 0, runs: tuple[tuple[int, int], ...] | None = None) -> None:
        if bits < 0:
            raise ValueError("a task bitmap is not negative")
        self._bits = bits
        self._count = -1  # computed on first use
        self._runs = runs  # maximal runs (first, last), ascending; None until needed

    # -- building -----------------------------------------------------------------------------
    @classmethod
    def of(cls, ids: object) -> TaskSet:
        """From task ids one by one (a byte per id up to the highest, then one int: linear)."""
        listed = sorted(ids)  # type: ignore[call-overload]
        if not listed:
            return cls()
        if listed[0] < 0:
            raise ValueError("task ids are not negative")
        flags = bytearray(listed[-1] + 1)
        for i in listed:
            flags[i] = 1
        return cls(int(flags.translate(_BINARY_DIGITS)[::-1], 2))

    @classmethod
    def progression(cls, first: int, last: int, step: int = 1) -> TaskSet:
        """first, first+step, ... up to last (inclusive)."""
        if first < 0 or last < first or step <= 0:
            raise ValueError(f"no progression {first}-{last}:{step}")
        count = (last - first) // step + 1
        if step == 1:
            return cls(((1 << count) - 1) << first, ((first, last),))
        # "0…01" repeated: int() of a base-2 text is linear, a loop of shifts would be quadratic
        return cls(int(("0" * (step - 1) + "1") * count, 2) << first)

    @classmethod
    def parse(cls, text: str, limit: int) -> TaskSet:
        """SLURM's array expression (job_mgr.c _parse_array_tok): comma-separated ``N``, ``N-M``
        and ``N-M:S``, brackets allowed around them. Every id and step must be below ``limit``
        (MaxArraySize); anything else raises :class:`TaskSetError`. An empty set is an error too."""
        progressions = []
        for token in text.split(","):
            m = _TOKEN.fullmatch(token.strip())
            if m is None:
                raise TaskSetError(f"invalid task expression {token!r}")
            first = int(m.group(1))
            last = int(m.group(2)) if m.group(2) is not None else first
            step = int(m.group(3)) if m.group(3) is not None else 1
            if last < first or step <= 0 or step >= limit or last >= limit:
                raise TaskSetError(f"invalid task expression {token!r}")
            progressions.append((first, last, step))
        if len(progressions) == 1:
            return cls.progression(*progressions[0])
        return cls._union(progressions)

    @classmethod
    def _union(cls, progressions: list[tuple[int, int, int]]) -> TaskSet:
        """The union of many progressions in time linear in the highest id (times the number of
        distinct steps), whatever the number of tokens: progressions of one step and residue are
        merged first, then laid into a byte per task and read back as one int."""
        by_class: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for first, last, step in progressions:
            last -= (last - first) % step  # the last id actually in the progression
            by_class.setdefault((step, first % step), []).append((first, last))
        size = max(last for _, last, _ in progressions) + 1
        flags = bytearray(size)
        for (step, _), spans in by_class.items():
            spans.sort()
            start, end = spans[0]
            for first, last in spans[1:]:
                if first > end + step:
                    flags[start : end + 1 : step] = b"\x01" * ((end - start) // step + 1)
                    start = first
                end = max(end, last)
            flags[start : end + 1 : step] = b"\x01" * ((end - start) // step + 1)
        return cls(int(flags.translate(_BINARY_DIGITS)[::-1], 2))

    @classmethod
    def from_hex(cls, text: str) -> TaskSet:
        """From slurmctld's hex mask ("0x1F", bit_fmt_hexmask)."""
        digits = text[2:] if text[:2].lower() == "0x" else text
        return cls(int(digits or "0", 16))

    @classmethod
    def from_text(cls, text: str) -> TaskSet:
        """From :meth:`to_text` (or a hex mask)."""
        if text.startswith("0x"):
            return cls.from_hex(text)
        if not text:
            return cls()
        runs: list[tuple[int, int]] = []
        for token in text.split(","):
            low, _, high = token.partition("-")
            runs.append((int(low), int(high or low)))
        if all(0 <= a <= b for a, b in runs) and all(r[1] + 1 < q[0] for r, q in itertools.pairwise(runs)):
            # maximal runs, as to_text writes them: the binary text of the int, highest bit first
            pieces: list[str] = []
            above = runs[-1][1] + 1  # the lowest id above the run being written
            for first, last in reversed(runs):
                pieces.append("0" * (above - last - 1) + "1" * (last - first + 1))
                above = first
            pieces.append("0" * above)
            return cls(int("".join(pieces), 2), tuple(runs))
        bits = 0
        for first, last in runs:
            bits |= cls.progression(first, last)._bits
        return cls(bits)

    # -- reading ------------------------------------------------------------------------------
    @property
    def bits(self) -> int:
        return self._bits

    def __len__(self) -> int:
        if self._count < 0:
            self._count = self._bits.bit_count()
        return self._count

    def __bool__(self) -> bool:
        return self._bits != 0

    def __contains__(self, task: object) -> bool:
        return isinstance(task, int) and task >= 0 and bool(self._bits >> task & 1)

    def first(self) -> int:
        """The lowest task id."""
        if not self._bits:
            raise ValueError("empty task set")
        if self._runs is not None:
            return self._runs[0][0]
        return (self._bits & -self._bits).bit_length() - 1

    def last(self) -> int:
        """The highest task id."""
        if not self._bits:
            raise ValueError("empty task set")
        return self._bits.bit_length() - 1

    def runs(self) -> tuple[tuple[int, int], ...]:
        """Maximal runs of consecutive ids, (first, last), ascending."""
        if self._runs is None:
            bits = self._bits
            starts = _set_bits(bits & ~(bits << 1))
            ends = _set_bits(bits & ~(bits >> 1))
            self._runs = tuple(zip(starts, ends, strict=True))
        return self._runs

    def _run_count(self) -> int:
        if self._runs is not None:
            return len(self._runs)
        return (self._bits & ~(self._bits << 1)).bit_count()

    def __iter__(self) -> Iterator[int]:
        for first, last in self.runs():
            yield from range(first, last + 1)

    def ranges(self) -> str:
        """SLURM's range text: "1-3,5,7-9" ("" for an empty set)."""
        return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in self.runs())

    def hex(self, size: int = 0) -> str:
        """slurmctld's hex mask of a bitmap of ``size`` bits (at least the highest id + 1):
        ceil(size/4) upper-case digits, "0x0" when empty and sizeless."""
        digits = (max(size, self._bits.bit_length()) + 3) // 4
        return "0x" + (format(self._bits, "X").rjust(digits, "0") if digits else "0")

    def to_text(self) -> str:
        """A compact persistent form: the range text when short, else the hex mask (whose length
        is bounded by the highest id, whatever the pattern)."""
        hex_len = (self._bits.bit_length() + 3) // 4 + 2
        if 2 * self._run_count() > hex_len:
            return self.hex()  # so many runs that their text is longer in any case
        out: list[str] = []
        size = 0
        for a, b in self.runs():
            part = f"{a}-{b}" if a != b else str(a)
            size += len(part) + 1
            if size > hex_len:
                return self.hex()
            out.append(part)
        return ",".join(out)

    # -- set algebra (new sets; a TaskSet never changes) ----------------------------------------
    def __or__(self, other: TaskSet) -> TaskSet:
        return TaskSet(self._bits | other._bits)

    def __and__(self, other: TaskSet) -> TaskSet:
        return TaskSet(self._bits & other._bits)

    def __sub__(self, other: TaskSet) -> TaskSet:
        return TaskSet(self._bits & ~other._bits)

    def without(self, task: int) -> TaskSet:
        if task not in self:
            return self
        runs = None
        if self._runs is not None:
            i = bisect.bisect_right(self._runs, (task, _NO_LIMIT)) - 1
            first, last = self._runs[i]
            parts = tuple(r for r in ((first, task - 1), (task + 1, last)) if r[0] <= r[1])
            runs = self._runs[:i] + parts + self._runs[i + 1 :]
        return TaskSet(self._bits ^ (1 << task), runs)

    def isdisjoint(self, other: TaskSet) -> bool:
        return not self._bits & other._bits

    def __le__(self, other: TaskSet) -> bool:
        return not self._bits & ~other._bits

    def __ge__(self, other: TaskSet) -> bool:
        return other <= self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TaskSet) and self._bits == other._bits

    def __hash__(self) -> int:
        return hash(self._bits)

    def __repr__(self) -> str:
        return f"TaskSet({self.ranges()!r})"


EMPTY = TaskSet()
_NO_LIMIT = 1 << 64
_ONE = re.compile("1")
_CHUNK = 4096  # bytes of the bitmap looked at together when finding its set bits


def _set_bits(bits: int) -> list[int]:
    """The positions of the set bits of a sparse int, ascending: zero chunks of its bytes are
    skipped at C speed, only the chunks holding set bits are looked at bit by bit."""
    data = bits.to_bytes((bits.bit_length() + 7) // 8, "little")
    zero = bytes(_CHUNK)
    out: list[int] = []
    for offset in range(0, len(data), _CHUNK):
        chunk = data[offset : offset + _CHUNK]
        if chunk == zero[: len(chunk)]:
            continue
        text = format(int.from_bytes(chunk, "little"), "b")[::-1]  # character i is bit i
        out.extend(offset * 8 + m.start() for m in _ONE.finditer(text))
    return out
