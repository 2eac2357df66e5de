"""OpenAPI via flask-smorest (apispec + marshmallow) and offline Swagger UI / ReDoc assets."""
from __future__ import annotations

import struct
from functools import cache
from pathlib import Path

import drf_spectacular_sidecar
from flask import Blueprint, Flask, Response, send_from_directory
from flask_smorest import Api

from controllers.errors import handle_http_exception
from controllers.schemas.common import ErrorSchema

ASSETS = Path(drf_spectacular_sidecar.__file__).parent / "static" / "drf_spectacular_sidecar"
ASSET_DIRS = {"swagger-ui": ASSETS / "swagger-ui-dist", "redoc": ASSETS / "redoc" / "bundles"}

BEARER = [{"bearerAuth": []}]
# /v1: a workspace API key or a user's access token (either one).
KEY_OR_BEARER = [{"apiKeyAuth": []}, {"bearerAuth": []}]
SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "A user's access token (POST /api/v1/auth/login)"},
    "apiKeyAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "sk-syn-...",
                   "description": "A workspace API key, `Authorization: Bearer sk-syn-...` "
                                  "(the /v1 OpenAI-compatible routes)"},
}
# ReDoc's bundle draws its footer logo from a CDN; the page takes the favicon instead.
REDOC_BUNDLE = "redoc.standalone.js"
REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
FAVICON_PNG = ASSETS / "swagger-ui-dist" / "favicon-32x32.png"
ASSET_MAX_AGE_S = 86400

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
    if kind == "redoc" and filename == REDOC_BUNDLE:
        return Response(redoc_bundle(), mimetype="text/javascript",
                        headers={"Cache-Control": f"public, max-age={ASSET_MAX_AGE_S}"})
    return send_from_directory(directory, filename, max_age=ASSET_MAX_AGE_S)


@docs_assets.get("/favicon.ico")
def favicon():
    return Response(favicon_ico(), mimetype="image/x-icon",
                    headers={"Cache-Control": f"public, max-age={ASSET_MAX_AGE_S}"})


@cache
def redoc_bundle() -> bytes:
    """ReDoc with no asset from outside the server."""
    return (ASSET_DIRS["redoc"] / REDOC_BUNDLE).read_bytes().replace(
        REDOC_CDN_LOGO.encode(), b"/favicon.ico")


@cache
def favicon_ico() -> bytes:
    """An .ico holding one 32x32 PNG (Swagger UI's, shipped with the docs assets)."""
    png = FAVICON_PNG.read_bytes()
    header = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", 32, 32, 0, 0, 1, 32, len(png), 6 + 16)
    return header + entry + png


def create_api(app: Flask, version: str) -> SynapScaleApi:
    for key, value in OPENAPI_CONFIG.items():
        app.config.setdefault(key, value)
    app.config["API_VERSION"] = version
    app.config.setdefault("API_SPEC_OPTIONS", {
        "info": {"description": "Self-hostable backend for AI chat and automation."},
        "components": {"securitySchemes": SECURITY_SCHEMES},
    })
    api = SynapScaleApi(app)
    app.register_blueprint(docs_assets)
    return api
