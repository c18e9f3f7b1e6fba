"""The package's import graph has no cycle: no module imports, directly or through others, itself.

Two graphs are checked. Imports that run when a module is imported (module level, outside ``if
TYPE_CHECKING``) must have no cycle, or a module could be used half-initialised. And all imports,
those inside functions too, must have none either: a function-level import that closes a cycle only
hides two modules that depend on each other (a sign that a concept is split between them). The
graphs are read from the source with :mod:`ast`, so the test imports nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "csmsasr_utils"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _load_time_imports(
    tree: ast.Module, module: str, is_package: bool, modules: set[str], *, inside_functions: bool = False
) -> set[str]:
    """Package modules that ``module`` imports at import time (or anywhere, ``inside_functions=True``)."""
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if inside_functions and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(node.body)
            elif isinstance(node, (ast.With, ast.For, ast.While)) and inside_functions:
                visit(node.body)
            elif isinstance(node, ast.If):
                test = ast.unparse(node.test)
                if "TYPE_CHECKING" not in test:
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.finalbody)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: resolve against this module's package
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    name = f"{source}.{alias.name}"
                    found.add(name if name in modules else source)

    visit(tree.body)
    return {name for name in found if name in modules and name != module}


def _graph(*, inside_functions: bool = False) -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(path) for path in paths}
    return {
        _module_name(path): _load_time_imports(
            ast.parse(path.read_text(encoding="utf-8")),
            _module_name(path),
            path.name == "__init__.py",
            modules,
            inside_functions=inside_functions,
        )
        for path in paths
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first search (each reported once, from where it was entered)."""
    cycles, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_graph_sees_module_level_imports_only():
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nimport csmsasr_utils.errors\nfrom csmsasr_utils import settings\n"
        "if TYPE_CHECKING:\n    import csmsasr_utils.stats\ndef f():\n    import csmsasr_utils.plots\n"
    )
    modules = {"csmsasr_utils.errors", "csmsasr_utils.settings", "csmsasr_utils.stats", "csmsasr_utils.plots"}
    assert _load_time_imports(tree, "csmsasr_utils.x", False, modules) == {
        "csmsasr_utils.errors",
        "csmsasr_utils.settings",
    }
    assert _load_time_imports(tree, "csmsasr_utils.x", False, modules, inside_functions=True) == {
        "csmsasr_utils.errors",
        "csmsasr_utils.settings",
        "csmsasr_utils.plots",
    }


def test_the_package_has_no_import_cycle():
    graph = _graph()
    assert "csmsasr_utils.msa.registry" in graph and "csmsasr_utils.settings" in graph
    assert _cycles(graph) == []
    everywhere = _graph(inside_functions=True)
    assert "csmsasr_utils.msa.bert" in everywhere["csmsasr_utils.msa.registry"]  # a function-level import, seen
    assert _cycles(everywhere) == []
