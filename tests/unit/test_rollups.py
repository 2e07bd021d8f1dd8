"""History rollups, pure: what each write adds, and how merged counts read."""

from __future__ import annotations

import mongomock

from livejobs.jobs import rollups
from livejobs.jobs.model import blank_job
from livejobs.store.base import Rollup
from livejobs.store.mongo.rollups import query, updates

T0 = 1_800_000_000.0


def test_each_transition_counts_once():
    doc = blank_job("mail", None, owner="ann", now=T0)
    assert rollups.counted(None, doc) == {"created": 1}
    running = dict(doc, status="running", started=T0 + 2, updated=T0 + 2)
    assert rollups.counted("ready", running) == {"started": 1, "wait_6": 1, "wait_sum": 2.0}
    done = dict(running, status="completed", updated=T0 + 2.5)
    assert rollups.counted("running", done) == {"run_4": 1, "run_sum": 0.5, "completed": 1}
    failure = {"time": T0 + 3, "error": "x"}
    retry = dict(running, status="waiting", updated=T0 + 3, failures=[failure])
    assert rollups.counted("running", retry)["retried"] == 1
    failed = dict(retry, status="failed")
    assert "retried" not in rollups.counted("running", failed)
    assert rollups.counted("running", failed)["failed"] == 1
    assert rollups.counted("running", dict(running, updated=T0 + 9)) == {}  # a heartbeat


def test_buckets_start_on_the_minute_and_hour():
    assert rollups.start_of(T0 + 59.9, "minute") == T0
    assert rollups.start_of(T0 + 60, "minute") == T0 + 60
    assert rollups.start_of(T0 + 3599, "hour") == T0


def test_percentiles_and_rates_from_merged_counts():
    a = {"completed": 3, "retried": 1, "wait_0": 90, "wait_sum": 0.4, "depth_sum": 10, "depth_n": 2}
    b = {"completed": 1, "failed": 1, "wait_5": 10, "wait_sum": 9.0, "depth_sum": 2, "depth_n": 1}
    rollups.add(a, b)
    point = rollups.point(T0, a, 60.0)
    assert point["completed"] == 4 and point["failed"] == 1 and point["retried"] == 1
    assert point["failure_rate"] == round(2 / 6, 6)
    assert point["throughput"] == round(4 / 60, 6)
    assert point["depth"] == 4.0
    assert point["wait"]["count"] == 100
    assert point["wait"]["p50"] <= 0.01 < point["wait"]["p99"] <= 1
    assert point["run"] == {"count": 0, "mean": None, "p50": None, "p90": None, "p99": None}


def test_mongo_rollups_add_with_inc():
    coll = mongomock.MongoClient().db["jobs.rollups"]

    def write(rows):  # mongomock's bulk_write predates pymongo's UpdateOne(sort=...)
        for op in updates(rows):
            coll.update_one(op._filter, op._doc, upsert=op._upsert)

    row = Rollup("minute", T0, "a", {"created": 1, "wait_2": 1})
    write([row])
    write([row, Rollup("minute", T0, "b", {"failed": 1})])
    found = {d["type"]: d["c"] for d in coll.find(query("minute", T0, None))}
    assert found == {"a": {"created": 2, "wait_2": 2}, "b": {"failed": 1}}
    assert [d["type"] for d in coll.find(query("minute", T0, ["b"]))] == ["b"]
