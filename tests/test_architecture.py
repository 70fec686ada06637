"""Layers the build enforces: the import-linter contracts in pyproject.toml, and no import cycles.

Each contract runs on its own, so a failure names the contract it breaks; the cycle check builds
vigil's import graph with grimp (import-linter's graph library) and fails on any circle between
modules, lazy (in-function) imports included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
    "contracts"
]


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): components of more than one node, or a node on itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterable[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(iter(children), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    found.append(sorted(component))
    return found


def import_cycles() -> list[list[str]]:
    graph = grimp.build_graph("vigil", cache_dir=None)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    return strongly_connected(edges)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": ["b"], "b": []}, []),
        ({"a": ["b"], "b": ["a"]}, [["a", "b"]]),
        ({"a": ["a"]}, [["a"]]),
        ({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}, [["a", "b", "c"]]),
        ({"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}, []),
    ],
)
def test_the_cycle_finder_finds_cycles(
    graph: dict[str, list[str]], expected: list[list[str]]
) -> None:
    assert strongly_connected(graph) == expected


def test_no_import_cycles_between_vigil_modules() -> None:
    cycles = import_cycles()
    assert cycles == [], (
        "import cycles (break them by moving the shared part lower):\n"
        + "\n".join(" <-> ".join(c) for c in cycles)
    )


def test_the_contracts_cover_the_layers() -> None:
    ids = {c["id"] for c in CONTRACTS}
    assert {"layers", "pipeline-no-db-no-cipher", "bench-only-from-cli", "domain-outside-db"} <= ids


@pytest.mark.parametrize("contract", [c["id"] for c in CONTRACTS])
def test_import_linter_contract_is_kept(contract: str) -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [str(lint), "--no-cache", "--no-logo", "--contract", contract],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
