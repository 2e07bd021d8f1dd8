"""SQL for the PostgreSQL store: the job row's columns, and filter/sort → SQL over JSONB.

Filters are evaluated on the document itself (``doc``, JSONB), so that their meaning is
``livejobs.query.matches``'s exactly (a test of the ``type`` or ``status`` column is only
added beside, for an index to serve): ``#>`` walks objects by key and
arrays by a numeric segment as ``resolve`` does and does not fan out through arrays; a path
with a non-canonical numeric segment (``01``) is made to read an object key only. Field paths
are checked against ``query.PATH_RE`` before they reach SQL text; every value is a parameter
but a status the server knows (``_column_test``).

JSONB keeps numbers as decimals: a float written in exponent form without a fraction
(``1e16``) comes back as an integer. Strings compare in code point order (``COLLATE "C"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from livejobs import search
from livejobs.errors import Invalid
from livejobs.jobs.model import FINISHED, Job, Status
from livejobs.query import INDEX_RE, check_path
from livejobs.store.postgres import feed
from livejobs.store.postgres.feed import Written

ROW = (
    "id",
    "type",
    "status",
    "priority",
    "created",
    "due",
    "owner",
    "version",
    "live_key",
    "target",
    "exclude",
    "doc",
)
"""Columns of ``jobs``: what the claim, the counts and the timers read, then the document."""

LIVE_KEY = ROW.index("live_key")
DOC = ROW.index("doc")
_CASTS = ("text", "text", "text", "float8", "float8", "float8", "text", "int8", "text", "text")
INSERT = (
    f"INSERT INTO jobs ({', '.join(ROW)}) VALUES "
    f"({', '.join(f'${i + 1}::{c}' for i, c in enumerate(_CASTS))}, $11::jsonb, $12::jsonb) "
    "ON CONFLICT (live_key) DO NOTHING RETURNING id"
)
# one array per column; ``exclude`` as JSON text (a list inside an array would be a dimension)
EXCLUDE = ROW.index("exclude")
_VALUE = {c: f"v.{c}::jsonb" if c == "exclude" else f"v.{c}" for c in ROW}

# Rows many at a time, one array per column, logging in the same statement the changes the
# batch made before (``$14``-``$16``, as ``feed.APPEND``'s) then one per row written, in that
# order: a round trip less per write, and, for a batch of replaces alone, no transaction at
# all. The documents come as JSON text, parsed as JSONB for ``jobs`` and kept as bytes in the
# log (migration 3), encoded once.
_TEXTS = ", ".join(f"${i + 1}::{c}[]" for i, c in enumerate((*_CASTS, "text", "text")))
_PARSED = {**_VALUE, "doc": "v.doc::jsonb"}
_LOG = """
log AS (INSERT INTO changes (op, id, doc)
    SELECT op, id, doc FROM (
        SELECT 0 AS k, p.n, p.op, p.id, p.doc
        FROM unnest(${a}::text[], ${b}::text[], ${c}::bytea[]) WITH ORDINALITY AS p(op, id, doc, n)
        UNION ALL
        SELECT 1, v.n, '{op}', v.id, convert_to(v.doc, 'UTF8') FROM v JOIN w ON w.id = v.id) x
    ORDER BY k, n)
"""


# Search words live in ``job_words`` (migration 8), one row per job, written by the statement
# that writes the job when its words changed (``words_of``; NULL: unchanged): a claim or a
# completion changes none, so its update adds no entry to the GIN index.
_WORDS = """,
words AS (INSERT INTO job_words (id, words)
    SELECT v.id, array_to_tsvector(string_to_array(t.words, ' '))
    FROM unnest(${p}::text[]) WITH ORDINALITY AS t(words, n)
    JOIN v ON v.n = t.n JOIN w ON w.id = v.id
    WHERE t.words IS NOT NULL
    ON CONFLICT (id) {then})
