"""Filters and sorts from the network: validated once here, then evaluated by every backend.

``parse_filter`` accepts a small, safe subset of MongoDB's query language (see
docs/protocol.md, "Filters") and ``matches`` evaluates it in Python with the same meaning the
stores give it in SQL or in MongoDB, so a live subscription and a query never disagree.

Meaning, shared by every backend:

- A dotted path walks objects by key; a canonical numeric segment (``0``, ``12``) also indexes
  an array. Paths do not fan out through arrays of objects (``log.level`` is missing).
- Equality and ``$in`` against an array match an element; ``null`` matches a missing field.
- ``$ne`` and ``$nin`` are the negations, so they match missing fields.
- ``$gt``/``$gte``/``$lt``/``$lte`` compare numbers with numbers and strings with strings only;
  anything else is false. Booleans are not numbers.
- Literals are scalars (string, number, boolean, null): comparing whole objects or arrays is
  not offered because the backends order their keys differently.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

from livejobs import search
from livejobs.errors import Invalid

MAX_DEPTH = 5
MAX_NODES = 500
MAX_LIST = 1000
MAX_PATH_LENGTH = 200
MAX_INDEX_SEGMENTS = 3
MAX_SORT_KEYS = 8

PATH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
INDEX_RE = re.compile(r"^(0|[1-9][0-9]{0,8})$")
COMPARISONS = ("$gt", "$gte", "$lt", "$lte")
OPERATORS = frozenset({"$in", "$nin", "$ne", "$exists", *COMPARISONS})
DEFAULT_SORT: list[tuple[str, int]] = [("created", 1)]

Filter = dict[str, Any]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""What a path resolves to when a field is absent (distinct from an explicit ``null``)."""


# -- validation ----------------------------------------------------------------------------


def parse_filter(obj: Any) -> Filter:
    """Validate an untrusted filter and return it; raise ``Invalid`` saying what is wrong."""
    if obj is None:
        return {}
    counter = [0]
    _check_filter(obj, depth=1, counter=counter, where="filter")
    return obj  # type: ignore[no-any-return]


def _check_filter(obj: Any, *, depth: int, counter: list[int], where: str) -> None:
    if not isinstance(obj, dict):
        raise Invalid(f"{where} must be an object, not {_json_type(obj)}")
    if depth > MAX_DEPTH:
        raise Invalid(f"filter is nested too deeply (at most {MAX_DEPTH} levels of $and/$or)")
    _count(counter)
    for key, value in obj.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise Invalid(f"{key} needs a non-empty list of filters")
            for i, sub in enumerate(value):
                _check_filter(sub, depth=depth + 1, counter=counter, where=f"{key}[{i}]")
        elif key == "$search":
            search.parse(value)
        elif isinstance(key, str) and key.startswith("$"):
            raise Invalid(f"unknown filter operator {key!r}; use $and, $or or $search here")
        else:
            check_path(key)
            _check_condition(key, value, counter)


def check_path(path: Any) -> str:
    """A field path safe to hand to any backend (also used for sort keys)."""
    if not isinstance(path, str) or len(path) > MAX_PATH_LENGTH or not PATH_RE.match(path):
        raise Invalid(
            f"bad field path {path!r}: use names of letters, digits and _ joined by dots "
            f"(e.g. 'data.user'), at most {MAX_PATH_LENGTH} characters"
        )
    if path.startswith("_"):
        raise Invalid(f"bad field path {path!r}: top-level names starting with _ are reserved")
    if sum(1 for seg in path.split(".") if INDEX_RE.match(seg)) > MAX_INDEX_SEGMENTS:
        raise Invalid(f"bad field path {path!r}: at most {MAX_INDEX_SEGMENTS} numeric segments")
    return path


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _check_condition(path: str, value: Any, counter: list[int]) -> None:
    _count(counter)
    if not isinstance(value, dict):
        _check_literal(path, value)
        return
    if not value or not all(isinstance(k, str) and k.startswith("$") for k in value):
        raise Invalid(
            f"{path}: comparing with a whole object is not supported; "
            f"use dotted paths (e.g. '{path}.field') or operators ($in, $gt, ...)"
        )
    for op, arg in value.items():
        _count(counter)
        if op not in OPERATORS:
            known = ", ".join(sorted(OPERATORS))
            raise Invalid(f"{path}: unknown operator {op!r}; allowed: {known}")
        if op in ("$in", "$nin"):
            if not isinstance(arg, list):
                raise Invalid(f"{path}: {op} needs a list")
            if len(arg) > MAX_LIST:
                raise Invalid(f"{path}: {op} takes at most {MAX_LIST} values")
            for item in arg:
                _check_literal(path, item)
        elif op == "$exists":
            if not isinstance(arg, bool):
                raise Invalid(f"{path}: $exists needs true or false")
        elif op == "$ne":
            _check_literal(path, arg)
        elif isinstance(arg, bool) or not isinstance(arg, int | float | str):
            raise Invalid(f"{path}: {op} compares with a number or a string")
        else:
            _check_literal(path, arg)


