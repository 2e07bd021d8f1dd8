"""Job documents, filters and sorts in MongoDB's shapes: pure functions, no driver needed.

Kept apart from ``mongo`` so the translation is tested everywhere, without a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from server.errors import Invalid
from server.jobs.model import FINISHED, Job
from server.store.base import Change, ClaimRequest, Filter, Sort

DEFAULT_DATABASE = "livejobs"
INTERNAL = ("_id", "_live_key")


def doc_to_mongo(doc: Job) -> dict[str, Any]:
    """``id`` becomes ``_id``; ``_live_key`` holds ``key`` while the job is unfinished, so a
    partial unique index allows one unfinished job per key."""
    stored: dict[str, Any] = {"_id": doc["id"]}
    stored.update((k, v) for k, v in doc.items() if k != "id" and k not in INTERNAL)
    key = doc.get("key")
    if isinstance(key, str) and doc.get("status") not in FINISHED:
        stored["_live_key"] = key
    return stored


def doc_from_mongo(stored: dict[str, Any]) -> Job:
    doc: Job = {"id": stored["_id"]}
    doc.update((k, v) for k, v in stored.items() if k not in INTERNAL)
    return doc


def filter_to_mongo(filter: Filter) -> dict[str, Any]:
    """A parsed filter (``server.query``) in MongoDB's terms: only ``id`` is renamed."""
    out: dict[str, Any] = {}
    for key, cond in filter.items():
        if key in ("$and", "$or"):
            out[key] = [filter_to_mongo(sub) for sub in cond]
        elif key == "id" or key.startswith("id."):
            out["_id" + key[2:]] = cond
        elif key.startswith(("_", "$")):
            raise Invalid(f"cannot filter on {key!r}")
        else:
            out[key] = cond
    return out


def sort_to_mongo(sort: Sort) -> list[tuple[str, int]]:
    """Sort keys, always ending with created then id so that pages are stable."""
    keys = [("_id" if path == "id" else path, direction) for path, direction in sort]
    named = {path for path, _ in keys}
    keys += [(path, 1) for path in ("created", "_id") if path not in named]
    return keys


def claim_filter(request: ClaimRequest, types: Sequence[str] | None = None) -> dict[str, Any]:
    """Ready jobs of ``types`` (default: the request's) this worker may take."""
    return {
        "status": "ready",
        "type": {"$in": list(request.types if types is None else types)},
        "target": {"$in": [None, request.worker_id]},
        "exclude": {"$ne": request.worker_id},
    }


def record_key(kind: str, record_id: str) -> str:
    """A record's ``_id``: its change events then say which record changed, even deletes."""
    return f"{kind}/{record_id}"


def change_from_event(event: dict[str, Any], jobs: str = "jobs") -> Change | None:
    """A change stream event as a ``Change``; None for events watchers need not see.
    Events from a collection other than ``jobs`` are records."""
    op = event.get("operationType")
    if event.get("ns", {}).get("coll", jobs) != jobs:
        if op in ("insert", "update", "replace", "delete"):
            return Change("record", str(event["documentKey"]["_id"]), None)
        return None
    if op == "delete":
        return Change("delete", event["documentKey"]["_id"], None)
    if op in ("insert", "update", "replace"):
        full = event.get("fullDocument")
        if full is None:  # deleted before the lookup: its delete event follows
            return None
        return Change("insert" if op == "insert" else "update", full["_id"], doc_from_mongo(full))
    return None


def database_name(url: str) -> str:
    """The database in the URL path (``mongodb://host/name?...``), else ``livejobs``."""
    return urlsplit(url).path.strip("/") or DEFAULT_DATABASE


def hosts_of(url: str) -> str:
    """The URL's hosts without credentials, for messages."""
    return urlsplit(url).netloc.rpartition("@")[2]
