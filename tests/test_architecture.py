"""The shape of the code: the import graph of `ioc` has no cycle, rooms stay apart,
and no module of `ioc` grows past 500 lines.

The graph is read statically (ast) from every import statement, at module level or
inside functions, absolute or relative; imports under `if TYPE_CHECKING:` are skipped,
since they never run.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("ingest", "camera_adapters", "dashboards", "sample_feeds")
MAX_LINES = 500
# Files that are data tables, not code; exempt from the size limit.
DATA_TABLES: frozenset[str] = frozenset()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(package: str) -> dict[str, Path]:
    """Every module of a top-level package, by dotted name."""
    return {module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of import nodes inside `if TYPE_CHECKING:` blocks."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for inner in node.body:
                    skipped.update(id(n) for n in ast.walk(inner))
    return skipped


def imported_names(name: str, path: Path) -> Iterator[str]:
    """Dotted names imported by a module (for `from a import b`, both a and a.b)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped = _type_checking_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            yield base
            for alias in node.names:
                yield f"{base}.{alias.name}"


def import_graph(package: str) -> dict[str, set[str]]:
    """module -> modules of the package it imports, including the packages whose
    __init__ an import runs (those the importer is not itself inside of)."""
    mods = modules(package)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for target in imported_names(name, path):
            if target not in mods:
                continue
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                step = ".".join(parts[:i])
                if step in mods and step != name and not name.startswith(step + "."):
                    graph[name].add(step)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that returns to its start, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_cycle_finder_finds_a_cycle_through_a_package_init():
    graph = {
        "ioc.store": {"ioc.store.base"},
        "ioc.store.base": {"ioc.alarms"},
        "ioc.alarms": {"ioc.store"},
        "ioc.events": set(),
    }
    assert find_cycle(graph) == ["ioc.alarms", "ioc.store", "ioc.store.base", "ioc.alarms"]
    graph["ioc.alarms"] = {"ioc.events"}
    assert find_cycle(graph) is None


def test_relative_and_function_level_imports_are_edges(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import a\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from ..b import g\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub import a\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    graph = import_graph("pkg")
    assert graph["pkg.sub"] == {"pkg.sub.a"}
    assert graph["pkg.sub.a"] == {"pkg.b"}
    assert graph["pkg.b"] == set(), "TYPE_CHECKING imports never run"


def test_the_ioc_package_has_no_import_cycle():
    cycle = find_cycle(import_graph("ioc"))
    assert cycle is None, "import cycle in ioc: " + " -> ".join(cycle or [])


def test_the_store_imports_no_kpi_reads_and_the_domain_facts_no_store():
    graph = import_graph("ioc")
    store = {m for m in graph if m == "ioc.store" or m.startswith("ioc.store.")}
    for m in store:
        assert not any(t == "ioc.kpi" or t.startswith("ioc.kpi.") for t in graph[m]), m
    for m in ("ioc.facts", "ioc.alarms"):
        assert not graph[m] & store, f"{m} must sit below the store"


def test_rooms_never_import_each_other_and_ioc_imports_no_room():
    for package in ("ioc", *ROOMS):
        for name, path in modules(package).items():
            for target in imported_names(name, path):
                room = target.partition(".")[0]
                if room in ROOMS and room != package:
                    raise AssertionError(f"{name} imports {target}: rooms import only ioc")
                if room == "bench":
                    raise AssertionError(
                        f"{name} imports {target}: the product never imports bench"
                    )


def test_no_module_of_ioc_is_over_500_lines():
    too_long = {}
    for path in sorted((ROOT / "ioc").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in DATA_TABLES:
            continue
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES:
            too_long[rel] = n
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"