def _check_literal(path: str, value: Any) -> None:
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:  # neither store can bind it
            raise Invalid(f"{path}: integers must lie within ±2**63")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Invalid(f"{path}: numbers must be finite")
        return
    raise Invalid(
        f"{path}: values must be a string, number, boolean or null, not {_json_type(value)} "
        "(use $in to match any of several values)"
    )


def filter_cost(filter: Filter) -> int:
    """What evaluating a validated filter against one document costs, in steps: one per
    object, condition and operator, one per ``$in``/``$nin`` value. A live subscription pays it
    on every change of every job, so the budgets per connection and per user count this."""
    cost = 1
    for key, value in filter.items():
        if key in ("$and", "$or"):
            cost += sum(filter_cost(sub) for sub in value)
            continue
        cost += search.MAX_WORDS if key == "$search" else 1
        if isinstance(value, dict):
            for op, arg in value.items():
                cost += 1 + (len(arg) if op in ("$in", "$nin") else 0)
    return cost


def _count(counter: list[int]) -> None:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise Invalid(f"filter is too large (at most {MAX_NODES} conditions)")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def parse_sort(obj: Any) -> list[tuple[str, int]]:
    """``[["priority", 1], ["created", -1]]`` or ``{"priority": 1}``; None/empty → created asc."""
    if obj is None:
        return list(DEFAULT_SORT)
    shape = "sort must be a list of [field, 1 or -1] pairs or a {field: 1 or -1} object"
    if isinstance(obj, dict):
        pairs = list(obj.items())
    elif isinstance(obj, list):
        if not all(isinstance(item, list | tuple) and len(item) == 2 for item in obj):
            raise Invalid(shape)
        pairs = [(item[0], item[1]) for item in obj]
    else:
        raise Invalid(shape)
    if not pairs:
        return list(DEFAULT_SORT)
    if len(pairs) > MAX_SORT_KEYS:
        raise Invalid(f"sort takes at most {MAX_SORT_KEYS} fields")
    seen: set[str] = set()
    result: list[tuple[str, int]] = []
    for path, direction in pairs:
        check_path(path)
        if isinstance(direction, bool) or direction not in (1, -1):
            raise Invalid(f"sort direction for {path!r} must be 1 or -1")
        if path in seen:
            raise Invalid(f"sort names {path!r} twice")
        seen.add(path)
        result.append((path, int(direction)))
    return result


# -- evaluation ----------------------------------------------------------------------------

# Kind of a JSON scalar for comparisons: numbers compare with numbers, strings with strings.
_KINDS: dict[type, str] = {str: "s", int: "n", float: "n", bool: "b", type(None): "z"}


def _kind(value: Any) -> str | None:
    kind = _KINDS.get(type(value))
    if kind is None:  # subclasses (e.g. a StrEnum in a document built in-process)
        if isinstance(value, bool):
            return "b"
        if isinstance(value, int | float):
            return "n"
        if isinstance(value, str):
            return "s"
    return kind


@lru_cache(maxsize=4096)
def split_path(path: str) -> tuple[tuple[str, int | None], ...]:
    """Segments as ``(key, index)``; ``index`` is set for canonical numeric segments."""
    return tuple((seg, int(seg) if INDEX_RE.match(seg) else None) for seg in path.split("."))


