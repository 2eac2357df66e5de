"""Where Flask-Limiter keeps its counters: limits' MongoDB storage, in the app's database.

Registered under its own URI scheme (`synapscale+mongodb://`) only to close its client properly:
the stock storage's `__del__` opens a connection (and creates indexes) when the storage was never
used, which stalls shutdown when the database is already gone.
"""
from __future__ import annotations

import sys
from collections.abc import Iterable

from limits.storage import MongoDBStorage

SCHEME_PREFIX = "synapscale+"
COUNTERS = "ratelimit_counters"
WINDOWS = "ratelimit_windows"


class ClosableMongoStorage(MongoDBStorage):
    STORAGE_SCHEME = [SCHEME_PREFIX + "mongodb", SCHEME_PREFIX + "mongodb+srv"]

    def _init_mongo_client(self, uri, **options):
        return super()._init_mongo_client(uri.removeprefix(SCHEME_PREFIX), **options)

    def close(self) -> None:
        client = getattr(self, "_storage", None)  # absent when __init__ failed
        if client is not None:
            client.close()

    def __del__(self) -> None:
        if not sys.is_finalizing():  # at exit pymongo may already be gone: closing then can hang
            self.close()


def rate_limit_storage(storage_uri: str, database: str, timeout_ms: int,
                       listeners: Iterable = ()) -> tuple[str, dict]:
    """(uri, options) for Flask-Limiter. MongoDB URIs get the counters in `database`, failing as
    fast as the app's own client; any other `limits` URI (memory://, redis://) is used as is."""
    if not storage_uri.startswith(("mongodb://", "mongodb+srv://")):
        return storage_uri, {}
    return SCHEME_PREFIX + storage_uri, dict(
        database_name=database, counter_collection_name=COUNTERS, window_collection_name=WINDOWS,
        serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms,
        appname="synapscale-ratelimit", event_listeners=list(listeners),
    )
