"""The import graph of ``src``: no cycle anywhere, and the layers point one way only.

Every import counts, function-level ones included (an import moved into a function to dodge a
cycle is still that cycle): only those under ``if TYPE_CHECKING:`` are left out, since they
never run. An import names the module it loads (``from a.b import c`` is ``a.b.c`` when that is
a module, else ``a.b``); the package ``__init__`` a submodule import runs on the way is not an
edge, as in import-linter and grimp.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGES = ("domain", "projections", "adapters")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of the three packages, by dotted name."""
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((SRC / package).rglob("*.py"))
    }


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _type_checking(child):
            for orelse in child.orelse:
                yield from _imports_of(orelse)
            continue
        yield from _imports_of(child)


def _imports_of(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    else:
        yield from _imports(node)


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``src`` that one module imports (anywhere but under TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" for alias in node.names]
            targets = [t if t in known else base for t in targets]
        found.update(t for t in targets if t in known and t != name)
    return found


def graph() -> dict[str, set[str]]:
    """Each module of ``src`` and the modules of ``src`` it imports."""
    found = modules()
    known = set(found)
    return {name: imported(name, path, known) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_function_level_imports_and_skips_type_checking_ones() -> None:
    edges = graph()
    assert "domain.trial" in edges and edges["domain.policies"] >= {"domain.trial"}
    assert all(name.split(".")[0] in PACKAGES for name in edges)


def test_no_module_of_src_imports_itself_back_through_others() -> None:
    edges = graph()
    found = cycles(edges)
    described = [
        " -> ".join(c) + f"  (edges: {sorted((a, b) for a in c for b in edges[a] if b in c)})"
        for c in found
    ]
    assert not found, "import cycles:\n" + "\n".join(described)


def test_the_domain_imports_no_adapter_or_projection_and_projections_no_adapter() -> None:
    wrong = sorted(
        (name, target)
        for name, targets in graph().items()
        for target in targets
        if (name.startswith("domain") and target.split(".")[0] in ("adapters", "projections"))
        or (name.startswith("projections") and target.startswith("adapters"))
    )
    assert not wrong, f"imports against the layers: {wrong}"
