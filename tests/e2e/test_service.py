"""Service routes, the error model and the OpenAPI documents."""
import re
import time

from openapi_spec_validator import validate

from adapters.embedded_mongo import EmbeddedMongo, free_port
from app import create_app, shutdown
from tests.conftest import make_settings


def test_index_names_the_service(client):
    body = client.get("/").get_json()
    assert body["name"] == "SynapScale Backend API"
    assert body["status"] == "running" and body["docs"] == "/docs"


def test_health_reports_the_database_up(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "healthy" and body["service"] == "synapscale-backend"
    assert body["database"]["status"] == "up" and body["database"]["latency_ms"] >= 0


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    assert re.fullmatch(r"[0-9a-f]{32}", client.get("/").headers["X-Request-ID"])


def test_openapi_document_is_valid_openapi_3(client):
    spec = client.get("/openapi.json").get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_docs_pages_load_their_assets_locally(client):
    for page in ("/docs", "/redoc"):
        html = client.get(page).get_data(as_text=True)
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sources, page
        for source in sources:
            assert not source.startswith(("http://", "https://", "//")), source
            if source.startswith("/docs-assets/"):
                assert client.get(source).status_code == 200, source


def _assert_json_error(response, status: int, code: str):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == code


def test_unknown_route_wrong_method_bad_json_and_big_body_give_json_errors(client):
    _assert_json_error(client.get("/no/such/route"), 404, "not_found")
    _assert_json_error(client.delete("/health"), 405, "method_not_allowed")
    _assert_json_error(client.post("/api/v1/auth/login", data="{nope",
                                   content_type="application/json"), 400, "bad_request")
    huge = '{"email": "' + "a" * (2 * 1024 * 1024) + '"}'
    _assert_json_error(client.post("/api/v1/auth/login", data=huge,
                                   content_type="application/json"), 413, "payload_too_large")


def test_an_unreachable_database_answers_503_fast(mongo_uri):
    closed = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
    app = create_app(make_settings(closed, mongodb_timeout_ms=1000))
    client = app.test_client()
    try:
        started = time.monotonic()
        response = client.get("/health")
        assert time.monotonic() - started < 3
        assert response.status_code == 503 and response.get_json()["status"] == "unhealthy"
        started = time.monotonic()
        response = client.post("/api/v1/auth/login", json={"email": "a@b.co", "password": "x" * 9})
        assert time.monotonic() - started < 3
        _assert_json_error(response, 503, "service_unavailable")
        assert response.headers["Retry-After"]
    finally:
        shutdown(app.extensions["synapscale"])


def test_the_service_recovers_when_the_database_comes_back(tmp_path):
    server = EmbeddedMongo(tmp_path, free_port())
    server.ensure_running()
    app = create_app(make_settings(server.uri, mongodb_timeout_ms=1000))
    client = app.test_client()
    try:
        assert client.get("/health").status_code == 200
        server.stop()
        assert client.get("/health").status_code == 503
        server.ensure_running()
        deadline = time.monotonic() + 15
        while client.get("/health").status_code != 200:
            assert time.monotonic() < deadline, "did not recover"
            time.sleep(0.2)
    finally:
        shutdown(app.extensions["synapscale"])
        server.stop()
