"""The web layer's own structure: routes reach the database only through services, and its
modules import each other one way (no circle between the app and its routes).

Read from the source with ``ast`` (every import counts: module level, in functions, and under
TYPE_CHECKING); the project-wide contracts are import-linter's (tests/test_architecture.py).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import vigil.web

ROOT = Path(vigil.web.__file__).parent


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every vigil module ``path`` imports (``from a import b`` counts a and a.b)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m.startswith("vigil")}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = {_module(p): _imports(p) for p in ROOT.rglob("*.py")}
    assert "vigil.web.api.alerts" in modules and "vigil.web.deps" in modules
    return modules


@pytest.mark.parametrize("lower", ["vigil.db", "vigil.repositories"])
def test_nothing_in_web_imports_the_database_layer(graph: dict[str, set[str]], lower: str) -> None:
    direct = sorted(
        f"{m} -> {i}"
        for m, imported in graph.items()
        for i in imported
        if i.split(".")[:2] == lower.split(".")
    )
    assert direct == [], "web must go through services: " + "; ".join(direct)


def test_web_modules_form_no_import_circle(graph: dict[str, set[str]]) -> None:
    edges = {m: {i for i in imported if i in graph and i != m} for m, imported in graph.items()}
    for package in [m for m in graph if (ROOT.parent.parent / m.replace(".", "/")).is_dir()]:
        for m in edges:  # importing a package's module does not import the package's siblings
            edges[m].discard(package) if any(
                i.startswith(package + ".") for i in edges[m]
            ) else None
    done: set[str] = set()

    def circle_from(module: str, path: list[str]) -> list[str]:
        for nxt in sorted(edges[module]):
            if nxt in path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done:
                found = circle_from(nxt, [*path, nxt])
                if found:
                    return found
        done.add(module)
        return []

    circles = [c for m in sorted(graph) if m not in done for c in [circle_from(m, [m])] if c]
    assert circles == [], "import circle: " + " -> ".join(circles[0])


def test_only_deps_reads_the_app_state() -> None:
    """No service locator in routes: ``request.app.state.x`` appears in deps.py (and where the
    app stores it) only."""
    readers = sorted(
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if re.search(r"app\.state\.\w", p.read_text())
        and p.name not in ("deps.py", "app.py", "state.py")
    )
    assert readers == []
    assert re.search(r"app\.state\.\w", (ROOT / "deps.py").read_text())
