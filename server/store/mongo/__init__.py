"""The MongoDB store (``mongodb://`` URLs; pymongo is imported only from here): see
``store.MongoStore``."""

from livejobs.store.mongo.store import MongoStore

__all__ = ["MongoStore"]
