"""Filter validation and in-Python evaluation (the meaning every backend must reproduce)."""

from __future__ import annotations

import pytest

from livejobs.errors import Invalid
from livejobs.query import MISSING, matches, parse_filter, parse_sort, resolve

DOC = {
    "id": "j1",
    "type": "email",
    "status": "ready",
    "priority": -5,
    "created": 100.0,
    "key": None,
    "depends": ["a", "b"],
    "exclude": [],
    "data": {
        "user": "ann",
        "n": 3,
        "ok": True,
        "tags": ["x", 1, None],
        "deep": {"v": 1.5},
        "byyear": {"2024": 7},
        "rows": [{"v": 1}],
    },
}


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({}, True),
        ({"type": "email"}, True),
        ({"type": "sms"}, False),
        ({"data.user": "ann", "priority": -5}, True),
        ({"priority": -5.0}, True),  # int and float are one kind
        ({"priority": "-5"}, False),  # strings never equal numbers
        ({"data.ok": True}, True),
        ({"data.ok": 1}, False),  # booleans are not numbers
        ({"data.n": True}, False),
        ({"depends": "b"}, True),  # equality against an array matches an element
        ({"depends": "c"}, False),
        ({"data.tags": None}, True),  # ...including null
        ({"depends.1": "b"}, True),  # numeric segment indexes an array
        ({"depends.5": {"$exists": False}}, True),
        ({"data.byyear.2024": 7}, True),  # ...or reads an object key
        ({"data.rows.v": 1}, False),  # paths do not fan out through arrays of objects
        ({"data.rows.0.v": 1}, True),
        ({"missing": None}, True),
        ({"key": None}, True),
        ({"data.deep": 1.5}, False),  # an object never equals a scalar
        ({"data.deep.v": {"$gt": 1, "$lt": 2}}, True),
        ({"status": {"$in": ["ready", "running"]}}, True),
        ({"status": {"$in": []}}, False),
        ({"missing": {"$in": [None]}}, True),
        ({"priority": {"$in": [True, -5]}}, True),
        ({"data.n": {"$in": [True]}}, False),
        ({"data.tags": {"$in": [1, "z"]}}, True),
        ({"status": {"$nin": ["ready"]}}, False),
        ({"missing": {"$nin": ["x"]}}, True),
        ({"missing": {"$ne": 1}}, True),
        ({"key": {"$ne": None}}, False),
        ({"depends": {"$ne": "a"}}, False),
        ({"priority": {"$gte": -5, "$lte": -5}}, True),
        ({"priority": {"$gt": "a"}}, False),  # no cross-type comparison
        ({"type": {"$gt": "a", "$lt": "f"}}, True),
        ({"missing": {"$lt": 1}}, False),
        ({"data.ok": {"$gt": 0}}, False),
        ({"data.tags": {"$gte": 1}}, True),  # any element
        ({"data.user": {"$exists": True}}, True),
        ({"key": {"$exists": True}}, True),  # present, even when null
        ({"missing": {"$exists": True}}, False),
        ({"$or": [{"type": "sms"}, {"data.n": 3}]}, True),
        ({"$or": [{"type": "sms"}, {"data.n": 4}]}, False),
        ({"$and": [{"type": "email"}, {"$or": [{"priority": {"$lt": 0}}]}]}, True),
        ({"$and": [{"type": "email"}, {"data.n": 4}]}, False),
    ],
)
def test_matches(filter: dict, expected: bool) -> None:
    assert parse_filter(filter) is filter
    assert matches(DOC, filter) is expected


def test_resolve_reports_missing_apart_from_null() -> None:
    assert resolve(DOC, "key") is None
    assert resolve(DOC, "nope.deeper") is MISSING
    assert resolve(DOC, "data.tags.2") is None
    assert resolve(DOC, "depends.01") is MISSING  # not a canonical index, and not a key


@pytest.mark.parametrize(
    ("filter", "message"),
    [
        ([], "must be an object"),
        ({"$where": "1"}, "unknown filter operator"),
        ({"a": {"$regex": "x"}}, "unknown operator"),
        ({"a": {"$in": "x"}}, "needs a list"),
        ({"a": {"$in": list(range(1001))}}, "at most 1000"),
        ({"a": {"$in": [{"b": 1}]}}, "values must be"),
        ({"a": {"$exists": 1}}, "true or false"),
        ({"a": {"$gt": None}}, "number or a string"),
        ({"a": {"$gt": True}}, "number or a string"),
        ({"a": {"$gt": float("nan")}}, "finite"),
        ({"a": float("inf")}, "finite"),
        ({"a": {"b": 1}}, "whole object"),
        ({"a": {}}, "whole object"),
        ({"a": {"$in": [1], "b": 2}}, "whole object"),
        ({"a": [1, 2]}, "use $in"),
        ({"$or": []}, "non-empty list"),
        ({"$and": {"a": 1}}, "non-empty list"),
        ({"$or": [1]}, "must be an object"),
        ({"a..b": 1}, "bad field path"),
        ({"a b": 1}, "bad field path"),
        ({"9a": 1}, "bad field path"),
        ({"a'); drop table jobs; --": 1}, "bad field path"),
        ({"_id": 1}, "reserved"),
        ({"a.0.1.2.3": 1}, "numeric segments"),
        ({"$and": [{"$and": [{"$and": [{"$and": [{"$and": [{"a": 1}]}]}]}]}]}, "nested too deeply"),
        ({f"f{i}": i for i in range(501)}, "too large"),
    ],
)
def test_parse_filter_rejects(filter: object, message: str) -> None:
    with pytest.raises(Invalid, match=message.replace("$", r"\$")):
        parse_filter(filter)


def test_parse_filter_limits_are_inclusive() -> None:
    parse_filter({"a": {"$in": list(range(1000))}})
    parse_filter({"$and": [{"$and": [{"$and": [{"$and": [{"a": 1}]}]}]}]})  # depth 5
    assert parse_filter(None) == {}


def test_parse_sort() -> None:
    assert parse_sort(None) == [("created", 1)]
    assert parse_sort([]) == [("created", 1)]
    assert parse_sort([["priority", 1], ["created", -1]]) == [("priority", 1), ("created", -1)]
    assert parse_sort({"data.n": -1}) == [("data.n", -1)]
    for bad in ("created", [["a", 2]], [["a", True]], [["a"]], {"a b": 1}, [["a", 1], ["a", -1]]):
        with pytest.raises(Invalid):
            parse_sort(bad)
