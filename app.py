"""Composition root: builds every dependency once (bootstrap/) and wires it into the Flask app.

`python app.py` runs the development server; gunicorn serves "app:create_app()".
"""
from __future__ import annotations

import atexit
import logging
import os
import signal
import sys

from dotenv import load_dotenv
from flask import Flask
from flask_cors import CORS
from pymongo.errors import ConnectionFailure

from adapters.embedded_services import EmbeddedServices
from adapters.rate_limit_storage import rate_limit_storage
from bootstrap.container import Container
from bootstrap.wiring import build_container
from config.logging_setup import configure_logging
from config.settings import Settings
from controllers import (
    admin,
    agents,
    analytics,
    api_keys,
    auth,
    budgets,
    chatai,
    execution_socket,
    files,
    imports,
    llm,
    metrics,
    openai,
    openai_completions,
    openai_embeddings,
    openai_responses,
    service,
    talk_socket,
    talk_tree,
    talks,
    webhooks,
    workflows,
    workspaces,
)
from controllers.deferred_limits import init_deferred_limits
from controllers.errors import register_error_handlers
from controllers.file_commands import move_files_command, purge_files_command
from controllers.idempotency import document as document_idempotency
from controllers.metrics import init_metrics
from controllers.openapi import create_api
from controllers.rate_limits import init_rate_limits, trust_proxies
from controllers.realtime import document as document_user_feed
from controllers.realtime import init_realtime
from controllers.request_context import install_request_context
from controllers.security import init_jwt
from data.cli import register_commands
from data.workflow_worker import register_worker_command
from repositories.mongo import connect

log = logging.getLogger("synapscale")


def shutdown(container: Container) -> None:
    """Flush and stop background work (usage batches, listeners) before the process exits."""
    for close in reversed(container.closers):
        close()


def warm_up(app: Flask) -> None:
    """Loads what the first model call would (gunicorn.conf.py, before a worker takes requests):
    otherwise the first user of every new or recycled worker waits seconds."""
    app.extensions["synapscale"].gateway.warm_up()


def drain(app: Flask) -> None:
    """The worker stops taking requests (gunicorn.conf.py): live event feeds end with close code
    1012 so their clients reconnect to another worker; requests in flight may still finish."""
    app.extensions["synapscale"].events.close()


def ensure_indexes(container: Container) -> None:
    for repo in container.repositories:
        repo.ensure_indexes()


def install_rate_limits(app: Flask, container: Container, database_uri: str,
                        mongo_listeners=()) -> None:
    """Limits counted in MongoDB (or RATELIMIT_STORAGE_URI), so every worker shares them."""
    settings = container.settings
    container.closers.append(init_rate_limits(app, settings.ratelimit_enabled, *rate_limit_storage(
        settings.ratelimit_storage_uri or database_uri, settings.mongodb_database,
        settings.mongodb_timeout_ms, mongo_listeners)))
    container.closers.append(init_deferred_limits(app, settings.ratelimit_enabled))


def register_api(app: Flask, version: str) -> None:
    """Every blueprint, and the OpenAPI documentation of the WebSocket routes, in spec order."""
    api = create_api(app, version)
    for blueprint in (service.blp, auth.blp, workspaces.blp, webhooks.blp, admin.blp):
        api.register_blueprint(blueprint)
    api.register_blueprint(files.blp)
    api.register_blueprint(talks.blp)
    api.register_blueprint(talk_tree.blp)
    api.register_blueprint(imports.blp)
    api.register_blueprint(chatai.blp)
    api.register_blueprint(llm.blp)
    talk_socket.document(api)
    for blueprint in (workflows.blp, workflows.executions_blp, workflows.templates_blp):
        api.register_blueprint(blueprint)
    execution_socket.document(api)
    api.register_blueprint(agents.blp)
    document_user_feed(api)
    for blueprint in (api_keys.blp, budgets.blp, openai.blp, openai_responses.blp,
                      openai_embeddings.blp, openai_completions.blp, analytics.blp, metrics.blp):
        api.register_blueprint(blueprint)
    document_idempotency(app, api)


def create_app(config: Settings | None = None, *, mongo_listeners=()) -> Flask:
    """`mongo_listeners`: pymongo CommandListeners for the app's clients (tests count commands)."""
    if config is None:
        load_dotenv()
        config = Settings.from_env()
    config.check()  # settings built in code too: production refuses weak configuration
    settings = config
    configure_logging(settings.log_level)

    embedded = EmbeddedServices(settings)
    database_uri = embedded.mongodb_uri()
    local_model = embedded.local_model_endpoint()
    if embedded.started_any:
        atexit.register(embedded.stop)
    client = connect(database_uri, settings.mongodb_timeout_ms, mongo_listeners)
    db = client[settings.mongodb_database]

    app = Flask(__name__)
    app.url_map.strict_slashes = False
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_file_size + 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    container = build_container(settings, client, db, local_model)
    container.closers.insert(0, embedded.stop)  # last: what the app started stops with it
    app.extensions["synapscale"] = container

    try:
        ensure_indexes(container)
    except ConnectionFailure:
        log.warning("database unreachable at start-up; run `flask --app app init-db` later")

    init_metrics(app)  # first, so its clock starts before every other hook
    install_request_context(app, settings.max_content_length)
    trust_proxies(app, settings.trusted_proxies)
    install_rate_limits(app, container, database_uri, mongo_listeners)
    CORS(app, origins=list(settings.cors_origins), expose_headers=[
        "X-Request-ID", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining",
        "X-RateLimit-Reset", "Idempotent-Replayed"])
    register_api(app, settings.version)

    @app.before_request
    def start_background_work() -> None:
        """Workflow runs and cache invalidation start in this process after gunicorn forked
        it, on its first request."""
        container.workflow_runner.ensure_started()
        container.stale_caches.ensure_started()
        container.hold_sweeper.ensure_started()

    init_jwt(app, settings, container.principals)
    init_realtime(app)
    register_error_handlers(app, unavailable=(ConnectionFailure,))
    register_commands(app, ensure_indexes)
    app.cli.add_command(purge_files_command)
    app.cli.add_command(move_files_command)
    register_worker_command(app, shutdown)
    container.webhook_dispatcher.start()  # last: an app that failed to build leaves no thread
    return app


if __name__ == "__main__":
    # SIGTERM exits through atexit too, so the embedded database is stopped cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    application = create_app()
    application.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")))
