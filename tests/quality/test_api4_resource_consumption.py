"""OWASP API4:2023 Unrestricted Resource Consumption.

Every paged route caps its page size (size > 100 -> 422, from the spec, so a new route is
covered as soon as it is documented), cursor pages cap `limit`, JSON bodies and uploads over
their limits answer 413 before they are read whole, prompts over the size limit answer 422,
and a WebSocket frame over the limit closes the socket.
"""
from __future__ import annotations

import io

import pytest

from tests.quality.sockets import close_code, connect
from tests.quality.world import QUALITY_SETTINGS, seed_world
from tests.support.api import ApiClient
from tests.support.identity import make_admin, shared_app
from tests.support.streams import served

BODY_LIMIT = 64 * 1024
FILE_LIMIT = 16 * 1024
app = shared_app(**QUALITY_SETTINGS, max_content_length=BODY_LIMIT, max_file_size=FILE_LIMIT)


@pytest.fixture(scope="module")
def api(app):
    return ApiClient(app.test_client())


@pytest.fixture(scope="module")
def admin(app, api):
    session = make_admin(api, app.extensions["synapscale"].db)
    return session, seed_world(api, session)


def capped_queries(spec: dict) -> list[tuple[str, str, int]]:
    """(path, parameter, maximum) of every GET whose query has a bounded page size or limit."""
    found = []
    for path, item in spec["paths"].items():
        operation = item.get("get", {})
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query" and parameter["name"] in ("size", "limit"):
                found.append((path, parameter["name"], parameter["schema"].get("maximum")))
    return found


def test_every_paged_route_documents_a_maximum_of_100(api):
    queries = capped_queries(api.client.get("/openapi.json").get_json())
    assert len(queries) >= 10
    assert [(path, name) for path, name, maximum in queries if maximum != 100] == []


def test_every_paged_route_refuses_pages_over_100(api, admin):
    session, world = admin
    accepted = []
    for path, name, _ in capped_queries(api.client.get("/openapi.json").get_json()):
        url = path.format(**world)
        joiner = "&" if "?" in url else "?"
        for size, expected in ((101, 422), (100, 200), (0, 422)):
            query = f"{joiner}{name}={size}"
            if "analytics" in path:
                query += f"&workspace_id={world['workspace_id']}"
            if path.endswith("/search"):
                query += "&q=hello"
            response = api.request("GET", url + query, session)
            if response.status_code != expected:
                accepted.append((path, name, size, response.status_code))
    assert accepted == []


@pytest.mark.parametrize("path", ["/api/v1/talks", "/api/v1/auth/login", "/api/v1/workspaces",
                                  "/v1/chat/completions", "/api/v1/llm/chat", "/api/talk"])
def test_a_json_body_over_the_limit_is_refused_with_413(api, admin, path):
    session, _ = admin
    body = {"name": "x" * (BODY_LIMIT + 1)}
    response = api.request("POST", path, session, json=body)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_a_body_that_lies_about_its_length_is_still_bounded(api, admin):
    session, _ = admin
    response = api.client.post("/api/v1/talks", headers={**session.headers,
                                                         "Content-Type": "application/json"},
                               input_stream=io.BytesIO(b"{" + b" " * (BODY_LIMIT * 2) + b"}"))
    assert response.status_code in (400, 413, 422)


@pytest.mark.parametrize("path", ["/api/v1/files/upload", "/api/v1/files/{file_id}/versions"])
def test_an_upload_over_the_limit_is_refused_with_413(api, admin, path):
    session, world = admin
    response = api.client.post(path.format(**world), headers=session.headers,
                               content_type="multipart/form-data",
                               data={"file": (io.BytesIO(b"a" * (FILE_LIMIT + 1)), "big.txt")})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(("path", "field"), [("/api/v1/talks/{talk_id}/messages", "content"),
                                             ("/api/message", "content"),
                                             ("/api/talk", "message")])
def test_a_prompt_over_the_size_limit_is_refused(app, api, path, field):
    from controllers.schemas.talks import MAX_CONTENT

    # a roomy app: the prompt limit, not the body limit, must be what refuses it
    session = api.register()
    world = seed_world(api, session)
    body = {field: "x" * (MAX_CONTENT + 1)}
    if path == "/api/message":
        body["talk_id"] = world["talk_id"]
    response = api.request("POST", path.format(**world), session, json=body)
    assert response.status_code in (413, 422)
    assert response.status_code == 413 or field in response.get_json()["error"]["details"]


def test_a_websocket_frame_over_the_limit_closes_the_socket(app, api, admin):
    from controllers.realtime import MAX_FRAME_BYTES

    session, world = admin
    with served(app) as url:
        ws = connect(url.replace("http://", "ws://"), f"/api/v1/ws/talks/{world['talk_id']}",
                     session.access_token)
        try:
            ws.send("x" * (MAX_FRAME_BYTES + 1))
            assert close_code(ws) == 1009  # message too big
        finally:
            ws.close()
        ws = connect(url.replace("http://", "ws://"), f"/api/v1/ws/talks/{world['talk_id']}",
                     session.access_token)
        ws.close()  # the server still takes new sockets afterwards


@pytest.mark.parametrize("settings_overrides", [{"ratelimit_llm": "3 per minute"}])
def test_message_sending_is_rate_limited_per_user(mongo_uri, settings_overrides):
    from app import create_app, shutdown
    from tests.conftest import make_settings

    settings = make_settings(mongo_uri, **settings_overrides)
    application = create_app(settings)
    try:
        client = ApiClient(application.test_client())
        session = client.register()
        talk = client.request("POST", "/api/v1/talks", session, json={}).get_json()
        statuses = [client.request("POST", f"/api/v1/talks/{talk['id']}/messages", session,
                                   json={"content": "hi"}).status_code for _ in range(4)]
        assert statuses == [201, 201, 201, 429]
        stored = client.request("GET", f"/api/v1/talks/{talk['id']}/messages", session)
        assert len(stored.get_json()["items"]) == 6  # the refused one stored nothing
    finally:
        shutdown(application.extensions["synapscale"])
        application.extensions["synapscale"].client.drop_database(settings.mongodb_database)
