"""OpenAPI via flask-smorest (apispec + marshmallow) and offline Swagger UI / ReDoc assets."""
from __future__ import annotations

from pathlib import Path

import drf_spectacular_sidecar
from flask import Blueprint, Flask, send_from_directory
from flask_smorest import Api

from controllers.errors import handle_http_exception
from controllers.schemas.common import ErrorSchema

ASSETS = Path(drf_spectacular_sidecar.__file__).parent / "static" / "drf_spectacular_sidecar"
ASSET_DIRS = {"swagger-ui": ASSETS / "swagger-ui-dist", "redoc": ASSETS / "redoc" / "bundles"}

BEARER = [{"bearerAuth": []}]

OPENAPI_CONFIG = {
    "API_TITLE": "SynapScale API",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "/docs",
    "OPENAPI_SWAGGER_UI_URL": "/docs-assets/swagger-ui/",
    "OPENAPI_REDOC_PATH": "/redoc",
    "OPENAPI_REDOC_URL": "/docs-assets/redoc/redoc.standalone.js",
}


class SynapScaleApi(Api):
    """flask-smorest's Api with API.md's error shape instead of its own."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        return handle_http_exception(error)


docs_assets = Blueprint("docs_assets", __name__)


@docs_assets.get("/docs-assets/<kind>/<path:filename>")
def asset(kind: str, filename: str):
    directory = ASSET_DIRS.get(kind)
    if directory is None:
        from werkzeug.exceptions import NotFound
        raise NotFound()
    return send_from_directory(directory, filename, max_age=86400)


def create_api(app: Flask, version: str) -> SynapScaleApi:
    for key, value in OPENAPI_CONFIG.items():
        app.config.setdefault(key, value)
    app.config["API_VERSION"] = version
    app.config.setdefault("API_SPEC_OPTIONS", {
        "info": {"description": "Self-hostable backend for AI chat and automation."},
        "components": {"securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        }},
    })
    api = SynapScaleApi(app)
    app.register_blueprint(docs_assets)
    return api
