"""The import graph of loadtests/, faults/ and reports/: no cycles, and the layers stay apart.

The graph is read from the source with ``ast``, not by importing: every ``import`` counts wherever
it stands, at module level or inside a function (function-level imports are how a cycle hides).
Imports under ``if TYPE_CHECKING:`` count too: they never run, but a type-only loop is still two
modules that depend on each other (the owner of the type belongs on one side). They also count for
the layering rules.

``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``. Importing
``a.b`` also runs ``a/__init__.py``, but that parent is always already importing when its own
submodule runs, so parent packages are not edges (they would make every re-exporting
``__init__`` look like a cycle).
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("loadtests", "faults", "reports")


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target`` at ``line``; ``typing_only`` when under ``if TYPE_CHECKING:``."""

    source: str
    target: str
    line: int
    typing_only: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            out[module_name(path)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, typing_only: bool = False):
    """Every Import/ImportFrom node with whether it sits under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, typing_only
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), True)
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), typing_only)
        else:
            yield from _imports(node, typing_only)


def edges_of(name: str, path: Path, modules: dict[str, Path]) -> list[Edge]:
    """Every import in ``path`` as an edge; targets outside the project keep their full name."""
    is_pkg = path.name == "__init__.py"
    out = []
    for node, typing_only in _imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                pkg = ".".join(base + ([node.module] if node.module else []))
            else:
                pkg = node.module or ""
            targets = [f"{pkg}.{a.name}" if f"{pkg}.{a.name}" in modules else pkg for a in node.names]
        out += [Edge(name, t, node.lineno, typing_only) for t in dict.fromkeys(targets)]
    return out


def import_graph() -> tuple[dict[str, Path], list[Edge]]:
    modules = all_modules()
    edges = [e for name, path in modules.items() for e in edges_of(name, path, modules)]
    return modules, edges


def strongly_connected(nodes: list[str], succ: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components with more than one module, or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # recursion depth is bounded by the module count (< 200)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(succ.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in succ.get(v, ()):
                found.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return found


def cycle_path(comp: list[str], succ: dict[str, set[str]], edges: list[Edge]) -> str:
    """One concrete cycle through ``comp``'s first module, with the line of each import."""
    start, members = comp[0], set(comp)
    paths = {start: [start]}
    todo = [start]
    while todo:  # breadth first inside the component, back to ``start``
        v = todo.pop(0)
        for w in sorted(succ[v] & members):
            if w == start:
                hops = paths[v] + [start]
                where = {(e.source, e.target): e.line for e in edges}
                return " -> ".join(f"{a} (line {where[(a, b)]})" for a, b in zip(hops, hops[1:], strict=False)) + f" -> {start}"
            if w not in paths:
                paths[w] = paths[v] + [w]
                todo.append(w)
    return " <-> ".join(comp)


def runtime_succ(modules: dict[str, Path], edges: list[Edge]) -> dict[str, set[str]]:
    succ: dict[str, set[str]] = {m: set() for m in modules}
    for e in edges:
        if e.target in modules:
            succ[e.source].add(e.target)
    return succ


def test_the_graph_sees_every_kind_of_import():
    """The walker itself: relative, absolute, function-level and TYPE_CHECKING imports all show."""
    modules, edges = import_graph()
    assert len(modules) >= 40, sorted(modules)
    pairs = {(e.source, e.target, e.typing_only) for e in edges}
    assert ("faults.proxy", "faults.link", False) in pairs  # from .link import Connection
    assert ("loadtests.protocol", "loadtests.protocol.conversation", False) in pairs  # a package __init__
    assert ("faults.server", "aiohttp", False) in pairs  # third party, kept by full name
    assert any(e.typing_only for e in edges), "no TYPE_CHECKING import seen"
    nested = [e for e in edges if e.source in modules and e.line > _first_def_line(modules[e.source])]
    assert nested, "no function-level import seen"


def _first_def_line(path: Path) -> int:
    tree = ast.parse(path.read_text())
    lines = [n.lineno for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    return min(lines, default=10**9)


def test_cycles_are_found_and_named():
    """The detector on a made-up graph: a three-module loop is reported with its path."""
    succ = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    comps = strongly_connected(list(succ), succ)
    assert comps == [["a", "b", "c"], ["e"]]
    edges = [Edge(s, t, i + 1, False) for i, (s, t) in enumerate([("a", "b"), ("b", "c"), ("c", "a")])]
    assert cycle_path(["a", "b", "c"], succ, edges) == "a (line 1) -> b (line 2) -> c (line 3) -> a"


def test_no_import_cycles():
    modules, edges = import_graph()
    succ = runtime_succ(modules, edges)
    comps = strongly_connected(list(modules), succ)
    assert not comps, "import cycles:\n" + "\n".join(cycle_path(c, succ, edges) for c in comps)


def _top(target: str) -> str:
    return target.split(".", 1)[0]


@pytest.mark.parametrize("pkg", ["faults", "reports"])
def test_faults_and_reports_never_import_locust_or_loadtests(pkg):
    _, edges = import_graph()
    bad = [e for e in edges if _top(e.source) == pkg and _top(e.target) in ("locust", "loadtests")]
    assert not bad, "\n".join(f"{e.source}:{e.line} imports {e.target}" for e in bad)


def test_the_protocol_core_imports_only_stdlib_orjson_and_itself():
    _, edges = import_graph()
    own = "loadtests.protocol"
    allowed = set(sys.stdlib_module_names) | {"orjson", "__future__"}
    bad = [e for e in edges if (e.source == own or e.source.startswith(own + "."))
           and not (e.target == own or e.target.startswith(own + ".")) and _top(e.target) not in allowed]
    protocol_edges = [e for e in edges if e.source.startswith(own)]
    assert protocol_edges, "the protocol package was not read"
    assert not bad, "\n".join(f"{e.source}:{e.line} imports {e.target}" for e in bad)
