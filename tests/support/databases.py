"""Dropping a test's database at teardown."""
from __future__ import annotations

from pymongo import MongoClient
from pymongo.errors import AutoReconnect


def drop_database(client: MongoClient, name: str) -> None:
    """Drops `name`, once more if the connection was reset meanwhile: on a loaded machine the
    embedded server can answer a heartbeat late while it drops a large database, and pymongo
    then resets its pool, cancelling the drop in flight (it may or may not have happened)."""
    try:
        client.drop_database(name)
    except AutoReconnect:
        client.drop_database(name)
