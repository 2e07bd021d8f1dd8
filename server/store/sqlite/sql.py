"""SQL for the SQLite store: the schema, the derived columns, and filter/sort → SQL.

Kept apart from the store so that the translation, which must mean exactly what
``livejobs.query.matches`` means, can be read (and tested) on its own. Field paths are checked
against ``query.PATH_RE`` before they reach SQL text; every value is a bound parameter.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import Any

import msgspec

from livejobs import search
from livejobs.errors import Invalid
from livejobs.jobs.lifecycle import claim_rank
from livejobs.jobs.model import FINISHED, Job
from livejobs.query import COMPARISONS, INDEX_RE, check_path

COLUMNS = (
    "id",
    "type",
    "status",
    "priority",
    "created",
    "updated",
    "after",
    "due",
    "owner",
    "version",
)
"""Job fields copied into columns on every write; filters and sorts on them use the column."""

AFFINITY = ("target", "exclude")
"""Worker affinity copied into columns for the claim alone (``exclude`` as JSON text, NULL when
empty): reading both from the document parsed it three times per candidate row. Filters on
these fields read the document, as they always did."""

_ROW = (*COLUMNS, "live_key", *AFFINITY, "rank", "doc")
"""``rank``: ``lifecycle.claim_rank``, the claim's order within a priority (LIFO first)."""
LIVE_KEY = _ROW.index("live_key")
INSERT = (
    f"INSERT INTO jobs ({', '.join(_ROW)}) VALUES ({', '.join('?' * len(_ROW))}) "
    "ON CONFLICT (live_key) DO NOTHING"
)
# The stored columns of a job about to be replaced, if it is still at the version read.
STORED = f"SELECT rowid, {', '.join(_ROW[1:-1])} FROM jobs WHERE id = ? AND version = ?"
#: where a counted group's columns sit in ``STORED``'s columns (after the rowid)
GROUP_COLUMNS = tuple(_ROW.index(c) - 1 for c in ("type", "status", "owner"))

# Claim candidates of one type, in the order of the jobs_claim_rank index (no sort step).
CLAIM = """
SELECT rowid, doc FROM jobs
WHERE status = 'ready' AND type = ?
  AND (target IS NULL OR target = ?)
  AND (exclude IS NULL OR NOT EXISTS (SELECT 1 FROM json_each(exclude) WHERE value = ?))
ORDER BY priority, rank, id
LIMIT ?
"""

encode = msgspec.json.encode
decode = msgspec.json.decode


def live_key(owner: Any, key: Any) -> str | None:
    """The ``live_key`` column: the key scoped to its owner (unique among unfinished jobs),
    in a form no two (owner, key) pairs share."""
    return encode([owner, key]).decode() if isinstance(key, str) else None


def row(doc: Job) -> tuple[Any, ...]:
    """The column values for ``doc``, in ``_ROW`` order (the document itself last)."""
    return (*columns(doc), encode(doc).decode())


def columns(doc: Job) -> tuple[Any, ...]:
    """``row(doc)`` without the document: what the indexes and the job counts are made of."""
    live = live_key(doc.get("owner"), doc.get("key")) if doc.get("status") not in FINISHED else None
    return (
        doc["id"],
        doc.get("type"),
        doc.get("status"),
        doc.get("priority"),
        doc.get("created"),
        doc.get("updated"),
        doc.get("after"),
        doc.get("due"),
        doc.get("owner"),
        doc.get("version"),
        live,
        doc.get("target"),
        encode(excluded).decode() if (excluded := doc.get("exclude")) else None,
        claim_rank(doc) if doc.get("created") is not None else None,
    )


def update(rowid: int, old: Sequence[Any], new: Job) -> tuple[str, tuple[Any, ...]]:
    """SQL and parameters that turn the row ``rowid``, whose ``columns`` are ``old`` (from
    ``STORED``, without the id), into ``new``. Only the columns that differ are set: SQLite
    rewrites an index entry for every column named in SET, changed or not, and an index
    entry rewritten for nothing is a page more for the commit to write."""
    changed, params = _assignments(old, new)
    return _update_sql(changed, False), (*params, rowid)


