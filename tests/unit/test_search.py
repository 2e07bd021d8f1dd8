"""``$search`` as the live matcher reads it, and as MongoDB's filter (a text query)."""

from __future__ import annotations

from typing import Any

from livejobs import search
from livejobs.query import matches, parse_filter
from livejobs.search import MAX_DATA_VALUE
from livejobs.store.mongo.shapes import filter_to_mongo

JOB = {
    "id": "01a249f8b7d4ceccbbaeb6e3fa6ad8d2",
    "data": {"customer": {"name": "Acme-Widgets"}, "n": [42, True]},
    "reason": "QuuxError: bad page",
    "failures": [{"error": {"type": "QuuxError", "traceback": "File x.py, line 3"}}],
    "log": [{"message": "charging card 4242"}, {"kind": "audit"}],
}


def test_words_start_words_of_the_searched_fields() -> None:
    for query in ("acme", "WIDG acme", "42", "quux", "x py", "4242", "01a249", "e3fa6ad8d2"):
        assert matches(JOB, parse_filter({"$search": query})), query
    for query in ("cme", "true", "audit", "acme zzz", "b7d4"):
        assert not matches(JOB, parse_filter({"$search": query})), query


def test_search_inside_and_or() -> None:
    f = parse_filter({"$or": [{"$search": "nothing"}, {"$and": [{"$search": "acme"}]}]})
    assert matches(JOB, f)


def test_mongo_search_is_a_text_query() -> None:
    assert filter_to_mongo({"type": "t", "$search": "Acme-Widgets"}) == {
        "type": "t",
        "$text": {"$search": "acme widgets"},
    }


def test_a_long_value_in_data_is_not_indexed() -> None:
    """A payload or a blob would multiply every write's size (a full-disk test found it)."""
    doc = {"id": "01ab", "data": {"name": "acme", "blob": "x" * (MAX_DATA_VALUE + 1)}}
    assert matches(doc, parse_filter({"$search": "acme"}))
    assert not matches(doc, parse_filter({"$search": "xxx"}))


def test_same_text_agrees_with_comparing_the_texts() -> None:
    claimed = {**JOB, "status": "running", "log": [*JOB["log"], {"kind": "audit"}]}
    logged = {**JOB, "log": [*JOB["log"], {"message": "refund issued"}]}
    failed = {**JOB, "failures": [*JOB["failures"], {"error": {"message": "timeout"}}]}
    renamed = {**JOB, "data": {"customer": {"name": "Other"}, "n": [42, True]}}
    same_words = {**JOB, "data": {"n": [42, True], "customer": {"name": "Acme-Widgets"}}}

    def words(doc: dict[str, Any]) -> list[str]:
        return sorted(search.text(doc).split())

    for after in (claimed, logged, failed, renamed, same_words, {**JOB, "reason": None}):
        assert search.same_text(JOB, after) == (words(JOB) == words(after))
    assert search.same_text(JOB, claimed) and not search.same_text(JOB, logged)


def test_in_filter_finds_search_at_any_depth() -> None:
    assert search.in_filter({"$or": [{"type": "t"}, {"$and": [{"$search": "x"}]}]})
    assert not search.in_filter({"$or": [{"type": "t"}], "status": "ready"})


def test_lexemes_are_distinct_words_cut_to_the_longest_query_word() -> None:
    doc = {"id": "j1", "data": {"a": "Red red", "b": "y" * 300}, "log": [{"message": "z" * 900}]}
    found = search.lexemes(doc)
    assert found.count("red") == 1
    assert "z" * search.MAX_LENGTH in found  # a query word is never longer than that
    assert all(len(word) <= search.MAX_LENGTH for word in found)
    assert not any(word.startswith("y") for word in found)  # a long data value is not indexed


def test_lexemes_stop_at_what_a_tsvector_holds() -> None:
    many = " ".join(f"w{i:07d}" for i in range(200_000))
    found = search.lexemes({"id": "j1", "log": [{"message": many}]})
    assert sum(len(word) + 4 for word in found) <= search.MAX_LEXEME_BYTES
    assert found[:3] == ["j1", "w0000000", "w0000001"]
