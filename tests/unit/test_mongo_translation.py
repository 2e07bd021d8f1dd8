"""Job documents, filters, sorts and change events in MongoDB's shapes (no server needed).

Where a translated filter is within the shared filter language, MongoDB (here mongomock) must
select what ``query.matches`` selects on the original documents: that is what keeps the
MongoDB store meaning what the SQLite store and live subscriptions mean.
"""

from __future__ import annotations

import bson
import mongomock
import pytest

from livejobs.errors import Invalid, StoreRefused
from livejobs.jobs.model import blank_job
from livejobs.jobs.rules import rev_of
from livejobs.query import matches, parse_filter
from livejobs.store.base import Change, ClaimRequest
from livejobs.store.mongo.shapes import (
    change_from_event,
    claim_filter,
    database_name,
    doc_from_mongo,
    doc_to_mongo,
    filter_to_mongo,
    hosts_of,
    live_key_filter,
    record_swap_filter,
    sort_to_mongo,
)
from livejobs.store.mongo.store import UNSTORABLE, MongoStore


def job(**fields: object) -> dict:
    doc = blank_job("echo", {"n": 1}, owner="ann", now=100.0)
    doc.update(fields)
    return doc


def test_documents_round_trip_with_id_as_underscore_id() -> None:
    doc = job(key="k1")
    stored = doc_to_mongo(doc)
    assert stored["_id"] == doc["id"] and "id" not in stored
    assert stored["_live_key"] == "k1"
    assert doc_from_mongo(stored) == doc
    assert next(iter(doc_from_mongo(stored))) == "id"


@pytest.mark.parametrize(
    ("fields", "live"),
    [
        ({"key": None}, False),
        ({"key": "k", "status": "running"}, True),
        ({"key": "k", "status": "paused"}, True),
        ({"key": "k", "status": "completed"}, False),
        ({"key": "k", "status": "failed"}, False),
        ({"key": "k", "status": "cancelled"}, False),
    ],
)
def test_live_key_only_while_unfinished(fields: dict, live: bool) -> None:
    assert ("_live_key" in doc_to_mongo(job(**fields))) is live


def test_internal_fields_never_leak_either_way() -> None:
    stored = doc_to_mongo({**job(), "_live_key": "forged"})
    assert "_live_key" not in stored
    assert set(doc_from_mongo({**stored, "_live_key": "x"})) == set(job())


def test_filter_renames_id_everywhere() -> None:
    filter = parse_filter(
        {"id": "a", "type": "echo", "$or": [{"id": {"$in": ["b"]}}, {"$and": [{"data.id": 1}]}]}
    )
    data_id = [{"data": {"$not": {"$type": "array"}}}, {"data.id": 1}]  # see _without_fan_out
    assert filter_to_mongo(filter) == {
        "_id": "a",
        "type": "echo",
        "$or": [{"_id": {"$in": ["b"]}}, {"$and": [{"$and": data_id}]}],
    }
    with pytest.raises(Invalid):
        filter_to_mongo({"_live_key": "k"})


@pytest.mark.parametrize(
    "filter",
    [
        {"id": "j1"},
        {"id": {"$ne": "j1"}},
        {"id": {"$in": ["j0", "j1"]}, "status": "ready"},
        {"$or": [{"id": "nope"}, {"data.n": {"$gte": 1}}]},
        {"key": None},
        {"depends": "a"},
    ],
)
def test_translated_filter_means_the_same(filter: dict) -> None:
    """On stored documents, in MongoDB's terms (mongomock; see test_mongo_semantics)."""
    docs = [job(id="j1"), job(id="j2", depends=["a"]), job(id="j3", data={"n": 0})]
    collection = mongomock.MongoClient().db.jobs
    collection.insert_many([doc_to_mongo(doc) for doc in docs])
    found = {d["_id"] for d in collection.find(filter_to_mongo(filter))}
    assert found == {doc["id"] for doc in docs if matches(doc, filter)}


def test_sort_ends_with_created_then_id() -> None:
    assert sort_to_mongo([("priority", -1)]) == [("priority", -1), ("created", 1), ("_id", 1)]
    assert sort_to_mongo([("created", -1)]) == [("created", -1), ("_id", 1)]
    assert sort_to_mongo([("id", -1), ("data.x", 1)]) == [
        ("_id", -1),
        ("data.x", 1),
        ("created", 1),
    ]


