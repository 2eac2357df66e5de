"""OWASP API8:2023 Security Misconfiguration.

Security headers on every kind of response, CORS that only answers the configured origins, a
production configuration that refuses `*` origins and weak secrets, and an unexpected error
that answers a plain JSON 500 — no traceback, no exception text, no debugger.
"""
from __future__ import annotations

import pytest

from app import create_app
from config.settings import ConfigurationError, Settings
from controllers.request_context import SECURITY_HEADERS
from tests.conftest import make_settings

ALLOWED_ORIGIN = "http://localhost:3000"
EVIL_ORIGIN = "https://evil.example"


def responses_of_every_kind(client, session) -> dict:
    return {
        "200 JSON": client.get("/api/v1/auth/me", headers=session.headers),
        "201 JSON": client.post("/api/v1/talks", headers=session.headers, json={}),
        "401": client.get("/api/v1/auth/me"),
        "404": client.get("/api/v1/talks/" + "0" * 24, headers=session.headers),
        "405": client.delete("/api/v1/auth/me", headers=session.headers),
        "422": client.post("/api/v1/talks", headers=session.headers, json={"bogus": 1}),
        "400": client.post("/api/v1/talks", headers={**session.headers,
                                                     "Content-Type": "application/json"},
                           data="{not json"),
        "health": client.get("/health"),
        "spec": client.get("/openapi.json"),
        "docs": client.get("/docs"),
        "metrics": client.get("/metrics"),
        "SSE": client.post("/api/v1/llm/chat", headers=session.headers, json={
            "messages": [{"role": "user", "content": "hi"}], "stream": True}),
    }


def test_every_kind_of_response_carries_the_security_headers(api, client):
    session = api.register()
    for kind, response in responses_of_every_kind(client, session).items():
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (kind, name)
        assert response.headers.get("X-Request-ID"), kind


def test_errors_are_json_not_html(api, client):
    session = api.register()
    for kind, response in responses_of_every_kind(client, session).items():
        if response.status_code >= 400:
            assert response.mimetype == "application/json", kind
            assert set(response.get_json()["error"]) >= {"code", "message"}, kind


def test_the_docs_load_no_script_from_a_cdn(client):
    page = client.get("/docs").get_data(as_text=True)
    assert "<script" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
    assert 'src="http' not in page and "src='http" not in page


def test_cors_does_not_answer_an_arbitrary_origin(client):
    simple = client.get("/health", headers={"Origin": EVIL_ORIGIN})
    assert "Access-Control-Allow-Origin" not in simple.headers
    preflight = client.options("/api/v1/auth/me", headers={
        "Origin": EVIL_ORIGIN, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Authorization"})
    assert preflight.headers.get("Access-Control-Allow-Origin") in (None, "")
    assert preflight.headers.get("Access-Control-Allow-Origin") != "*"


def test_cors_answers_a_configured_origin_without_wildcards(client):
    response = client.options("/api/v1/auth/me", headers={
        "Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Authorization"})
    assert response.headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN
    assert "X-Request-ID" in response.headers.get("Access-Control-Expose-Headers", "") or \
        client.get("/health", headers={"Origin": ALLOWED_ORIGIN}).headers.get(
            "Access-Control-Expose-Headers")


SECRETS = {"JWT_SECRET_KEY": "jwt-9f8a7c6b5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a",
           "SECRET_KEY": "app-Zk9vQmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZmdo",
           "ENCRYPTION_KEY": "qNU5rT0e8hVx2m1oQyK7dWc3fZ9bLp4sA6gHjE0iUuM=",
           "PUBLIC_BASE_URL": "https://api.example.com"}


@pytest.mark.parametrize("left_default", [name for name in SECRETS if name != "PUBLIC_BASE_URL"])
def test_production_refuses_a_default_secret(left_default):
    environ = {"APP_ENV": "production", "CORS_ORIGINS": "https://app.example.com",
               **{name: value for name, value in SECRETS.items() if name != left_default}}
    with pytest.raises(ConfigurationError, match=left_default):
        Settings.from_env(environ)


def test_production_refuses_cors_from_everywhere():
    with pytest.raises(ConfigurationError, match="CORS"):
        Settings.from_env({"APP_ENV": "production", "CORS_ORIGINS": "*", **SECRETS})


def test_production_starts_with_real_secrets_and_named_origins():
    settings = Settings.from_env({"APP_ENV": "production",
                                  "CORS_ORIGINS": "https://app.example.com", **SECRETS})
    assert settings.is_production and settings.cors_origins == ("https://app.example.com",)


def test_create_app_checks_settings_built_in_code_too(mongo_uri):
    with pytest.raises(ConfigurationError, match="JWT_SECRET_KEY"):
        create_app(make_settings(mongo_uri, app_env="production", jwt_secret_key="x"))


def test_an_unexpected_error_is_a_bare_json_500(app, caplog):
    secret_detail = "mongodb://admin:hunter2@db.internal/ at /srv/app/secret.py line 42"

    def explode():
        raise RuntimeError(secret_detail)

    app.add_url_rule("/api/v1/__explode", "explode", explode)  # test-only, before any request
    client = app.test_client()
    response = client.get("/api/v1/__explode")
    assert response.status_code == 500
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == "internal_error"
    body = response.get_data(as_text=True)
    for leak in ("Traceback", "RuntimeError", "hunter2", "secret.py", "File \"", "werkzeug"):
        assert leak not in body
    assert response.headers.get("X-Request-ID")
    assert not app.debug
    assert "hunter2" not in client.get("/health").get_data(as_text=True)
