"""Translated filters mean in MongoDB what they mean in livejobs (``livejobs.query.matches``),
arrays of objects included, checked on generated documents and filters with mongomock, a
pure-Python stand-in for MongoDB's query engine. (The contract suite checks the same against a
real replica set when one is at hand: ``test_find_agrees_with_matches``.)"""

from __future__ import annotations

from typing import Any

import mongomock
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from livejobs.query import matches, parse_filter
from livejobs.store.mongo.shapes import filter_to_mongo

SEGMENTS = ["a", "b", "0"]
# Left out where mongomock differs from MongoDB itself: booleans (it takes True for 1) and
# null in conditions (it misses that "a.b" is null when "a" is a number or null).
literals = st.sampled_from([0, 1, 2.5, "x", ""])
values = st.recursive(
    literals | st.none(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(SEGMENTS), inner, max_size=3)
    ),
    max_leaves=6,
)
paths = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3).map(
    lambda segs: "data." + ".".join(segs)
)
conditions = (
    literals
    | st.fixed_dictionaries({"$ne": literals})
    | st.fixed_dictionaries({"$in": st.lists(literals, min_size=1, max_size=3)})
    | st.fixed_dictionaries({"$nin": st.lists(literals, min_size=1, max_size=3)})
    | st.fixed_dictionaries({"$exists": st.booleans()})
    | st.fixed_dictionaries({"$gt": st.sampled_from([0, 1, "x"])})
    | st.fixed_dictionaries({"$lte": st.sampled_from([1, 2.5, "y"])})
)
filters = st.dictionaries(paths, conditions, min_size=1, max_size=2)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    docs=st.lists(st.dictionaries(st.sampled_from(SEGMENTS), values, max_size=3), max_size=6),
    filter=filters,
)
# where MongoDB on its own would go into the elements of an array of objects
@example(docs=[{"a": [{"b": 1}]}], filter={"data.a.b": 1})
@example(docs=[{"a": [{"b": 1}]}], filter={"data.a.b": {"$ne": 1}})
@example(docs=[{"a": [{"b": 1}]}], filter={"data.a.b": {"$exists": False}})
@example(docs=[{"a": [[1], {"b": "x"}]}], filter={"data.a.1.b": "x"})
def test_translated_filters_select_what_matches_selects(
    docs: list[dict[str, Any]], filter: dict[str, Any]
) -> None:
    parse_filter(filter)
    jobs = [{"id": f"j{i}", "data": data} for i, data in enumerate(docs)]
    collection = mongomock.MongoClient().db.jobs
    if jobs:
        collection.insert_many([{"_id": job["id"], "data": job["data"]} for job in jobs])
    found = {doc["_id"] for doc in collection.find(filter_to_mongo(filter))}
    assert found == {job["id"] for job in jobs if matches(job, filter)}