"""


def _words(first: int, then: str) -> str:
    """``then``: for an insert, DO NOTHING (an id twice in a batch rolls it back anyway)."""
    return _WORDS.replace("{p}", str(first)).replace("{then}", then)


def words_of(doc: Job, previous: Job | None = None) -> str | None:
    """``doc``'s search words as ``_WORDS`` takes them, or None when ``previous`` (the job as
    stored before) is searched by the same words and its row stays as it is."""
    if previous is not None and search.same_text(previous, doc):
        return None
    return " ".join(search.lexemes(doc))


def _log(op: str, first: int) -> str:
    return _LOG.replace("{op}", op).replace("{a}", str(first)).replace(
        "{b}", str(first + 1)).replace("{c}", str(first + 2))  # fmt: skip


UPDATE_LOGGED = (
    f"WITH v AS MATERIALIZED (SELECT * FROM unnest({_TEXTS}, $13::int8[]) WITH ORDINALITY "
    f"AS v({', '.join(ROW)}, expected, n)),\n"
    f"w AS (UPDATE jobs AS j SET {', '.join(f'{c} = {_PARSED[c]}' for c in ROW[1:])} "
    "FROM v WHERE j.id = v.id AND j.version = v.expected RETURNING j.id),"
    f"{_log('update', 14)}{_words(17, 'DO UPDATE SET words = excluded.words')}SELECT id FROM w"
)
INSERT_LOGGED = (
    f"WITH v AS MATERIALIZED (SELECT * FROM unnest({_TEXTS}) WITH ORDINALITY "
    f"AS v({', '.join(ROW)}, n)),\n"
    f"w AS (INSERT INTO jobs ({', '.join(ROW)}) SELECT {', '.join(_PARSED.values())} FROM v "
    "ORDER BY n ON CONFLICT DO NOTHING RETURNING id),"
    f"{_log('insert', 13)}{_words(16, 'DO NOTHING')}SELECT id FROM w"
)
WORDS = (
    "INSERT INTO job_words (id, words) VALUES ($1, array_to_tsvector(string_to_array($2, ' '))) "
    "ON CONFLICT (id) DO UPDATE SET words = excluded.words"
)

# each (id, version) still at that version, in one statement: the ids deleted (jobs.clean)
DELETE_MANY = (
    "DELETE FROM jobs AS j USING unnest($1::text[], $2::int8[]) AS v(id, expected) "
    "WHERE j.id = v.id AND j.version = v.expected RETURNING j.id"
)

# Claim candidates of one type, in the order of the jobs_claim_rank index (``rank`` is
# ``lifecycle.claim_rank``, generated from the document), locked for this claim;
# rows another claim holds are skipped, not waited for.
CLAIM = """
SELECT doc FROM jobs
WHERE status = 'ready' AND type = $1
  AND (target IS NULL OR target = $2)
  AND (exclude IS NULL OR NOT exclude ? $2)
ORDER BY priority, rank, id
LIMIT $3
FOR UPDATE SKIP LOCKED
"""


def columns(rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows as one list per column (``texts`` sends them)."""
    lists = [list(column) for column in zip(*rows, strict=True)]
    lists[EXCLUDE] = [
        None if e is None else msgspec.json.encode(e).decode() for e in lists[EXCLUDE]
    ]
    return lists


def texts(rows: Sequence[tuple[Any, ...]], written: Written | None = None) -> list[list[Any]]:
    """``columns``, each document as JSON text: the parameters of the ``*_LOGGED`` SQL, which
    log each document's bytes (``written``: a ``feed.Written`` to remember them in)."""
    lists = columns(rows)
    lists[DOC] = [feed.encode(doc, written).decode() for doc in lists[DOC]]
    return lists


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def live_key(owner: Any, key: Any) -> str | None:
    """The key scoped to its owner (unique among unfinished jobs), one form per pair."""
    if not isinstance(key, str):
        return None
    return f"{len(owner) if isinstance(owner, str) else -1}:{owner}:{key}"


