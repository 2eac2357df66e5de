"""Composition root: builds every dependency once and wires it into the Flask app.

`python app.py` runs the development server; gunicorn serves "app:create_app()".
"""
from __future__ import annotations

import atexit
import logging
import os
from types import SimpleNamespace

from dotenv import load_dotenv
from flask import Flask
from flask_cors import CORS
from pymongo.errors import ConnectionFailure

from adapters.embedded_mongo import EmbeddedMongo
from config.logging_setup import configure_logging
from config.settings import Settings
from controllers import service
from controllers.errors import register_error_handlers
from controllers.openapi import create_api
from controllers.request_context import install_request_context
from repositories.health import MongoProbe
from repositories.mongo import connect
from use_cases.health import CheckHealth

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


def create_app(config: Settings | None = None) -> Flask:
    if config is None:
        load_dotenv()
        config = Settings.from_env()
    settings = config
    configure_logging(settings.log_level)

    client = connect(mongodb_uri(settings), settings.mongodb_timeout_ms)
    db = client[settings.mongodb_database]

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_file_size + 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    container = SimpleNamespace(settings=settings, client=client, db=db)
    container.health = CheckHealth(MongoProbe(db))
    app.extensions["synapscale"] = container

    install_request_context(app)
    CORS(app, origins=list(settings.cors_origins), expose_headers=["X-Request-ID"])
    api = create_api(app, settings.version)
    api.register_blueprint(service.blp)
    register_error_handlers(app, unavailable=(ConnectionFailure,))
    return app


if __name__ == "__main__":
    application = create_app()
    application.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")))
