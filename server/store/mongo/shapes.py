"""Job documents, filters and sorts in MongoDB's shapes: pure functions, no driver needed.

Kept apart from ``mongo`` so the translation is tested everywhere, without a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from livejobs import search
from livejobs.errors import Invalid
from livejobs.jobs.lifecycle import claim_rank
from livejobs.jobs.model import FINISHED, Job
from livejobs.query import INDEX_RE, matches
from livejobs.store.base import Change, ClaimRequest, Filter, Sort

DEFAULT_DATABASE = "livejobs"
INTERNAL = ("_id", "_live_key", "_rank")


def doc_to_mongo(doc: Job) -> dict[str, Any]:
    """``id`` becomes ``_id``; ``_live_key`` holds ``key`` while the job is unfinished, so a
    partial unique index on (owner, _live_key) allows one unfinished job per owner and key."""
    stored: dict[str, Any] = {"_id": doc["id"]}
    stored.update((k, v) for k, v in doc.items() if k != "id" and k not in INTERNAL)
    if doc.get("created") is not None:
        stored["_rank"] = claim_rank(doc)  # the claim's order (CLAIM_SORT)
    key = doc.get("key")
    if isinstance(key, str) and doc.get("status") not in FINISHED:
        stored["_live_key"] = key
    return stored


def doc_from_mongo(stored: dict[str, Any]) -> Job:
    doc: Job = {"id": stored["_id"]}
    doc.update((k, v) for k, v in stored.items() if k not in INTERNAL)
    return doc


def filter_to_mongo(filter: Filter) -> dict[str, Any]:
    """A parsed filter (``livejobs.query``) in MongoDB's terms: ``id`` is renamed, and a path
    that MongoDB would fan out through an array of objects is kept from doing so."""
    out: dict[str, Any] = {}
    guarded: list[dict[str, Any]] = []
    for key, cond in filter.items():
        if key in ("$and", "$or"):
            out[key] = [filter_to_mongo(sub) for sub in cond]
        elif key == "id" or key.startswith("id."):
            out["_id" + key[2:]] = cond
        elif key == "$search":  # the text index (migrations): whole words, not prefixes
            out["$text"] = {"$search": " ".join(search.parse(cond))}
        elif key.startswith(("_", "$")):
            raise Invalid(f"cannot filter on {key!r}")
        elif conditions := _without_fan_out(key, cond):
            guarded += conditions
        else:
            out[key] = cond
    if guarded:
        out["$and"] = [*out.get("$and", []), *guarded]
    return out


def _without_fan_out(path: str, cond: Any) -> list[dict[str, Any]]:
    """``{path: cond}`` as conditions to AND together, or none if it needs no care. In
    livejobs a path stops at an array unless the next segment is an index (the value is then
    missing); MongoDB goes on into every element. So where the path continues past a field by
    name, the condition holds for MongoDB only while that field is not an array, and otherwise
    means what it means when missing."""
    segments = path.split(".")
    stops = [
        ".".join(segments[:i]) for i in range(1, len(segments)) if not INDEX_RE.match(segments[i])
    ]
    if not stops:
        return []
    if matches({}, {"missing": cond}):
        return [{"$or": [*({p: {"$type": "array"}} for p in stops), {path: cond}]}]
    return [*({p: {"$not": {"$type": "array"}}} for p in stops), {path: cond}]


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


def claim_write(
    request: ClaimRequest, stored: dict[str, Any]
) -> tuple[Job, dict[str, Any], dict[str, Any]]:
    """A candidate's claim as MongoDB writes it: the claimed job (``ClaimRequest.claim``), the
    filter that finds the candidate only while it is at the version read, and the document."""
    new = request.claim(doc_from_mongo(stored))
    return new, {"_id": stored["_id"], "version": stored["version"]}, doc_to_mongo(new)


def record_key(kind: str, record_id: str) -> str:
    """A record's ``_id``: its change events then say which record changed, even deletes."""
    return f"{kind}/{record_id}"


def record_swap_filter(kind: str, record_id: str, rev: int) -> dict[str, Any]:
    """The record ``swap_record`` may replace: at ``rev`` (at 0, also one without a number
    there, as ``rules.rev_of`` reads it)."""
    key = record_key(kind, record_id)
    if rev:
        return {"_id": key, "doc.rev": {"$type": "number", "$eq": rev}}  # never ``true``
    return {"_id": key, "$or": [{"doc.rev": 0}, {"doc.rev": {"$not": {"$type": "number"}}}]}


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


def live_key_filter(doc: Job) -> dict[str, Any]:
    """The unfinished job of ``doc``'s owner holding ``doc``'s key, in a shape MongoDB answers
    from the partial unique index (its condition, ``$type: "string"``, must be in the query)."""
    return {"owner": doc.get("owner"), "_live_key": {"$eq": doc.get("key"), "$type": "string"}}


def database_name(url: str) -> str:
    """The database in the URL path (``mongodb://host/name?...``, percent-decoded as PyMongo
    does), else ``livejobs``."""
    path = unquote_plus(urlsplit(url).path.strip("/"))
    return path.partition(".")[0] or DEFAULT_DATABASE  # "db.collection" names the database


def hosts_of(url: str) -> str:
    """The URL's hosts without credentials, for messages."""
    return urlsplit(url).netloc.rpartition("@")[2]
