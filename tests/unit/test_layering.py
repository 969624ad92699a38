"""The rooms of src/flurm import downwards only, and no two rooms import each other (README, Architecture).

Every import counts, those under ``if TYPE_CHECKING:`` and those inside functions included: a type
that names a room above is a dependency on it all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "flurm"

# Each room with its level: a module may import its own room and the rooms of lower levels only.
LEVELS: dict[str, int] = {
    "flurm": 0,  # the package itself: __version__
    "protocol": 0,
    "config": 1,
    "errors": 1,
    "users": 1,
    "modes": 1,
    "auth": 2,
    "state": 3,
    "scheduler": 4,
    "rpc": 5,
    "controller": 6,
    "nodes": 7,
    "accounting": 7,
    "migration": 7,
    "api": 8,
    "daemon": 9,
    "cli": 10,
}
# The engine is built by the composition root alone; the rooms above see it through controller/ports.py.
ENGINE = "flurm.controller.engine"
ENGINE_USERS = {"controller", "daemon"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def room_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports_of(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, imported module) for every flurm import in the file, relative ones resolved."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    text = path.read_text() if source is None else source
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # ``from flurm import x`` imports the module flurm.x when there is one
            if target == "flurm":
                found += [(node.lineno, f"flurm.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, target))
    return [(line, name) for line, name in found if name == "flurm" or name.startswith("flurm.")]


def import_graph() -> dict[str, list[tuple[int, str]]]:
    return {module_name(p): imports_of(p) for p in sorted(SRC.rglob("*.py"))}


def test_every_module_has_a_room() -> None:
    unknown = sorted({room_of(m) for m in import_graph()} - LEVELS.keys())
    assert not unknown, f"modules outside the known rooms (add them to LEVELS and README): {unknown}"


def test_imports_run_downwards_only() -> None:
    upwards: list[str] = []
    for module, imported in import_graph().items():
        room = room_of(module)
        for line, target in imported:
            if target == "flurm.__version__":
                target = "flurm"
            other = room_of(target)
            if other == room:
                continue
            if LEVELS.get(other, 99) >= LEVELS[room]:
                upwards.append(f"{module}:{line} imports {target} ({room} may not import {other})")
            if target == ENGINE and room not in ENGINE_USERS:
                upwards.append(f"{module}:{line} imports the engine: use controller/ports.py")
    assert not upwards, "imports that go upwards or sideways:\n" + "\n".join(upwards)


def test_no_cycle_between_rooms() -> None:
    edges: dict[str, set[str]] = {}
    for module, imported in import_graph().items():
        room = room_of(module)
        for _, target in imported:
            if room_of(target) != room:
                edges.setdefault(room, set()).add(room_of(target))

    def cycle_from(start: str) -> list[str] | None:
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            room, path = stack.pop()
            for nxt in sorted(edges.get(room, ())):
                if nxt == start:
                    return [*path, nxt]
                if nxt not in path:
                    stack.append((nxt, [*path, nxt]))
        return None

    cycles = [c for c in (cycle_from(r) for r in sorted(edges)) if c is not None]
    assert not cycles, "rooms that import each other: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_walker_sees_type_checking_function_and_relative_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from flurm.controller.engine import Controller\n"
        "def f() -> None:\n"
        "    from ..nodes import agent\n"
    )
    found = imports_of(SRC / "state" / "probe.py", source)  # a module of state/, parsed from text
    assert (3, "flurm.controller.engine") in found
    assert (5, "flurm.nodes") in found
