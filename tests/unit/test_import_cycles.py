"""No import cycle among the modules of ``livejobs`` (server/) and ``livejobs_sdk``
(worker_sdk/), read from the source with ``ast``: every import counts, those under
``TYPE_CHECKING`` and inside functions too, since a cycle of types is still a knot a reader
has to untie (issue 22)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: import name → folder (pyproject.toml's package-dir)
PACKAGES = {"livejobs": ROOT / "server", "livejobs_sdk": ROOT / "worker_sdk"}


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for name, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((name, *parts))] = path
    return found


def _is_package(module: str, known: dict[str, Path]) -> bool:
    return known[module].name == "__init__.py"


def imports(module: str, known: dict[str, Path]) -> set[str]:
    """The modules of ours that ``module`` imports, anywhere in its file."""
    tree = ast.parse(known[module].read_text(), str(known[module]))
    package = module if _is_package(module, known) else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # ``from livejobs import protocol`` imports a module; ``from x import Name`` not
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            if name in known:
                found.add(name)
    found.discard(module)
    return found


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[str, ...]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(tuple(sorted(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph = {module: imports(module, known) for module in known}
    # a package's own __init__ is imported with any of its modules: not an edge of its own
    for module, targets in graph.items():
        targets.difference_update(t for t in list(targets) if module.startswith(f"{t}."))
    return graph


def test_the_finder_sees_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [("a", "b", "c")]


def test_the_graph_reads_typing_only_imports(tmp_path: Path) -> None:
    (tmp_path / "one.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.two import X\n"
    )
    (tmp_path / "two.py").write_text("from pkg import one\n")
    known = {"pkg.one": tmp_path / "one.py", "pkg.two": tmp_path / "two.py"}
    assert imports("pkg.one", known) == {"pkg.two"}
    assert imports("pkg.two", known) == {"pkg.one"}


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles (typing-only imports count)"
