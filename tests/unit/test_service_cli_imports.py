"""Issue 22's arrows for the service layer and the command line, read from the source: the
service takes domain values (it imports no wire types and no method layer), the methods reach
the store only through it, and the server-side commands import no SDK."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[2] / "server"


def imports(module: str) -> set[str]:
    """Every module ``module`` imports, at any depth of its code (typing-only imports too)."""
    parts = module.split(".")[1:]
    path = SERVER.joinpath(*parts)
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def reach(module: str) -> set[str]:
    """What ``module`` imports, following imports inside the same package."""
    package = module.rsplit(".", 1)[0]
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        for name in imports(current):
            if name not in seen:
                seen.add(name)
                if name.startswith(package + ".") and _is_module(name):
                    todo.append(name)
    return seen


def _is_module(name: str) -> bool:
    path = SERVER.joinpath(*name.split(".")[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


@pytest.mark.parametrize("module", ["livejobs.cli.server", "livejobs.cli.common"])
def test_server_side_commands_import_no_sdk(module):
    reached = reach(module)
    assert not {n for n in reached if n.startswith("livejobs_sdk")}
    assert "livejobs.cli.client" not in reached


@pytest.mark.parametrize(
    "module",
    [
        "livejobs.service",
        "livejobs.service.core",
        "livejobs.service.create",
        "livejobs.service.work",
        "livejobs.service.by_filter",
    ],
)
def test_the_service_takes_domain_values(module):
    above = ("livejobs.params", "livejobs.methods", "livejobs.context", "livejobs.session")
    assert not {n for n in imports(module) if n.startswith(above)}


@pytest.mark.parametrize("module", ["livejobs.methods_jobs", "livejobs.context"])
def test_methods_reach_the_store_only_through_the_service(module):
    source = (SERVER / f"{module.split('.')[1]}.py").read_text()
    assert "services.store" not in source
