"""The names declared once on the server (statuses, roles, priorities, methods) reach the SDK
and the dashboard through generated files; these tests regenerate them and compare, so a
declaration changed without ``python -m livejobs.names`` fails here."""

from __future__ import annotations

import pytest

from livejobs import names
from livejobs.jobs.model import FINISHED, Status
from livejobs.methods import METHODS, TABLE, grants
from livejobs.roles import ROLE_GROUPS, ROLES, STAFF
from livejobs_sdk import names as sdk_names
from livejobs_sdk.limits import LEASE_CALLS
from livejobs_sdk.protocol import CREATES, RETRY_SAFE


@pytest.mark.parametrize(
    ("path", "build"),
    [(names.SDK_FILE, names.python_module), (names.WEB_FILE, names.js_module)],
    ids=["worker_sdk/names.py", "web/js/names.js"],
)
def test_generated_file_is_current(path, build):
    assert path.read_text() == build(), "run: python -m livejobs.names"


def test_check_mode_writes_nothing_and_fails_when_stale(tmp_path, monkeypatch):
    stale = tmp_path / "names.py"
    stale.write_text("STATUSES = ()\n")
    monkeypatch.setattr(names, "SDK_FILE", stale)
    monkeypatch.setattr(names, "ROOT", tmp_path.parent)
    assert names.main(["--check"]) == 1
    assert stale.read_text() == "STATUSES = ()\n"
    assert names.main([]) == 0 and stale.read_text() == names.python_module()


def test_the_sdk_reads_the_servers_declarations():
    assert sdk_names.STATUSES == tuple(Status)
    assert set(sdk_names.FINISHED) == set(FINISHED)
    assert sdk_names.ROLES == ROLES
    assert set(CREATES) == {"jobs.create", "jobs.create_many"}
    assert RETRY_SAFE >= CREATES and "jobs.find" in RETRY_SAFE and "jobs.done" not in RETRY_SAFE
    assert LEASE_CALLS == {m.name for m in TABLE if m.lease}


def test_every_method_is_listed_once_and_dispatched_unless_the_connection_answers_it():
    listed = [m.name for m in TABLE]
    assert len(listed) == len(set(listed))
    assert set(METHODS) == set(listed) - {"auth"}


def test_grants_read_off_the_table():
    """The grants as they were written by hand before the table (issue 22)."""
    granted = grants()
    assert set(granted) == set(ROLES) == set(ROLE_GROUPS)
    assert granted["admin"] == {m.name for m in TABLE}
    assert "jobs.claim" in granted["worker"] and "jobs.create" not in granted["worker"]
    assert "jobs.log" in granted["worker"] and "jobs.log" in granted["creator"]
    assert "workers.list" not in granted["creator"] and "workers.list" in granted["manager"]
    assert not any(name.startswith(("users.", "tokens.")) for name in granted["manager"])
    assert "types.set_limits" in granted["manager"] and "types.list" in granted["worker"]
    assert STAFF == {"admin", "manager"}


def test_a_workers_and_a_creators_methods_are_what_they_were():
    session = {"auth", "subscribe", "unsubscribe"}
    read = {"jobs.get", "jobs.find", "jobs.counts", "types.list", "types.watch"}
    read |= {"schedules.list"}
    work = {"worker.start", "worker.stop", "jobs.claim", "jobs.heartbeat", "jobs.log"}
    work |= {"jobs.progress", "jobs.done", "jobs.fail", "jobs.snooze"}
    work |= {"worker.pause", "worker.resume", "jobs.update_data"}  # issue 24
    control = {f"jobs.{a}" for a in ("cancel", "restart", "pause", "resume", "ready", "rerun")}
    control |= {"jobs.remove", "jobs.log", "jobs.clean", "jobs.drain"}  # the last two: check_bulk
    control |= {"jobs.set_priority", "jobs.set_delay"}  # its own queued jobs, as at creation
    assert grants()["worker"] == session | read | work | {"stats.history"}  # its types' totals
    assert grants()["creator"] == session | read | {"jobs.create", "jobs.create_many"} | control


def test_the_wire_types_take_the_declared_log_levels_and_backoffs():
    """``params`` spells them as ``Literal`` for msgspec; the SDK's constants come from the
    model's tuples: the two must not drift."""
    from typing import get_args, get_type_hints

    from livejobs import params
    from livejobs.jobs.model import BACKOFFS, LOG_LEVELS

    assert get_args(get_type_hints(params.Log)["level"]) == LOG_LEVELS
    assert get_args(get_type_hints(params.RetrySpec)["backoff"]) == BACKOFFS
    assert tuple(sdk_names.LOG_LEVELS) == LOG_LEVELS and tuple(sdk_names.BACKOFFS) == BACKOFFS