def update_if_version(version: int, old: Sequence[Any], new: Job) -> tuple[str, tuple[Any, ...]]:
    """``update`` of the row of ``new["id"]`` only while it is at ``version``, ``old`` being
    that version's columns; no row changes when another write got there first."""
    changed, params = _assignments(old, new)
    return _update_sql(changed, True), (*params, new["id"], version)


def _assignments(old: Sequence[Any], new: Job) -> tuple[tuple[int, ...], tuple[Any, ...]]:
    values = columns(new)
    pairs = zip(_SET_INDEXES, values[1:], old, strict=True)
    changed = tuple([i for i, now, was in pairs if now != was])
    return changed, (*[values[i] for i in changed], encode(new).decode())


#: the indexes in ``_ROW`` of what an update may set (all but the id)
_SET_INDEXES = range(1, _ROW.index("doc"))


@functools.cache
def _update_sql(changed: tuple[int, ...], by_version: bool) -> str:
    assigned = [f"{_ROW[i]} = ?" for i in changed] + ["doc = ?"]
    where = "id = ? AND version = ?" if by_version else "rowid = ?"
    return f"UPDATE jobs SET {', '.join(assigned)} WHERE {where}"


# -- filters -------------------------------------------------------------------------------

_NUMBER = "IN ('integer', 'real')"
_SQL_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def where(filter: dict[str, Any], params: list[Any]) -> str:
    """A SQL boolean (never NULL) for ``filter``; appends its parameters to ``params``."""
    parts = []
    for key, cond in filter.items():
        if key in ("$and", "$or"):
            if not isinstance(cond, list) or not cond:
                raise Invalid(f"{key} needs a non-empty list of filters")
            subs = [where(sub, params) for sub in cond]
            parts.append("(" + (" AND " if key == "$and" else " OR ").join(subs) + ")")
        elif key == "$search":  # the FTS5 table the search triggers keep (migrations)
            params.append(search.fts5_query(cond))
            parts.append(
                f"rowid IN (SELECT rowid FROM jobs_search WHERE jobs_search MATCH ?{len(params)})"
            )
        elif isinstance(cond, dict):
            target = _Target(check_path(key))
            for op, arg in cond.items():
                parts.append(_operator(target, op, arg, params))
        else:
            parts.append(_Target(check_path(key)).equals(cond, params))
    return "(" + " AND ".join(parts) + ")" if parts else "1"


def _operator(target: _Target, op: str, arg: Any, params: list[Any]) -> str:
    if op == "$in":
        return target.one_of(arg, params)
    if op == "$nin":
        return f"NOT {target.one_of(arg, params)}"
    if op == "$ne":
        return f"NOT {target.equals(arg, params)}"
    if op == "$exists":
        return target.exists() if arg else f"NOT {target.exists()}"
    if op in COMPARISONS:
        return target.compare(_SQL_OPS[op], arg, params)
    raise Invalid(f"unknown operator {op!r}")


def _scalar_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    raise Invalid(f"values must be a string, number, boolean or null, not {value!r}")


