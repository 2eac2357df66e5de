"""Composition root: builds every dependency once and wires it into the Flask app.

`python app.py` runs the development server; gunicorn serves "app:create_app()".
"""
from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
from types import SimpleNamespace

from dotenv import load_dotenv
from flask import Flask
from flask_cors import CORS
from pymongo.errors import ConnectionFailure

from adapters.embedded_mongo import EmbeddedMongo
from adapters.event_bus import MongoEventBus
from adapters.passwords import BcryptHasher
from config.logging_setup import configure_logging
from config.settings import Settings
from controllers import auth, service, workspaces
from controllers.errors import register_error_handlers
from controllers.openapi import create_api
from controllers.realtime import init_realtime
from controllers.request_context import install_request_context
from controllers.security import init_jwt
from repositories.audit import MongoAuditLog
from repositories.health import MongoProbe
from repositories.mongo import connect
from repositories.sessions import MongoSessionRepository
from repositories.users import MongoUserRepository
from repositories.workspaces import MongoMembershipRepository, MongoWorkspaceRepository
from use_cases.access import WorkspaceAccess
from use_cases.auth import Accounts, Sessions
from use_cases.health import CheckHealth
from use_cases.workspaces import Workspaces

log = logging.getLogger("synapscale")


def mongodb_uri(settings: Settings) -> str:
    """The configured MongoDB, or the embedded development server (started if needed)."""
    if settings.mongodb_uri:
        return settings.mongodb_uri
    server = EmbeddedMongo(settings.embedded_mongo_path, settings.embedded_mongo_port)
    uri = server.ensure_running()
    if server.process is not None:
        atexit.register(server.stop)
    return uri


def build_container(settings: Settings, client, db) -> SimpleNamespace:
    """Every repository, adapter and use case, built once per process."""
    c = SimpleNamespace(settings=settings, client=client, db=db, repositories=[])

    def repository(cls):
        repo = cls(db)
        c.repositories.append(repo)
        return repo

    c.health = CheckHealth(MongoProbe(db))
    c.events = MongoEventBus(db)
    c.repositories.append(c.events)
    c.closers = [c.events.close]

    # identity and tenancy
    c.users = repository(MongoUserRepository)
    c.workspace_repo = repository(MongoWorkspaceRepository)
    c.memberships = repository(MongoMembershipRepository)
    c.audit = repository(MongoAuditLog)
    c.sessions = Sessions(repository(MongoSessionRepository), settings.jwt_refresh_token_expires)
    c.access = WorkspaceAccess(c.workspace_repo, c.memberships)
    c.accounts = Accounts(c.users, c.workspace_repo, c.memberships, BcryptHasher(), c.sessions,
                          c.audit)
    c.workspaces = Workspaces(c.workspace_repo, c.memberships, c.access)
    return c


def shutdown(container: SimpleNamespace) -> None:
    """Flush and stop background work (usage batches, listeners) before the process exits."""
    for close in reversed(container.closers):
        close()


def ensure_indexes(container: SimpleNamespace) -> None:
    for repo in container.repositories:
        repo.ensure_indexes()


def create_app(config: Settings | None = None) -> Flask:
    if config is None:
        load_dotenv()
        config = Settings.from_env()
    settings = config
    configure_logging(settings.log_level)

    client = connect(mongodb_uri(settings), settings.mongodb_timeout_ms)
    db = client[settings.mongodb_database]

    app = Flask(__name__)
    app.url_map.strict_slashes = False
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_file_size + 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    container = build_container(settings, client, db)
    app.extensions["synapscale"] = container

    try:
        ensure_indexes(container)
    except ConnectionFailure:
        log.warning("database unreachable at start-up; run `flask --app app init-db` later")

    install_request_context(app, settings.max_content_length)
    CORS(app, origins=list(settings.cors_origins), expose_headers=["X-Request-ID"])
    api = create_api(app, settings.version)
    for blueprint in (service.blp, auth.blp, workspaces.blp):
        api.register_blueprint(blueprint)
    init_jwt(app, settings, container.sessions)
    init_realtime(app)
    register_error_handlers(app, unavailable=(ConnectionFailure,))
    return app


if __name__ == "__main__":
    # SIGTERM exits through atexit too, so the embedded database is stopped cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    application = create_app()
    application.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")))
