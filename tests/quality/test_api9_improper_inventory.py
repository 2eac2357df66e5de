"""OWASP API9:2023 Improper Inventory Management: every route the app serves is in /openapi.json,
with every method, and the spec documents nothing the app does not serve."""
from __future__ import annotations

import re

from tests.quality.world import QUALITY_SETTINGS
from tests.support.identity import shared_app

app = shared_app(**QUALITY_SETTINGS)

# Served for the documentation itself (flask-smorest's spec and UIs, their local assets, the
# favicon).
DOCUMENTATION_ENDPOINTS = {"static", "docs_assets.asset", "docs_assets.favicon",
                           "api-docs.openapi_json", "api-docs.openapi_swagger_ui",
                           "api-docs.openapi_redoc"}
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
CONVERTER = re.compile(r"<(?:[a-z_]+(?:\([^)]*\))?:)?([a-z_]+)>")


def openapi_path(rule: str) -> str:
    """Flask's `/talks/<talk_id>` or `/files/<path:name>` as OpenAPI's `/talks/{talk_id}`."""
    return CONVERTER.sub(r"{\1}", rule)


def served_operations(app) -> set[tuple[str, str]]:
    return {(openapi_path(rule.rule), method.lower())
            for rule in app.url_map.iter_rules() if rule.endpoint not in DOCUMENTATION_ENDPOINTS
            for method in rule.methods - IMPLICIT_METHODS}


def documented_operations(spec: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, item in spec["paths"].items()
            for method in item if method != "parameters"}


def test_flask_converters_become_openapi_parameters():
    assert openapi_path("/api/v1/talks/<talk_id>/messages/<message_id>") == \
        "/api/v1/talks/{talk_id}/messages/{message_id}"
    assert openapi_path("/items/<int:item_id>") == "/items/{item_id}"
    assert openapi_path("/assets/<path:filename>") == "/assets/{filename}"


def test_every_served_route_is_documented_and_every_documented_route_is_served(app, client):
    spec = client.get("/openapi.json").get_json()
    served_paths = {path for path, _ in served_operations(app)}
    assert served_paths - set(spec["paths"]) == set(), "served but not in /openapi.json"
    assert set(spec["paths"]) - served_paths == set(), "in /openapi.json but not served"


def test_every_method_of_every_route_is_documented(app, client):
    spec = client.get("/openapi.json").get_json()
    served, documented = served_operations(app), documented_operations(spec)
    assert served - documented == set(), "methods served but not documented"
    assert documented - served == set(), "methods documented but not served"


def test_every_documented_operation_describes_its_responses(client):
    spec = client.get("/openapi.json").get_json()
    undescribed = [(path, method) for path, method in documented_operations(spec)
                   if not spec["paths"][path][method].get("responses")]
    assert undescribed == []


def test_an_unknown_route_is_a_json_404_not_an_html_page(client):
    response = client.get("/api/v1/not-a-route")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