class _Target:
    """One field: a column, or a JSON path inside ``doc`` (one path per reading of its numeric
    segments, object key or array index: at most one of them exists in a given document)."""

    def __init__(self, path: str) -> None:
        self.column = path if path in COLUMNS else None
        choices = [
            (f".{seg}", f"[{seg}]") if INDEX_RE.match(seg) else (f".{seg}",)
            for seg in path.split(".")
        ]
        self.paths = ["$" + "".join(p) for p in itertools.product(*choices)]

    def _any(self, template: str) -> str:
        ors = [template.replace("{p}", p) for p in self.paths]
        return ors[0] if len(ors) == 1 else "(" + " OR ".join(ors) + ")"

    def exists(self) -> str:
        return self._any("json_type(doc, '{p}') IS NOT NULL")

    def _element(self, condition: str) -> str:
        # json_each yields a scalar itself, or an array's elements; object members (text keys)
        # are skipped so that an object never equals a scalar.
        return self._any(
            "EXISTS (SELECT 1 FROM json_each(doc, '{p}') "
            f"WHERE typeof(key) <> 'text' AND {condition})"
        )

    def equals(self, value: Any, params: list[Any]) -> str:
        return self.one_of([value], params)

    def one_of(self, values: Sequence[Any], params: list[Any]) -> str:
        kinds: dict[str, list[Any]] = {}
        for value in values:
            kinds.setdefault(_scalar_kind(value), []).append(value)
        if not kinds:
            return "0"
        if self.column:
            return self._column_one_of(kinds, params)
        conditions = []
        for kind, group in kinds.items():
            if kind in ("text", "number"):
                type_test = "type = 'text'" if kind == "text" else f"type {_NUMBER}"
                conditions.append(f"({type_test} AND {_in_values(group, params)})")
            else:
                conditions.append(f"type = '{kind}'")
        test = self._element(
            " OR ".join(conditions) if len(conditions) == 1 else "(" + " OR ".join(conditions) + ")"
        )
        if "null" in kinds:  # null also matches a missing field
            test = f"({test} OR NOT {self.exists()})"
        return test

    def _column_one_of(self, kinds: dict[str, list[Any]], params: list[Any]) -> str:
        col = self.column
        assert col is not None
        conditions = []
        for kind, group in kinds.items():
            if kind == "null":
                conditions.append(f"{col} IS NULL")
            elif kind == "text":
                conditions.append(f"(typeof({col}) = 'text' AND {_in_values(group, params, col)})")
            elif kind == "number":
                conditions.append(f"(typeof({col}) {_NUMBER} AND {_in_values(group, params, col)})")
            # Columns never hold booleans: a boolean literal matches nothing.
        if not conditions:
            return "0"
        return conditions[0] if len(conditions) == 1 else "(" + " OR ".join(conditions) + ")"

    def compare(self, sql_op: str, value: Any, params: list[Any]) -> str:
        kind = _scalar_kind(value)
        if kind not in ("text", "number"):
            raise Invalid(f"comparisons take a number or a string, not {value!r}")
        type_test = "= 'text'" if kind == "text" else _NUMBER
        params.append(value)
        number = len(params)  # numbered, so every path choice can reuse it
        if self.column:
            return f"(typeof({self.column}) {type_test} AND {self.column} {sql_op} ?{number})"
        return self._element(f"type {type_test} AND value {sql_op} ?{number}")


def _in_values(values: list[Any], params: list[Any], expr: str = "value") -> str:
    """``expr = ?`` for one value; otherwise one JSON-array parameter, whatever the length."""
    if len(values) == 1:
        params.append(values[0])
        return f"{expr} = ?{len(params)}"
    params.append(encode(values).decode())
    return f"{expr} IN (SELECT value FROM json_each(?{len(params)}))"


# -- sorting -------------------------------------------------------------------------------


def order_by(sort: Sequence[tuple[str, int]]) -> str:
    """``ORDER BY`` for ``sort``, always ending with created then id so pages are stable."""
    terms, named = [], set()
    for path, direction in sort:
        check_path(path)
        if direction not in (1, -1):
            raise Invalid(f"sort direction for {path!r} must be 1 or -1")
        named.add(path)
        target = _Target(path)
        if target.column:
            expr = target.column
        elif len(target.paths) == 1:
            expr = f"json_extract(doc, '{target.paths[0]}')"
        else:
            expr = "coalesce(" + ", ".join(f"json_extract(doc, '{p}')" for p in target.paths) + ")"
        terms.append(f"{expr} {'ASC' if direction == 1 else 'DESC'}")
    for column in ("created", "id"):
        if column not in named:
            terms.append(f"{column} ASC")
    return "ORDER BY " + ", ".join(terms)
