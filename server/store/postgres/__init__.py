"""The PostgreSQL store (``postgresql://`` URLs): see ``store.PostgresStore``."""

from server.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
