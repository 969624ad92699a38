"""slurm.conf text -> logical lines and key=value pairs, by the rules of SLURM's parse_config.c.

* A ``#`` starts a comment unless an odd number of backslashes precedes it (``\\#`` is a literal ``#``).
  Comments are stripped per physical line, before continuation.
* A line whose last non-blank character is an odd-numbered trailing backslash continues on the next
  line: the backslash (and the blanks after it) go, the next line is glued on with no separator.
* After joining, every backslash is an escape: ``\\x`` becomes ``x`` (so ``\\\\`` is one backslash).
* A pair is ``Key=Value`` with optional blanks around ``=``; the key is ``[A-Za-z0-9_.]+``, an
  operator ``+ - * /`` may precede ``=`` (ignored in slurm.conf), and the value is either
  ``"quoted, may hold blanks"`` or a run of non-blank characters; a blank or the end must follow.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["BLANKS", "LogicalLine", "Pair", "is_blank", "logical_lines", "match_pair"]

# C isspace() in the C locale.
BLANKS = " \t\n\r\f\v"

_PAIR_RE = re.compile(
    r"[ \t\n\r\f\v]*"
    r"(?P<key>[A-Za-z0-9_.]+)"
    r"[ \t\n\r\f\v]*(?P<op>[-*+/]?)=[ \t\n\r\f\v]*"
    r'(?:"(?P<quoted>[^"]*)"|(?P<plain>[^ \t\n\r\f\v]+))'
    r"(?=[ \t\n\r\f\v]|\Z)"
)


@dataclass(frozen=True, slots=True)
class LogicalLine:
    """One line as SLURM's parser sees it.

    ``text`` has comments, continuations and escapes processed and may end with the newline.
    ``line`` is the 1-based number of its first physical line, ``last_line`` of its last one;
    ``start``/``end`` are character offsets of the physical lines (newline included) in the source.
    """

    text: str
    line: int
    last_line: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Pair:
    key: str
    op: str
    value: str
    quoted: bool
    start: int  # offset of the key in the searched string
    value_start: int
    value_end: int  # offset after the value (after the closing quote if quoted)


def is_blank(text: str) -> bool:
    return all(ch in BLANKS for ch in text)


def _strip_comment(line: str) -> str:
    backslashes = 0
    for index, ch in enumerate(line):
        if ch == "#" and backslashes % 2 == 0:
            return line[:index]
        backslashes = backslashes + 1 if ch == "\\" else 0
    return line


def _continuation_cut(line: str) -> int | None:
    """Where to cut a line that continues (the position of its last backslash), or None."""
    backslashes = 0
    index = len(line) - 1
    while index >= 0:
        ch = line[index]
        if ch == "\\":
            backslashes += 1
        elif ch in BLANKS and backslashes == 0:
            pass
        else:
            break
        index -= 1
    if backslashes % 2 == 1:
        return index + backslashes
    return None


def _strip_escapes(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        ch = text[index]
        if ch == "\\":
            index += 1
            if index < len(text):
                out.append(text[index])
        else:
            out.append(ch)
        index += 1
    return "".join(out)


def _physical_lines(text: str) -> Iterator[tuple[str, int]]:
    """Lines as fgets() returns them (newline kept), with their start offset."""
    pos = 0
    while pos < len(text):
        newline = text.find("\n", pos)
        end = len(text) if newline < 0 else newline + 1
        yield text[pos:end], pos
        pos = end


def logical_lines(text: str) -> Iterator[LogicalLine]:
    """Every logical line of a slurm.conf text, empty ones included."""
    number = 0
    pending: list[str] = []
    first_number = 0
    first_start = 0
    for physical, start in _physical_lines(text):
        number += 1
        if not pending:
            first_number, first_start = number, start
        stripped = _strip_comment(physical)
        cut = _continuation_cut(stripped)
        if cut is not None:
            pending.append(stripped[:cut])
            continue
        pending.append(stripped)
        yield LogicalLine(
            _strip_escapes("".join(pending)), first_number, number, first_start, start + len(physical)
        )
        pending = []
    if pending:
        yield LogicalLine(_strip_escapes("".join(pending)), first_number, number, first_start, len(text))


def match_pair(text: str, pos: int = 0) -> Pair | None:
    """The key=value pair starting at ``pos`` (after optional blanks), or None."""
    m = _PAIR_RE.match(text, pos)
    if m is None:
        return None
    quoted = m.group("quoted")
    if quoted is not None:
        return Pair(
            m.group("key"), m.group("op"), quoted, True, m.start("key"), m.start("quoted") - 1, m.end()
        )
    return Pair(
        m.group("key"), m.group("op"), m.group("plain"), False, m.start("key"), m.start("plain"), m.end()
    )
