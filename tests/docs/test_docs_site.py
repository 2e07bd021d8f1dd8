"""The documentation site builds from docs/ with MkDocs in strict mode: a warning (a broken
link or anchor, a page missing from the nav, a docstring mkdocstrings cannot read) fails it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from livejobs.edges.http_openapi import openapi

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(300)


def _link_import_names() -> None:
    """build/typing/livejobs -> server, livejobs_sdk -> worker_sdk, as `make lint` and `make
    docs` make them: mkdocstrings reads the SDK under its import name from there."""
    typing = ROOT / "build" / "typing"
    typing.mkdir(parents=True, exist_ok=True)
    for name, folder in (("livejobs", "server"), ("livejobs_sdk", "worker_sdk")):
        link = typing / name
        if not link.is_symlink():
            link.symlink_to(Path("..", "..", folder))


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    _link_import_names()
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    assert "WARNING" not in run.stderr, run.stderr[-5000:]
    pages = {p.parent.name for p in site.glob("*/index.html")}
    assert {"getting-started", "concepts", "sdk", "http", "protocol", "security"} <= pages
    assert {"guarantees", "operations", "comparison", "changelog"} <= pages
    sdk = (site / "sdk" / "index.html").read_text()
    for name in ("Client", "SyncClient", "Tasks", "WorkerJob"):
        assert f'id="livejobs_sdk.{name}"' in sdk, name  # documented from its docstrings
    # the calls Client takes from its base (a type's rules) are documented as its own
    assert 'id="livejobs_sdk.Client.set_type_limits"' in sdk
    http = (site / "http" / "index.html").read_text()
    for path in openapi()["paths"]:
        assert path in http, path
    assert json.loads((site / "openapi.json").read_text()) == openapi()