def row(doc: Job) -> tuple[Any, ...]:
    """The values of ``ROW`` for ``doc``."""
    status = doc.get("status")
    live = live_key(doc.get("owner"), doc.get("key")) if status not in FINISHED else None
    version = doc.get("version")
    excluded = doc.get("exclude")
    return (
        doc["id"],
        _text(doc.get("type")),
        _text(status),
        _number(doc.get("priority")),
        _number(doc.get("created")),
        _number(doc.get("due")),
        _text(doc.get("owner")),
        version if isinstance(version, int) and not isinstance(version, bool) else None,
        live,
        _text(doc.get("target")),
        excluded if isinstance(excluded, list) and excluded else None,
        doc,
    )


# -- filters -------------------------------------------------------------------------------

_SQL_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


class Params(list[Any]):
    def add(self, value: Any) -> str:
        self.append(value)
        return f"${len(self)}"


def value_at(path: str) -> str:
    """The JSONB at ``path`` in ``doc``, SQL NULL when missing (``query.resolve``)."""
    segments = check_path(path).split(".")
    if len(segments) == 1:
        return f"(doc -> '{path}')"
    expr = f"(doc #> '{{{','.join(segments)}}}')"
    guards = [
        f"jsonb_typeof(doc #> '{{{','.join(segments[:i])}}}') = 'object'"
        for i, seg in enumerate(segments)
        if i > 0 and seg.isdigit() and not INDEX_RE.match(seg)
    ]
    if guards:  # "01" names an object key only, never an array element
        expr = f"(CASE WHEN {' AND '.join(guards)} THEN {expr} END)"
    return expr


SEARCH = "id IN (SELECT id FROM job_words WHERE words @@ {query}::tsquery)"
"""A ``$search`` (``livejobs.search``), served by the GIN index ``job_words_search``."""


_STATUSES = frozenset(status.value for status in Status)


def _column_test(key: str, cond: Any, params: Params) -> str | None:
    """The ``type`` and ``status`` columns hold the document's string (the server sets both,
    always strings), so a filter naming strings of one also tests its column, which an index
    can serve: ``type = $n``; a status as a literal (one of ``Status``), so that the planner
    can match a partial index's predicate (``jobs_finished``), which a parameter never does."""
    values = cond["$in"] if isinstance(cond, dict) and list(cond) == ["$in"] else [cond]
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        return None
    texts = sorted({str.__str__(v) for v in values})  # a Status member as its plain string
    if key == "type":
        return f"type = ANY({params.add(texts)}::text[])"
    if key == "status" and _STATUSES.issuperset(texts):
        literals = ", ".join(f"'{v}'" for v in texts)
        return f"status IN ({literals})"
    return None


def where(filter: dict[str, Any], params: Params) -> str:
    """A SQL boolean (never NULL) for ``filter``; appends its parameters to ``params``."""
    parts = []
    for key, cond in filter.items():
        if (column := _column_test(key, cond, params)) is not None:
            parts.append(column)  # beside the document's own test below, which decides
        if key in ("$and", "$or"):
            if not isinstance(cond, list) or not cond:
                raise Invalid(f"{key} needs a non-empty list of filters")
            subs = [where(sub, params) for sub in cond]
            parts.append("(" + (" AND " if key == "$and" else " OR ").join(subs) + ")")
        elif key == "$search":
            parts.append(SEARCH.format(query=params.add(search.tsquery(cond))))
        elif isinstance(cond, dict):
            value = value_at(key)
            parts.extend(_operator(value, op, arg, params) for op, arg in cond.items())
        else:
            parts.append(_one_of(value_at(key), [cond], params))
    return "(" + " AND ".join(parts) + ")" if parts else "TRUE"


def _operator(value: str, op: str, arg: Any, params: Params) -> str:
    if op == "$in":
        return _one_of(value, arg, params)
    if op == "$nin":
        return f"NOT {_one_of(value, arg, params)}"
    if op == "$ne":
        return f"NOT {_one_of(value, [arg], params)}"
    if op == "$exists":
        return f"({value} IS {'NOT ' if arg else ''}NULL)"
    if op in _SQL_OPS:
        return _compare(value, _SQL_OPS[op], arg, params)
    raise Invalid(f"unknown operator {op!r}")


