"""The architecture, as a test: imports run down the layers, modules and functions stay small,
and every package folder is distributed (docs/architecture.md draws the same picture; cycles:
test_import_cycles.py)."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"livejobs": ROOT / "server", "livejobs_sdk": ROOT / "worker_sdk"}

#: livejobs' layers, top first (docs/architecture.md): a module may import its own layer and
#: the ones below it, never one above. A module's layer is its longest matching prefix.
LAYERS: list[tuple[str, ...]] = [
    # the command, and the generator of names for the SDK and the dashboard
    ("livejobs.cli", "livejobs.__main__", "livejobs.names"),
    # the process: routes and lifespan, graceful shutdown, backups
    ("livejobs.app", "livejobs.shutdown", "livejobs.backup"),
    # sockets and HTTP in, calls out
    ("livejobs.edges",),
    ("livejobs.state",),
    # the method table and its handlers
    (
        "livejobs.methods",
        "livejobs.methods_jobs",
        "livejobs.methods_types",
        "livejobs.methods_admin",
        "livejobs.methods_stats",
    ),
    ("livejobs.context",),
    # everything that reads the change feed; credentials follow token changes to sessions
    ("livejobs.runtime", "livejobs.credentials"),
    # a connection without I/O: its outbox, the flusher, the order of its calls
    ("livejobs.session", "livejobs.flusher", "livejobs.call_order"),
    # the only writers of jobs, and who may do and see what
    (
        "livejobs.service",
        "livejobs.auth",
        "livejobs.auth_limit",
        "livejobs.permissions",
        "livejobs.visibility",
    ),
    ("livejobs.store",),
    # pure: the job domain, filters, the wire's types, frames and shared runs of frames
    (
        "livejobs.jobs",
        "livejobs.query",
        "livejobs.search",
        "livejobs.params",
        "livejobs.protocol",
        "livejobs.runs",
    ),
    # foundations every layer may use
    (
        "livejobs.settings",
        "livejobs.roles",
        "livejobs.errors",
        "livejobs.clock",
        "livejobs.logs",
        "livejobs.untrusted",
        "livejobs.failures",
        "livejobs.gc_tuning",
    ),
]


def modules() -> Iterator[tuple[str, Path]]:
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join((package, *parts)), path


def imports(name: str, path: Path) -> Iterator[str]:
    """Every module ``path`` imports, typing-only and function-local imports included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def layer_of(name: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if name == prefix or name.startswith(prefix + "."):  # never the bare root
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), rank)
    return None if best is None else best[1]


ALL = dict(modules())


def test_every_module_has_a_layer() -> None:
    assert [name for name in ALL if name.startswith("livejobs.") and layer_of(name) is None] == []
    assert all(len(prefix.split(".")) == 2 for layer in LAYERS for prefix in layer)


def test_imports_run_down_the_layers() -> None:
    upward = []
    for name, path in ALL.items():
        if not name.startswith("livejobs"):
            continue
        own = layer_of(name)
        for target in set(imports(name, path)):
            if target not in ALL or target == "livejobs":
                continue
            if name.startswith("livejobs_sdk"):
                if not target.startswith("livejobs_sdk"):
                    upward.append(f"{name} -> {target} (the SDK imports nothing of the server)")
                continue
            if target.startswith("livejobs_sdk"):
                if not name.startswith("livejobs.cli"):
                    upward.append(f"{name} -> {target} (only the client commands use the SDK)")
                continue
            theirs = layer_of(target)
            if own is not None and theirs is not None and theirs < own:
                upward.append(f"{name} -> {target}")
    assert upward == []


@pytest.mark.parametrize("name", sorted(ALL))
def test_modules_and_functions_stay_small(name: str) -> None:
    source = ALL[name].read_text()
    assert source.count("\n") <= 400, f"{name}: {source.count(chr(10))} lines"
    long = [
        f"{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > 60
    ]
    assert long == []


def test_every_package_folder_is_distributed() -> None:
    def listed(pyproject: Path) -> set[str]:
        return set(tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["packages"])

    folders = {name for name, path in ALL.items() if path.name == "__init__.py"}
    assert folders <= listed(ROOT / "pyproject.toml") | listed(
        ROOT / "worker_sdk" / "pyproject.toml"
    )
