"""The import graph reads top to bottom (docs/architecture.md, "Layers"): the layers contract in
pyproject.toml holds (import-linter), and no module imports, directly or through others, a module
that imports it back (function-level imports included: a lazy import is still a dependency)."""

from __future__ import annotations

import sys
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[2]


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's algorithm over the module graph: the groups of modules that import each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return groups


def test_no_import_cycles():
    graph = grimp.build_graph("evalkit", "datasets_adapters")
    # A package's __init__ naming its own submodules is not a cycle between stages.
    cycles = [g for g in strongly_connected(graph)]
    assert not cycles, "modules that import each other: " + "; ".join(" <-> ".join(g) for g in cycles)


def test_layers_contract_holds(monkeypatch):
    pytest.importorskip("importlinter")
    from importlinter import configuration
    from importlinter.application.use_cases import lint_imports

    configuration.configure()  # what the lint-imports command does before it reads the contracts
    monkeypatch.chdir(REPO)
    assert lint_imports(config_filename=str(REPO / "pyproject.toml")), "a layer imports upwards: run `lint-imports`"
