"""Shared fixtures: a real MongoDB wire server, an app bound to a fresh database, a client.

MongoDB is `MONGODB_URI` when set, else one embedded SecantusDB server for the whole session.
"""
from __future__ import annotations

import os
import uuid

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from adapters.embedded_mongo import EmbeddedMongo, free_port
from app import create_app, shutdown
from config.settings import Settings
from tests.support.api import ApiClient
from tests.support.databases import drop_database
from tests.support.fixtures import MOCK_DEFAULT_MODEL, mock_catalogue_path

pytest_plugins = ["tests.support.fixtures", "tests.support.s3"]


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory):
    if os.environ.get("MONGODB_URI"):
        yield None
        return
    server = EmbeddedMongo(tmp_path_factory.mktemp("mongo"), free_port())
    server.ensure_running()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_uri(mongo_server) -> str:
    return os.environ.get("MONGODB_URI") or mongo_server.uri


def make_settings(mongo_uri: str, **overrides) -> Settings:
    base = dict(
        mongodb_uri=mongo_uri,
        mongodb_database=f"test_{uuid.uuid4().hex[:12]}",
        log_level="WARNING",
        bcrypt_rounds=4,
        ratelimit_default="10000 per minute",
        ratelimit_auth="1000 per minute",
        ratelimit_llm="10000 per minute",
        ratelimit_mail="10000 per minute",
        ratelimit_mail_ip="10000 per minute",
        models_config=str(mock_catalogue_path()),
        default_model=MOCK_DEFAULT_MODEL,
    )
    base.update(overrides)
    return Settings(**base)


@pytest.fixture
def settings_overrides() -> dict:
    """Override in a test module to change the app's settings."""
    return {}


@pytest.fixture
def settings(mongo_uri, settings_overrides) -> Settings:
    return make_settings(mongo_uri, **settings_overrides)


@pytest.fixture
def app(settings):
    application = create_app(settings)
    yield application
    container = application.extensions["synapscale"]
    shutdown(container)
    drop_database(container.client, settings.mongodb_database)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(client) -> ApiClient:
    return ApiClient(client)


@pytest.fixture
def db(app):
    return app.extensions["synapscale"].db