def test_claim_filter_selects_what_claim_request_promises() -> None:
    request = ClaimRequest(types=("a", "b"), worker_id="w1", user="u", now=0.0, lease_seconds=1)
    query = claim_filter(request)
    cases = [
        (job(type="a"), True),
        (job(type="c"), False),
        (job(type="a", status="running"), False),
        (job(type="b", target="w1"), True),
        (job(type="b", target="w2"), False),
        (job(type="a", exclude=["w0", "w1"]), False),
        (job(type="a", exclude=["w0"]), True),
    ]
    for doc, expected in cases:
        assert matches(doc_to_mongo(doc), query) is expected, doc
    assert claim_filter(request, ["b"])["type"] == {"$in": ["b"]}


def test_change_events() -> None:
    stored = doc_to_mongo(job(id="j1"))
    assert change_from_event({"operationType": "insert", "fullDocument": stored}) == Change(
        "insert", "j1", job(id="j1")
    )
    for op in ("update", "replace"):
        change = change_from_event({"operationType": op, "fullDocument": stored})
        assert change is not None and change.op == "update" and change.doc["id"] == "j1"
    assert change_from_event({"operationType": "update", "fullDocument": None}) is None
    assert change_from_event({"operationType": "delete", "documentKey": {"_id": "j1"}}) == Change(
        "delete", "j1", None
    )
    assert change_from_event({"operationType": "invalidate"}) is None


def test_database_and_hosts_from_url() -> None:
    assert database_name("mongodb://h:27017/?replicaSet=rs0") == "livejobs"
    assert database_name("mongodb://h1,h2/queue_db?replicaSet=rs0") == "queue_db"
    assert database_name("mongodb+srv://u:p@cluster.example.net/jobs") == "jobs"
    assert database_name("mongodb://h/my%20jobs.queue?replicaSet=rs0") == "my jobs"  # as PyMongo
    assert hosts_of("mongodb://user:secret@h1:1,h2:2/db") == "h1:1,h2:2"


async def test_a_bad_url_is_refused_in_one_line() -> None:
    for url in ("mongodb://a@b@h/db", "mongodb://h:99999/db"):
        with pytest.raises(StoreRefused, match="bad MongoDB URL"):
            await MongoStore(url).open()


@pytest.mark.parametrize(
    "data", [{"n": 2**64}, {"a\x00b": 1}], ids=["integer over 64 bits", "NUL in a key"]
)
def test_what_bson_cannot_hold_is_among_the_refusals_the_store_turns_into_invalid(
    data: dict,
) -> None:
    """JSON and SQLite take these; MongoDB's encoder does not, and the store must say
    ``invalid`` rather than fail with an internal error."""
    with pytest.raises(UNSTORABLE):
        bson.encode(doc_to_mongo(job(data=data)))


def test_key_holder_lookup_names_the_partial_index_condition_and_the_owner() -> None:
    query = live_key_filter(job(key="k1", owner="ann"))
    assert query == {"owner": "ann", "_live_key": {"$eq": "k1", "$type": "string"}}
    assert matches(doc_to_mongo(job(key="k1", owner="ann")), query)
    assert not matches(doc_to_mongo(job(key="k1", owner="bob")), query)
    assert not matches(doc_to_mongo(job(key="k1", owner="ann", status="completed")), query)


def test_record_events_name_the_record_whatever_happened_to_it() -> None:
    """Rules, users and tokens travel on the same stream, so every server re-reads them."""
    records = {"coll": "records"}
    for op in ("insert", "replace", "update", "delete"):
        event = {"operationType": op, "ns": records, "documentKey": {"_id": "types/email"}}
        assert change_from_event(event, "jobs") == Change("record", "types/email", None)
    assert change_from_event({"operationType": "drop", "ns": records}, "jobs") is None
    jobs = {"operationType": "delete", "ns": {"coll": "queue"}, "documentKey": {"_id": "j1"}}
    assert change_from_event(jobs, "queue") == Change("delete", "j1", None)


@pytest.mark.parametrize(
    "stored", [None, {}, {"rev": 0}, {"rev": 1}, {"rev": 2}, {"rev": True}, {"rev": "1"}]
)
@pytest.mark.parametrize("rev", [0, 1, 2])
def test_record_swap_filter_selects_the_revision_rev_of_reads(stored: object, rev: int) -> None:
    """``swap_record``'s compare-and-set on MongoDB (mongomock) agrees with ``rev_of``, the
    other stores' reading: no record, or one without a number in ``rev``, is revision 0."""
    records = mongomock.MongoClient().db.records
    if stored is not None:
        records.insert_one({"_id": "types/t", "kind": "types", "rid": "t", "doc": stored})
    found = records.find_one(record_swap_filter("types", "t", rev))
    expected = stored is not None and rev_of(stored) == rev  # type: ignore[arg-type]
    assert (found is not None) == expected
