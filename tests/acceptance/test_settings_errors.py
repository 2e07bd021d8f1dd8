"""A bad setting stops ``livejobs`` at once with one line that names the setting and where its
value came from (flag, environment variable or TOML file), exit 2 and no traceback.

Each case is the real command in a subprocess: before settings were validated, ``--port 99999``
served on a random port, ``--lease -5`` served and failed every job, ``--log-format xml`` was
ignored, and ``--log-level loud`` / ``--synchronous FOO`` ended in tracebacks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ROOT

#: a server that starts instead of refusing would run until this kills it: the test then fails
PATIENCE = 20


def livejobs(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIVEJOBS_")}
    try:
        return subprocess.run(
            [sys.executable, "-m", "livejobs.cli", *args],
            cwd=tmp_path,
            env={**clean, "PYTHONPATH": str(ROOT), **(env or {})},
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"livejobs {' '.join(args)} did not refuse its settings; it ran on")


def assert_refused(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--port", "99999"], ["invalid setting port (from --port)", "65535", "99999"]),
        (["--lease", "-5"], ["invalid setting lease_seconds (from --lease)", "> 0", "-5"]),
        (["--log-format", "xml"], ["log_format (from --log-format)", "text, json", "'xml'"]),
        (["--log-level", "loud"], ["log_level (from --log-level)", "debug, info", "'loud'"]),
        (["--synchronous", "FOO"], ["sqlite_synchronous (from --synchronous)", "NORMAL, FULL"]),
        (["--shutdown-grace", "-1"], ["shutdown_grace (from --shutdown-grace)", ">= 0"]),
        (["--anonymous-role", "boss"], ["anonymous_role (from --anonymous-role)", "creator"]),
    ],
)
def test_serve_refuses_a_bad_flag(tmp_path, flags, expected):
    result = livejobs(tmp_path, "serve", "--db", str(tmp_path / "jobs.db"), *flags)
    assert_refused(result, *expected)
    assert not (tmp_path / "jobs.db").exists()  # refused before anything was created


def test_serve_names_the_environment_variable(tmp_path):
    result = livejobs(tmp_path, "serve", env={"LIVEJOBS_LEASE_SECONDS": "soon"})
    assert_refused(result, "invalid setting lease_seconds (from LIVEJOBS_LEASE_SECONDS)", "'soon'")


def test_serve_names_the_settings_file(tmp_path):
    config = tmp_path / "livejobs.toml"
    config.write_text('[livejobs]\nmax_batch = 0\nlog_format = "json"\n')
    assert_refused(
        livejobs(tmp_path, "serve", "--config", str(config)), f"max_batch (from {config})"
    )
    config.write_text("[livejobs]\nprot = 8001\n")
    result = livejobs(tmp_path, "serve", env={"LIVEJOBS_CONFIG": str(config)})
    assert_refused(result, f"unknown setting prot (from {config})")


def test_admin_and_worker_commands_load_settings_the_same_way(tmp_path):
    db = str(tmp_path / "jobs.db")
    result = livejobs(tmp_path, "user", "ls", "--db", db, env={"LIVEJOBS_MAX_BATCH": "-1"})
    assert_refused(result, "invalid setting max_batch (from LIVEJOBS_MAX_BATCH)")
    result = livejobs(tmp_path, "worker", "mod:fn", "--type", "t", "--log-level", "loud")
    assert_refused(result, "invalid setting log_level (from --log-level)")
    result = livejobs(
        tmp_path, "worker", "mod:fn", "--type", "t", env={"LIVEJOBS_LOG_FORMAT": "xml"}
    )
    assert_refused(result, "invalid setting log_format (from LIVEJOBS_LOG_FORMAT)")
