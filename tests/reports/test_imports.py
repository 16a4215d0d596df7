"""The reports package has no import cycles, and the report model never pulls in a renderer."""

from __future__ import annotations

import ast
from pathlib import Path

import reports

ROOT = Path(reports.__file__).parent


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _imports(name: str) -> set[str]:
    """Every reports module ``name`` imports, at any depth of its code (function-level imports count)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("reports"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in MODULES else node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in MODULES)
    out.discard(name)
    return out


GRAPH = {name: _imports(name) for name in MODULES}


def _cycle() -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(GRAPH.get(n, ())):
            if m.startswith(n + "."):  # a package's __init__ importing its own submodules is no cycle
                continue
            if state.get(m) == 1 and not n.startswith(m + "."):
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(GRAPH):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_reports_has_no_import_cycle():
    assert _cycle() is None, " -> ".join(_cycle() or [])


def test_the_cycle_finder_finds_a_cycle():
    GRAPH["reports.model"].add("reports.render_json")  # render_json imports model: a cycle
    try:
        assert _cycle() is not None
    finally:
        GRAPH["reports.model"].discard("reports.render_json")


def test_the_report_model_never_imports_a_renderer():
    seen, todo = set(), ["reports.model"]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(GRAPH.get(n, ()))
    assert not {n for n in seen if "render" in n or n in ("reports.report", "reports.tables")}, seen
