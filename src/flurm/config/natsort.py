"""Natural-order string comparison as SLURM's strnatcmp() does it (the order of slurmctld's node table).

Runs of digits compare by value (``n2`` < ``n10``); a run starting with ``0`` compares digit by digit
from the left (``n01`` < ``n1``, ``n007`` < ``n07``); blanks before a character are skipped; all
other characters compare by code point, case-sensitively.
"""

from __future__ import annotations

from functools import cmp_to_key

__all__ = ["natural_key", "strnatcmp"]

_BLANKS = " \t\n\r\f\v"


def _at(text: str, index: int) -> str:
    return text[index] if index < len(text) else ""


def _digit(ch: str) -> bool:
    return "0" <= ch <= "9" and ch != ""


def _compare_aligned_right(a: str, i: int, b: str, j: int) -> int:
    """Two digit runs as integers: the longer run wins, else the first differing digit decides."""
    bias = 0
    while True:
        da, db = _digit(_at(a, i)), _digit(_at(b, j))
        if not da and not db:
            return bias
        if not da:
            return -1
        if not db:
            return 1
        if not bias and a[i] != b[j]:
            bias = -1 if a[i] < b[j] else 1
        i += 1
        j += 1


def _compare_aligned_left(a: str, i: int, b: str, j: int) -> int:
    """Two digit runs as fractions: the first differing digit decides, a shorter run is smaller."""
    while True:
        da, db = _digit(_at(a, i)), _digit(_at(b, j))
        if not da and not db:
            return 0
        if not da:
            return -1
        if not db:
            return 1
        if a[i] != b[j]:
            return -1 if a[i] < b[j] else 1
        i += 1
        j += 1


def strnatcmp(a: str, b: str) -> int:
    """-1, 0 or 1, like SLURM's strnatcmp(a, b)."""
    i = j = 0
    while True:
        while _at(a, i) and a[i] in _BLANKS:
            i += 1
        while _at(b, j) and b[j] in _BLANKS:
            j += 1
        ca, cb = _at(a, i), _at(b, j)
        if _digit(ca) and _digit(cb):
            if ca == "0" or cb == "0":
                result = _compare_aligned_left(a, i, b, j)
            else:
                result = _compare_aligned_right(a, i, b, j)
            if result:
                return result
        if not ca and not cb:
            return 0
        if ca != cb:
            return -1 if ca < cb else 1
        i += 1
        j += 1


natural_key = cmp_to_key(strnatcmp)
