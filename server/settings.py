"""Server settings: one dataclass, filled from flags, ``LIVEJOBS_*`` environment variables and an
optional TOML file. Precedence: flag > environment > file > default."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


@dataclass(slots=True)
class Settings:
    db: str = "livejobs.db"
    host: str = "127.0.0.1"
    port: int = 8000
    #: seconds a worker holds a job without a heartbeat before it is taken back
    lease_seconds: float = 30.0
    #: on SIGTERM, seconds running jobs may take to finish before they are handed back
    shutdown_grace: float = 20.0
    #: seconds finished (completed/cancelled) jobs are kept; per-job ``retain`` overrides
    retain_seconds: float | None = 7 * 24 * 3600.0
    #: SQLite durability: NORMAL survives a process crash, FULL also a power loss
    sqlite_synchronous: str = "NORMAL"
    anonymous_role: str | None = None
    #: a fixed admin token to create on an empty store (scripts, benchmarks); else a random one
    admin_token: str | None = None
    #: browser origins allowed to open the WebSocket (None: same host only)
    allowed_origins: list[str] | None = None
    #: "module:attribute" of a list of extra allow/deny rules (see server.permissions)
    rules: str | None = None
    web_dir: str = str(WEB_DIR)
    log_format: str = "text"
    #: permessage-deflate on WebSockets (off: it costs more CPU than fan-out itself)
    ws_compression: bool = False
    log_level: str = "info"
    # limits that protect the server
    max_frame_bytes: int = 1_048_576
    max_data_bytes: int = 262_144
    max_subscriptions: int = 100
    max_pending_calls: int = 1000
    auth_timeout: float = 10.0
    max_batch: int = 10_000
    #: seconds a create's ``request_id`` is remembered: a retry within it gets the first answer
    request_id_seconds: float = 86_400.0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, overrides: dict[str, Any], config_file: str | None = None) -> Settings:
        """Defaults, then the TOML file, then the environment, then non-None ``overrides``."""
        values: dict[str, Any] = {}
        path = config_file or os.environ.get("LIVEJOBS_CONFIG")
        if path:
            with open(path, "rb") as fh:
                values.update(tomllib.load(fh).get("livejobs", {}))
        names = {f.name: f for f in fields(cls)}
        for name, f in names.items():
            raw = os.environ.get(f"LIVEJOBS_{name.upper()}")
            if raw is not None:
                values[name] = _coerce(raw, str(f.type))
        mongo = os.environ.get("LIVEJOBS_MONGODB_URI")
        if mongo and "db" not in overrides:
            values["db"] = mongo
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - set(names)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls(**values)


def _coerce(raw: str, annotation: str) -> Any:
    """An environment string as the field's declared type (lists are comma-separated)."""
    if annotation.startswith("list"):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if annotation.startswith("bool"):
        return raw.lower() in ("1", "true", "yes", "on")
    if annotation.startswith("int"):
        return int(raw)
    if annotation.startswith("float"):
        return None if raw.lower() in ("", "none", "forever") else float(raw)
    return raw
