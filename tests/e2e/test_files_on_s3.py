"""What only S3 storage does (the rest of the file suite runs on both storages, test_files.py):
presigned download links (FILE_DOWNLOAD_LINKS=presigned), refused uploads leaving no object or
multipart upload in the bucket, the settings S3 needs, and S3 in the detailed health report."""
from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from adapters.embedded_mongo import free_port
from app import create_app, shutdown
from config.settings import ConfigurationError, Settings
from tests.conftest import make_settings
from tests.support.api import ApiClient
from tests.support.file_samples import EXECUTABLE

QUOTA = 64 * 1024


@pytest.fixture
def settings_overrides(s3_server):
    return s3_server.settings(file_download_links="presigned", workspace_storage_quota=QUOTA)


def upload(client, session, filename="notes.txt", content=b"hello s3\n"):
    return client.post("/api/v1/files/upload", headers=session.headers,
                       content_type="multipart/form-data",
                       data={"file": (io.BytesIO(content), filename)})


def test_a_presigned_link_reads_the_bytes_from_s3_for_the_link_ttl(api, client, settings):
    session = api.register()
    file_id = upload(client, session, filename="résumé.txt", content=b"from the bucket").get_json()["id"]

    link = client.get(f"/api/v1/files/{file_id}/download", headers=session.headers).get_json()

    url = urlsplit(link["url"])
    assert f"{url.scheme}://{url.netloc}" == settings.s3_endpoint_url
    assert parse_qs(url.query)["X-Amz-Expires"] == [str(settings.file_link_ttl_s)]
    assert link["expires_at"]
    served = requests.get(link["url"], timeout=10)  # straight from S3, no Authorization
    assert served.status_code == 200 and served.content == b"from the bucket"
    assert served.headers["Content-Disposition"].startswith('attachment; filename="resume.txt"')
    assert served.headers["Content-Type"].startswith("text/plain")


def test_a_blob_still_in_gridfs_gets_the_services_own_link(api, client, app, db):
    """Mid-move, a version whose bytes are still in GridFS is served by the API."""
    session = api.register()
    file_id = upload(client, session).get_json()["id"]
    app.test_cli_runner().invoke(args=["move-files", "--to", "gridfs", "--grace-seconds", "0"])

    link = client.get(f"/api/v1/files/{file_id}/download", headers=session.headers).get_json()

    path = urlsplit(link["url"]).path
    assert path.startswith("/api/v1/files/download/")
    assert client.get(path).data == b"hello s3\n"


def test_refused_uploads_leave_nothing_in_the_bucket(api, client, settings, s3_server):
    session = api.register()

    disguised = upload(client, session, filename="invoice.pdf", content=EXECUTABLE)
    empty = upload(client, session, content=b"")
    over_quota = upload(client, session, content=b"q" * (QUOTA + 1))

    assert [disguised.status_code, empty.status_code, over_quota.status_code] == [415, 422, 413]
    assert s3_server.keys(settings.s3_bucket) == []
    assert s3_server.pending_uploads(settings.s3_bucket) == []


@pytest.mark.parametrize("environ, problem", [
    ({"FILE_STORAGE": "s4"}, "FILE_STORAGE='s4'"),
    ({"FILE_STORAGE": "s3"}, "S3_BUCKET is required"),
    ({"FILE_DOWNLOAD_LINKS": "presigned"}, "S3_BUCKET is required"),
    ({"FILE_DOWNLOAD_LINKS": "public"}, "FILE_DOWNLOAD_LINKS='public'"),
    ({"FILE_STORAGE": "s3", "S3_BUCKET": "b", "S3_PART_SIZE": "1048576"}, "S3_PART_SIZE"),
    ({"S3_BUCKET": "b", "FILE_DOWNLOAD_LINKS": "presigned", "FILE_LINK_TTL_S": "604801"},
     "FILE_LINK_TTL_S"),
])
def test_storage_settings_that_cannot_work_are_refused_at_start(environ, problem):
    with pytest.raises(ConfigurationError, match=problem):
        Settings.from_env(environ)


def test_detailed_health_names_the_storage_and_checks_the_bucket(client, settings):
    storage = client.get("/api/health").get_json()["storage"]

    assert storage == {"file_storage": "s3", "s3": {"status": "up", "bucket": settings.s3_bucket}}


def test_an_unreachable_s3_is_a_503_and_a_health_detail_not_an_unhealthy_service(mongo_uri):
    settings = make_settings(mongo_uri, file_storage="s3", s3_bucket="nowhere",
                             s3_endpoint_url=f"http://127.0.0.1:{free_port()}")
    application = create_app(settings)
    try:
        client = application.test_client()
        refused = upload(client, ApiClient(client).register())
        health = client.get("/api/health")
    finally:
        container = application.extensions["synapscale"]
        shutdown(container)
        container.client.drop_database(settings.mongodb_database)

    assert refused.status_code == 503
    assert refused.get_json()["error"]["code"] == "service_unavailable"
    assert "nowhere" not in refused.get_data(as_text=True)  # nothing about the set-up leaks
    assert health.status_code == 200
    s3 = health.get_json()["storage"]["s3"]
    assert s3["status"] == "down" and s3["bucket"] == "nowhere" and s3["error"]
