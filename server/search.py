"""Search: ``{"$search": "words"}`` in a filter finds jobs by id prefix, by values in ``data``,
by error text (``reason``, ``failures``) and by log text (``jobs.log`` lines, not the audit
trail), served by each store's text index.

A job matches when every word of the query starts one of the job's words; the id's last ten
characters (what the dashboard shows of it) count as a word of their own. Words are runs of
letters and digits, lower-cased (``_``, ``-``, ``.`` and spaces separate them), as SQLite's
FTS5 ``unicode61`` tokenizer reads them, so that the live matcher here (every live
subscription evaluates filters in memory) agrees with the store that answered the first page.
SQLite keeps an FTS5 table by triggers; PostgreSQL a GIN index on a ``tsvector`` expression;
MongoDB a text index (whole words there, not prefixes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from livejobs.errors import Invalid

FIELDS = ("id", "data", "reason", "failures", "log")
"""The fields search reads: a role must be allowed to filter on each to search."""

MAX_WORDS = 8
MAX_LENGTH = 200
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def parse(value: Any) -> list[str]:
    """The query's words, or ``Invalid``."""
    if not isinstance(value, str) or len(value) > MAX_LENGTH:
        raise Invalid(f"$search takes a string of at most {MAX_LENGTH} characters")
    found = words(value)
    if not found:
        raise Invalid("$search needs at least one word (letters or digits)")
    if len(found) > MAX_WORDS:
        raise Invalid(f"$search takes at most {MAX_WORDS} words")
    return found


#: a value in ``data`` longer than this is not indexed: a searchable value is a name, an email or
#: an order number, and a long blob (a payload, base64) would multiply every write's size
MAX_DATA_VALUE = 256


def _atoms(value: Any, texts_only: bool, longest: int | None = None) -> Iterator[str]:
    if isinstance(value, str):
        if longest is None or len(value) <= longest:
            yield value
    elif isinstance(value, int | float) and not isinstance(value, bool) and not texts_only:
        yield str(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _atoms(item, texts_only, longest)
    elif isinstance(value, list):
        for item in value:
            yield from _atoms(item, texts_only, longest)


def text(doc: dict[str, Any]) -> str:
    """What a job is searched by, as the stores index it."""
    job_id = str(doc.get("id", ""))
    parts = [job_id, job_id[-10:], *_atoms(doc.get("reason"), True)]
    parts += _atoms(doc.get("data"), False, MAX_DATA_VALUE)
    parts += _atoms(doc.get("failures"), True)
    for line in doc.get("log") or ():
        if isinstance(line, dict) and isinstance(line.get("message"), str):
            if line.get("kind") != "audit":  # who did what: every transition adds one
                parts.append(line["message"])
    return " ".join(parts)


#: a ``tsvector`` holds at most 1 MB: words past this many bytes (UTF-8, each with PostgreSQL's
#: four bytes of entry) are not indexed, so that a huge log still saves
MAX_LEXEME_BYTES = 900_000


def lexemes(doc: dict[str, Any]) -> list[str]:
    """The distinct words of ``text(doc)``, each cut to ``MAX_LENGTH`` characters: a query word
    is never longer, so a cut word still starts with every query word the whole one does."""
    found: list[str] = []
    room = MAX_LEXEME_BYTES
    for word in dict.fromkeys(w[:MAX_LENGTH] for w in words(text(doc))):
        room -= len(word.encode()) + 4
        if room < 0:
            break
        found.append(word)
    return found


def same_text(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether ``after`` is searched by the same words as ``before``, answered from the
    fields ``text`` reads without joining them (a claim or a completion changes none)."""
    for field in ("id", "reason", "data", "failures"):
        if before.get(field) != after.get(field):
            return text(before) == text(after)
    if _messages(before) != _messages(after):
        return text(before) == text(after)
    return True


def _messages(doc: dict[str, Any]) -> list[Any]:
    return [
        line.get("message")
        for line in doc.get("log") or ()
        if isinstance(line, dict) and line.get("kind") != "audit"
    ]


def matches(doc: dict[str, Any], query: str) -> bool:
    have = words(text(doc))
    return all(any(w.startswith(q) for w in have) for q in parse(query))


def fts5_query(query: str) -> str:
    """FTS5 MATCH syntax: each word as a quoted prefix (words hold no quote)."""
    return " AND ".join(f'"{w}"*' for w in parse(query))


def tsquery(query: str) -> str:
    """A ``tsquery`` value, each word a quoted prefix: cast, not parsed by ``to_tsquery``,
    whose parser splits a word such as ``2e312bcdb3`` (a number, then letters) in two."""
    return " & ".join(f"'{w}':*" for w in parse(query))


def in_filter(filter: Any) -> bool:
    """Whether a filter searches (``$search`` at its top or inside ``$and``/``$or``)."""
    if not isinstance(filter, dict):
        return False
    if "$search" in filter:
        return True
    return any(
        in_filter(sub)
        for key in ("$and", "$or")
        if isinstance(filter.get(key), list)
        for sub in filter[key]
    )
