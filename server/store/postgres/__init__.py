"""The PostgreSQL store (``postgresql://`` URLs): see ``store.PostgresStore``."""

from livejobs.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