def resolve(doc: Any, path: str) -> Any:
    """The value at ``path``, or ``MISSING``."""
    if "." not in path:
        return doc.get(path, MISSING) if isinstance(doc, dict) else MISSING
    value = doc
    for key, index in split_path(path):
        if isinstance(value, dict):
            value = value.get(key, MISSING)
        elif index is not None and isinstance(value, list) and index < len(value):
            value = value[index]
        else:
            return MISSING
        if value is MISSING:
            return value
    return value


def matches(doc: dict[str, Any], filter: Filter) -> bool:
    """Whether ``doc`` satisfies a filter accepted by ``parse_filter``."""
    for key, cond in filter.items():
        if key == "$and":
            for sub in cond:
                if not matches(doc, sub):
                    return False
        elif key == "$or":
            for sub in cond:
                if matches(doc, sub):
                    break
            else:
                return False
        elif key == "$search":
            if not search.matches(doc, cond):
                return False
        else:
            value = doc.get(key, MISSING) if "." not in key else resolve(doc, key)
            if type(cond) is dict:
                if not _operators(value, cond):
                    return False
            elif not _equals(value, cond):
                return False
    return True


def _same(value: Any, literal: Any) -> bool:
    if type(value) is type(literal):
        return bool(value == literal)
    kind = _kind(value)
    return kind is not None and kind == _kind(literal) and bool(value == literal)


def _equals(value: Any, literal: Any) -> bool:
    if literal is None:
        if value is None or value is MISSING:
            return True
        return type(value) is list and any(item is None for item in value)
    if _same(value, literal):
        return True
    if type(value) is list:
        for item in value:
            if _same(item, literal):
                return True
    return False


def _in(value: Any, literals: list[Any]) -> bool:
    """``$in``; ``x in list`` runs in C and is exact for strings and null, so try it first."""
    kind = type(value)
    if kind is str or value is None:
        return value in literals
    if value is MISSING:
        return None in literals
    if kind is list:
        return any(_equals(value, literal) for literal in literals)
    # Numbers and booleans: ``1 in [True]`` is true in Python, so confirm by kind.
    return value in literals and any(_same(value, literal) for literal in literals)


def _compare(a: Any, op: str, b: Any) -> bool:
    kind = _kind(a)
    if kind is None or kind != _kind(b) or kind not in ("n", "s"):
        return False
    if op == "$gt":
        return bool(a > b)
    if op == "$gte":
        return bool(a >= b)
    if op == "$lt":
        return bool(a < b)
    return bool(a <= b)


def _operators(value: Any, ops: dict[str, Any]) -> bool:
    for op, arg in ops.items():
        if op == "$in":
            if not _in(value, arg):
                return False
        elif op == "$nin":
            if _in(value, arg):
                return False
        elif op == "$ne":
            if _equals(value, arg):
                return False
        elif op == "$exists":
            if (value is not MISSING) is not arg:
                return False
        elif type(value) is list:
            if not any(_compare(item, op, arg) for item in value):
                return False
        elif not _compare(value, op, arg):
            return False
    return True


def pinned(filter: Filter, field: str) -> frozenset[str] | None:
    """The strings a document's top-level ``field`` must equal for ``filter`` to match it
    (``{field: "a"}``, ``{field: {"$in": [...]}}``, through ``$and`` and ``$or``), or None.
    Live matching indexes filters by it: a change meets the filters of its own job type."""
    found: frozenset[str] | None = None
    for key, cond in filter.items():
        if key == field:
            here = _strings(cond)
        elif key == "$and":
            here = None
            for sub in cond:
                if (one := pinned(sub, field)) is not None:
                    here = one if here is None else here & one
        elif key == "$or":
            here = _union([pinned(sub, field) for sub in cond])
        else:
            continue
        if here is not None:
            found = here if found is None else found & here
    return found


def _union(branches: list[frozenset[str] | None]) -> frozenset[str] | None:
    """An ``$or`` pins what all its branches pin together, if every branch pins something."""
    found: frozenset[str] = frozenset()
    for branch in branches:
        if branch is None:
            return None
        found |= branch
    return found if branches else None


def _strings(cond: Any) -> frozenset[str] | None:
    """The strings an equality or ``$in`` admits (other operators only narrow it), or None."""
    if type(cond) is str:
        return frozenset((cond,))
    if type(cond) is dict:
        values = cond.get("$in")
        if type(values) is list and all(type(value) is str for value in values):
            return frozenset(values)
    return None
