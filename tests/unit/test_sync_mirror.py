"""The sync client mirrors the async one: every public method of ``Client`` and every builder
and control of ``Job`` has a counterpart of the same name, so a new option or call cannot be
added to one side only (``time_limit`` and ``group`` once were)."""

from __future__ import annotations

import inspect

from livejobs_sdk import Client, SyncClient
from livejobs_sdk.job import Job
from livejobs_sdk.sync_jobs import SyncJob


def _public(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls) if not name.startswith("_")}


def test_every_client_method_has_a_sync_counterpart() -> None:
    missing = _public(Client) - _public(SyncClient)
    assert not missing, f"SyncClient lacks {sorted(missing)}"


def test_every_job_builder_and_control_has_a_sync_counterpart() -> None:
    missing = _public(Job) - _public(SyncJob)
    assert not missing, f"SyncJob lacks {sorted(missing)}"
