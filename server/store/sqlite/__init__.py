"""The embedded SQLite store (the default; a path or ``sqlite://`` URL): ``store.SQLiteStore``."""

from livejobs.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
