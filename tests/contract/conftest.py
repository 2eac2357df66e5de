"""Contract tests: the same cases on what unit tests use and on MongoDB over the real wire server
(`MONGODB_URI`, else the embedded one).

- A repository unit tests run on mongomock (tests/fakes) is checked on mongomock and on the wire
  server: the `db` fixture is one or the other, and every case expects the same results from
  both. That is what makes mongomock a faithful stand-in for what the repositories use.
- A hand-written fake (where mongomock cannot run the repository, or tests need what MongoDB
  cannot store) is checked against its MongoDB repository on the wire server.
"""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from repositories.mongo import connect
from tests.fakes.database import memory_database


@pytest.fixture
def wire_db(mongo_uri):
    client = connect(mongo_uri)
    name = f"contract_{uuid.uuid4().hex[:12]}"
    yield client[name]
    client.drop_database(name)
    client.close()


@pytest.fixture(params=["mongomock", "wire"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def db(backend, request):
    """An in-memory mongomock database, or a fresh database on the wire server."""
    if backend == "mongomock":
        return memory_database()
    return request.getfixturevalue("wire_db")


def repository(backend: str, db, for_unit_tests: type, production: type) -> Any:
    """On mongomock, the class unit tests use (tests/fakes); on the wire, the production one."""
    built = (for_unit_tests if backend == "mongomock" else production)(db)
    built.ensure_indexes()
    return built