def _check_literal(value: Any) -> None:
    if value is not None and not isinstance(value, bool | int | float | str):
        raise Invalid(f"values must be a string, number, boolean or null, not {value!r}")


def _elements(value: str, condition: str) -> str:
    """Whether an element of the array at ``value`` meets ``condition`` (on ``e``)."""
    return (
        "EXISTS (SELECT 1 FROM jsonb_array_elements("
        f"CASE WHEN jsonb_typeof({value}) = 'array' THEN {value} END) e WHERE {condition})"
    )


def _one_of(value: str, literals: Sequence[Any], params: Params) -> str:
    """``query._in``: the value, or an element of it, equals a literal; null also matches a
    missing value. JSONB equality is ``_same``: numbers by value, never a boolean as 1."""
    for literal in literals:
        _check_literal(literal)
    scalars = [literal for literal in literals if literal is not None]
    tests = []
    if scalars:
        if len(scalars) == 1:
            match = f"= {params.add(scalars[0])}::jsonb"
        else:
            match = f"= ANY({params.add(scalars)}::jsonb[])"
        tests.append(f"coalesce({value} {match}, FALSE)")
        tests.append(_elements(value, f"e {match}"))
    if len(scalars) < len(literals):
        tests.append(f"{value} IS NULL")
        tests.append(f"coalesce({value} = 'null'::jsonb, FALSE)")
        tests.append(_elements(value, "e = 'null'::jsonb"))
    if not tests:
        return "FALSE"
    return "(" + " OR ".join(tests) + ")"


def _compare(value: str, sql_op: str, literal: Any, params: Params) -> str:
    """``query._compare``: numbers with numbers, strings with strings (code point order)."""
    if isinstance(literal, bool) or not isinstance(literal, int | float | str):
        raise Invalid(f"comparisons take a number or a string, not {literal!r}")
    if isinstance(literal, str):
        bound = params.add(literal)

        def test(e: str) -> str:
            return (
                f"(jsonb_typeof({e}) = 'string' AND ({e} #>> '{{}}') COLLATE \"C\" "
                f"{sql_op} {bound}::text)"
            )
    else:
        bound = params.add(literal)

        def test(e: str) -> str:
            return f"(jsonb_typeof({e}) = 'number' AND {e} {sql_op} {bound}::jsonb)"

    return f"(coalesce({test(value)}, FALSE) OR {_elements(value, test('e'))})"


# -- sorting -------------------------------------------------------------------------------


def order_by(sort: Sequence[tuple[str, int]]) -> str:
    """``ORDER BY`` for ``sort``, always ending with created then id so pages are stable;
    a missing field sorts first, as on the other stores."""
    terms, named = [], set()
    for path, direction in sort:
        check_path(path)
        if direction not in (1, -1):
            raise Invalid(f"sort direction for {path!r} must be 1 or -1")
        named.add(path)
        order = "ASC NULLS FIRST" if direction == 1 else "DESC NULLS LAST"
        terms.append(f"{value_at(path)} {order}")
    for column in ("created", "id"):
        if column not in named:
            terms.append(f"{column} ASC")
    return "ORDER BY " + ", ".join(terms)


#: a record's ``rev`` as ``rules.rev_of`` reads it (0: no record, or not a number)
_REV = (
    "CASE WHEN jsonb_typeof(records.doc->'rev') = 'number' "
    "THEN (records.doc->>'rev')::numeric ELSE 0 END"
)
#: ``swap_record`` at revision 0 (no record, or one without ``rev``)
SWAP_NEW_RECORD = (
    "INSERT INTO records (kind, id, doc) VALUES ($1, $2, $3::jsonb) "
    f"ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc WHERE {_REV} = 0"
)
#: ``swap_record`` at revision $4
SWAP_RECORD = f"UPDATE records SET doc = $3::jsonb WHERE kind = $1 AND id = $2 AND {_REV} = $4"
