"""Server settings: one msgspec Struct, filled from flags, ``LIVEJOBS_*`` environment variables and
an optional TOML file. Precedence: flag > environment > file > default.

Every command that reads settings loads them here, so a bad value gets one kind of answer
wherever it comes from: ``invalid setting port (from --port): expected int <= 65535, got 99999``.
msgspec checks the types and bounds declared on the fields; this module only remembers where
each value came from, so the message can name the flag, the variable or the file.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

import msgspec
from msgspec import Meta

from livejobs.roles import Role


def find_web_dir(package: Path) -> Path:
    """The dashboard's files: inside the installed package (a wheel ships web/ as
    ``livejobs/web``), else the repository's web/ (an editable install maps only the modules)."""
    packaged = package / "web"
    return packaged if packaged.is_dir() else package.parent / "web"


WEB_DIR = find_web_dir(Path(__file__).resolve().parent)


def has_dashboard(web_dir: str) -> bool:
    """Whether ``web_dir`` can serve the dashboard: the server prints its URL only then."""
    return (Path(web_dir) / "index.html").is_file()


Positive = Annotated[int, Meta(ge=1)]
Seconds = Annotated[float, Meta(gt=0)]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class RetryPolicy(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A retry policy as a job's ``retry`` takes it (``livejobs.params.RetrySpec``)."""

    retries: Annotated[int, Meta(ge=0, le=1_000_000)] = 0
    wait: Annotated[float, Meta(ge=0)] = 0.0
    backoff: Literal["constant", "exponential"] = "constant"
    max_wait: Annotated[float, Meta(ge=0)] | None = None


class Settings(msgspec.Struct, kw_only=True):
    db: Annotated[str, Meta(min_length=1)] = "livejobs.db"
    host: Annotated[str, Meta(min_length=1)] = "127.0.0.1"
    port: Annotated[int, Meta(ge=1, le=65535)] = 8000
    #: seconds a worker holds a job without a heartbeat before it is taken back
    lease_seconds: Seconds = 30.0
    #: on SIGTERM, seconds running jobs may take to finish before they are handed back
    shutdown_grace: Annotated[float, Meta(ge=0)] = 20.0
    #: seconds finished (completed/failed/cancelled) jobs are kept; per-job ``retain`` overrides
    retain_seconds: Seconds | None = 7 * 24 * 3600.0
    #: the retry policy of jobs created without one whose type has none (``types.set_retry``);
    #: in the environment as JSON, e.g. {"retries": 3, "wait": 5, "backoff": "exponential"}
    default_retry: RetryPolicy | None = None
    #: SQLite durability: NORMAL survives a process crash, FULL also a power loss
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    anonymous_role: Role | None = None
    #: a fixed admin token to create on an empty store (scripts, benchmarks); else a random one
    admin_token: str | None = None
    #: browser origins allowed to open the WebSocket (None: same host only)
    allowed_origins: list[str] | None = None
    #: "module:attribute" of a list of extra allow/deny rules (see livejobs.permissions)
    rules: str | None = None
    web_dir: str = str(WEB_DIR)
    log_format: Literal["text", "json"] = "text"
    #: permessage-deflate on WebSockets (off: it costs more CPU than fan-out itself)
    ws_compression: bool = False
    log_level: LogLevel = "info"
    # limits that protect the server
    max_frame_bytes: Positive = 1_048_576
    max_data_bytes: Positive = 262_144
    max_subscriptions: Positive = 100
    max_pending_calls: Positive = 1000
    #: authenticated WebSocket connections one user may hold on this server at once (None: all
    #: but ``RESERVED_DESCRIPTORS`` of the process's open files, as many clients may share one
    #: identity, but one must never leave the others without a descriptor)
    max_connections_per_user: Positive | None = None
    auth_timeout: Seconds = 10.0
    #: failed authentications (wrong tokens) from one client address before it backs off
    auth_free_failures: Positive = 5
    #: the first back-off, in seconds; each further failure doubles it
    auth_backoff_seconds: Seconds = 1.0
    #: the longest back-off; an address quiet this long after it is forgotten
    auth_backoff_max: Seconds = 60.0
    #: failed ``auth`` calls after which a WebSocket connection is closed
    auth_connection_failures: Positive = 3
    max_batch: Positive = 10_000
    #: seconds a create's ``request_id`` is remembered: a retry within it gets the first answer
    request_id_seconds: Seconds = 86_400.0
    #: bytes waiting to be written to one WebSocket client before it is cut as too slow
    max_outbox_bytes: Positive = 16_777_216
    #: cost (nodes plus ``$in`` items) of a subscription filter, of a connection's filters
    #: together, and of a user's distinct filters across its connections
    max_filter_cost: Positive = 1_000
    max_filter_cost_per_connection: Positive = 2_000
    max_filter_cost_per_user: Positive = 4_000
    #: subscriptions one user may hold across all its connections (``max_subscriptions``: per
    #: one); high, since many clients may share an identity (a dashboard, ``anonymous_role``)
    max_subscriptions_per_user: Positive = 10_000
    #: log entries a job keeps (the creation entry, a note of how many were dropped, the newest)
    max_log_entries: Annotated[int, Meta(ge=3)] = 1000
    #: bytes of one log entry's message plus data; longer ones are cut with a marker
    max_log_entry_bytes: Annotated[int, Meta(ge=256)] = 2048
    #: bytes of one failure's error (message, traceback); longer ones are cut with a marker
    max_error_bytes: Annotated[int, Meta(ge=256)] = 8192
    #: a repeating job runs at most once per this many seconds (``every`` or cron)
    min_repeat_seconds: Annotated[float, Meta(ge=0)] = 1.0
    #: distinct job types labelled in /metrics; later types are counted as ``type="other"``
    max_metric_types: Positive = 100
    #: when set, /metrics needs ``Authorization: Bearer <metrics_token>``
    metrics_token: Annotated[str, Meta(min_length=16)] | None = None
    #: seconds between two additions of this server's history counts to the store
    history_flush_seconds: Seconds = 10.0
    #: seconds the per-minute and the per-hour history (``stats.history``) are kept
    history_minutes_seconds: Seconds = 86_400.0
    history_hours_seconds: Seconds = 30 * 86_400.0
    extra: dict[str, Any] = msgspec.field(default_factory=dict)

    @classmethod
    def load(
        cls,
        overrides: Mapping[str, Any],
        config_file: str | None = None,
        flags: Mapping[str, str] | None = None,
    ) -> Settings:
        """Defaults, then the TOML file, then the environment, then non-None ``overrides``
        (flags: ``flags`` maps a setting to its flag's name when it is not ``--the-name``).
        Raises ``SettingsError`` naming the setting and where its value came from."""
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        path = config_file or os.environ.get("LIVEJOBS_CONFIG")
        if path:
            for name, value in _read_file(path).items():
                values[name], sources[name] = value, path
        for name in FIELDS:
            raw = os.environ.get(f"LIVEJOBS_{name.upper()}")
            if raw is not None:
                values[name], sources[name] = _from_env(raw, name), f"LIVEJOBS_{name.upper()}"
        mongo = os.environ.get("LIVEJOBS_MONGODB_URI")
        if mongo and overrides.get("db") is None:
            values["db"], sources["db"] = mongo, "LIVEJOBS_MONGODB_URI"
        for name, value in overrides.items():
            if value is not None:
                flag = (flags or {}).get(name) or f"--{name.replace('_', '-')}"
                values[name], sources[name] = value, flag
        return _convert(values, sources)


FIELDS: dict[str, Any] = get_type_hints(Settings, include_extras=True)


class SettingsError(ValueError):
    """A setting that cannot be used; the message names it and its source."""

    @classmethod
    def invalid(cls, name: str, source: str, problem: str) -> SettingsError:
        return cls(f"invalid setting {name} (from {source}): {problem}")


def _read_file(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            table = tomllib.load(fh).get("livejobs", {})
    except OSError as exc:
        raise SettingsError(f"cannot read the settings file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"the settings file {path} is not valid TOML: {exc}") from None
    if not isinstance(table, dict):
        raise SettingsError(f"the settings file {path}: [livejobs] must be a table")
    unknown = sorted(set(table) - set(FIELDS))
    if unknown:
        raise SettingsError(f"unknown setting {', '.join(unknown)} (from {path})")
    return table


def _from_env(raw: str, name: str) -> Any:
    """An environment string as the field expects it; msgspec converts numbers (strict=False),
    this handles what it does not: comma lists, yes/on/no/off, and "forever" for none."""
    args = _flat_args(FIELDS[name])
    if RetryPolicy in args and raw.lower() not in ("", "none"):
        try:
            return msgspec.json.decode(raw)
        except msgspec.DecodeError:
            raise SettingsError.invalid(name, f"LIVEJOBS_{name.upper()}", "not JSON") from None
    if RetryPolicy in args:
        return None
    if list in args or any(get_origin(a) is list for a in args):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if bool in args:
        return {"yes": True, "on": True, "no": False, "off": False}.get(raw.lower(), raw)
    if float in args and type(None) in args and raw.lower() in ("", "none", "forever"):
        return None
    return raw


def _flat_args(annotation: Any) -> set[Any]:
    """The types in an annotation, through ``Annotated`` and unions."""
    if get_origin(annotation) is Annotated:
        return _flat_args(get_args(annotation)[0])
    args = get_args(annotation)
    if not args or get_origin(annotation) in (list, dict, Literal):
        return {annotation if get_origin(annotation) is None else get_origin(annotation)}
    return set().union(*(_flat_args(a) for a in args))


def _choices(name: str) -> list[str]:
    """The allowed values of a Literal setting (empty if it is not one)."""
    annotation = FIELDS[name]
    found: list[str] = []
    for part in [annotation, *get_args(annotation)]:
        if get_origin(part) is Literal:
            found.extend(str(v) for v in get_args(part))
    return found


def _convert(values: dict[str, Any], sources: dict[str, str]) -> Settings:
    for name, cased in (("log_level", str.lower), ("sqlite_synchronous", str.upper)):
        if isinstance(values.get(name), str):
            values[name] = cased(values[name])  # both spellings are common; accept either
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise SettingsError(f"unknown setting {', '.join(unknown)}")
    try:
        return msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise _explain(str(exc), values, sources) from None


def _explain(message: str, values: dict[str, Any], sources: dict[str, str]) -> SettingsError:
    """msgspec's "Expected `int` <= 65535 - at `$.port`" as a sentence for an operator."""
    match = re.search(r" - at `\$\.(\w+)", message)
    if match is None:
        return SettingsError(f"invalid settings: {message}")
    name = match.group(1)
    value = values.get(name)
    problem = message[: match.start()]
    if problem.startswith("Invalid enum value") and _choices(name):
        problem = f"must be one of {', '.join(_choices(name))}"
    else:
        problem = problem.split(", got `")[0].replace("`", "")
        problem = problem[:1].lower() + problem[1:]
    return SettingsError.invalid(name, sources.get(name, "default"), f"{problem}, got {value!r}")
