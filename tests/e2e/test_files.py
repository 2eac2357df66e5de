"""Files over HTTP: upload, list, change, versions, trash, signed downloads, tenancy, quotas;
every test runs once with the bytes in GridFS and once in S3 (FILE_STORAGE)."""
from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from urllib.parse import urlsplit

from bson import ObjectId

from entities.errors import NotFound
from tests.support.file_samples import EXECUTABLE, pdf_with_text, png_bytes
from tests.support.identity import FILE_STORAGES, add_member, shared_app

QUOTA = 64 * 1024

app = shared_app(FILE_STORAGES, workspace_storage_quota=QUOTA)


def upload(client, session, filename="notes.txt", content=b"hello files\n", path=None, **fields):
    return client.post(path or "/api/v1/files/upload", headers=session.headers,
                       content_type="multipart/form-data",
                       data={**fields, "file": (io.BytesIO(content), filename)})


def uploaded(client, session, **kwargs) -> dict:
    response = upload(client, session, **kwargs)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def signed_path(client, session, file_id: str, query: str = "") -> str:
    response = client.get(f"/api/v1/files/{file_id}/download{query}", headers=session.headers)
    assert response.status_code == 200, response.get_json()
    return urlsplit(response.get_json()["url"]).path


def team(api, client, owner, **members) -> str:
    """A workspace of `owner` with each keyword's session as a member of that role."""
    created = client.post("/api/v1/workspaces", headers=owner.headers, json={"name": "Team"})
    workspace_id = created.get_json()["id"]
    for role, session in members.items():
        add_member(api, owner, workspace_id, session, role)
    return workspace_id


def error_code(response) -> str:
    return response.get_json()["error"]["code"]


def test_upload_returns_the_stored_file_with_its_hash_and_metadata(api, client):
    session = api.register()
    content = b"quarterly numbers\n"

    body = uploaded(client, session, filename="report.txt", content=content, category="finance",
                    tags="q1, budget ,q1", description="Q1", is_public="false")

    assert body["filename"] == "report.txt"
    assert body["content_type"] == "text/plain"
    assert body["size"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["category"] == "finance" and body["tags"] == ["q1", "budget"]
    assert body["description"] == "Q1" and body["is_public"] is False and body["version"] == 1
    assert body["workspace_id"] == api.personal_workspace(session)
    assert body["owner_id"] == session.id
    fetched = client.get(f"/api/v1/files/{body['id']}", headers=session.headers).get_json()
    assert fetched == body


def blob_ids(app, file_id: str) -> list[str]:
    doc = app.extensions["synapscale"].db.files.find_one({"_id": ObjectId(file_id)})
    return [version["blob_id"] for version in doc["versions"]]


def stored(app, blob_id: str) -> bytes | None:
    """The blob's bytes in the app's storage, None when it is gone."""
    try:
        with app.extensions["synapscale"].file_downloads.storage.open(blob_id) as stream:
            return stream.read()
    except NotFound:
        return None


def test_the_bytes_go_to_the_storage_file_storage_names(api, client, app):
    session = api.register()
    content = b"stored where FILE_STORAGE says\n"
    file_id = uploaded(client, session, content=content)["id"]

    [blob_id] = blob_ids(app, file_id)
    storages = app.extensions["synapscale"].file_downloads.storage
    assert storages.name_of(blob_id) == app.extensions["synapscale"].settings.file_storage
    assert stored(app, blob_id) == content


def test_list_filters_by_category_tag_and_name_and_pages(api, client):
    session = api.register()
    uploaded(client, session, filename="alpha.txt", category="docs", tags="x")
    uploaded(client, session, filename="beta.md", category="docs", tags="y")
    uploaded(client, session, filename="gamma.csv", content=b"a,b\n1,2\n", category="data")

    def names(query: str) -> list[str]:
        response = client.get(f"/api/v1/files?{query}", headers=session.headers)
        assert response.status_code == 200, response.get_json()
        return [item["filename"] for item in response.get_json()["items"]]

    assert names("") == ["gamma.csv", "beta.md", "alpha.txt"]
    assert names("category=docs") == ["beta.md", "alpha.txt"]
    assert names("tag=y") == ["beta.md"]
    assert names("q=ALP") == ["alpha.txt"]
    assert names("q=.*") == []  # q is text, not a pattern
    page = client.get("/api/v1/files?size=2&page=2", headers=session.headers).get_json()
    assert (page["total"], page["pages"], len(page["items"])) == (3, 2, 1)


def test_patch_changes_metadata_and_keeps_the_extension(api, client):
    session = api.register()
    file_id = uploaded(client, session)["id"]

    changed = client.patch(f"/api/v1/files/{file_id}", headers=session.headers, json={
        "filename": "../renamed.txt", "category": "misc", "tags": ["a", "A", "b"],
        "description": "new", "is_public": True})

    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert (body["filename"], body["category"], body["tags"]) == ("renamed.txt", "misc", ["a", "b"])
    assert body["description"] == "new" and body["is_public"] is True
    bad = client.patch(f"/api/v1/files/{file_id}", headers=session.headers,
                       json={"filename": "renamed.exe"})
    assert bad.status_code == 422 and "filename" in bad.get_json()["error"]["details"]
    unknown = client.patch(f"/api/v1/files/{file_id}", headers=session.headers,
                           json={"owner_id": session.id})
    assert unknown.status_code == 422 and "owner_id" in unknown.get_json()["error"]["details"]


def test_deleted_files_vanish_from_reads_and_can_be_restored(api, client):
    session = api.register()
    file_id = uploaded(client, session)["id"]

    assert client.delete(f"/api/v1/files/{file_id}", headers=session.headers).status_code == 204

    assert client.get(f"/api/v1/files/{file_id}", headers=session.headers).status_code == 404
    assert client.get("/api/v1/files", headers=session.headers).get_json()["total"] == 0
    trash = client.get("/api/v1/files?deleted=true", headers=session.headers).get_json()
    assert [item["id"] for item in trash["items"]] == [file_id]
    restored = client.post(f"/api/v1/files/{file_id}/restore", headers=session.headers)
    assert restored.status_code == 200 and restored.get_json()["deleted_at"] is None
    assert client.get(f"/api/v1/files/{file_id}", headers=session.headers).status_code == 200


def test_new_versions_are_listed_and_each_can_be_downloaded(api, client):
    session = api.register()
    file_id = uploaded(client, session, filename="plan.txt", content=b"version one")["id"]

    response = upload(client, session, filename="plan-v2.txt", content=b"version two",
                      path=f"/api/v1/files/{file_id}/versions")

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["version"] == 2
    assert response.get_json()["sha256"] == hashlib.sha256(b"version two").hexdigest()
    versions = client.get(f"/api/v1/files/{file_id}/versions", headers=session.headers).get_json()
    assert [(v["version"], v["filename"]) for v in versions] == [(2, "plan-v2.txt"),
                                                                  (1, "plan.txt")]
    assert client.get(signed_path(client, session, file_id)).data == b"version two"
    assert client.get(signed_path(client, session, file_id, "?version=1")).data == b"version one"
    missing = client.get(f"/api/v1/files/{file_id}/download?version=9", headers=session.headers)
    assert missing.status_code == 404


def test_a_new_version_goes_through_the_same_checks(api, client):
    session = api.register()
    file_id = uploaded(client, session, filename="photo.png", content=png_bytes())["id"]

    response = upload(client, session, filename="photo.png", content=b"MZ\x90\x00 not a png",
                      path=f"/api/v1/files/{file_id}/versions")

    assert response.status_code == 415
    assert client.get(f"/api/v1/files/{file_id}", headers=session.headers).get_json()["version"] == 1


def test_signed_link_serves_the_bytes_with_safe_headers(api, client):
    session = api.register()
    file_id = uploaded(client, session, filename="résumé final.txt", content=b"cv")["id"]
    response = client.get(f"/api/v1/files/{file_id}/download", headers=session.headers)
    link = response.get_json()
    assert link["url"].startswith("http://") and link["expires_at"]

    served = client.get(urlsplit(link["url"]).path)  # no Authorization header

    assert served.status_code == 200 and served.data == b"cv"
    assert served.headers["Content-Type"].startswith("text/plain")
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    disposition = served.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="resume final.txt"')
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20final.txt" in disposition


def test_a_link_is_never_built_from_the_host_header(api, client):
    """Issue 16 #5: without PUBLIC_BASE_URL the link pointed at whatever Host the client sent.
    This app sets none: development's local base, whatever the Host."""
    session = api.register()
    file_id = uploaded(client, session)["id"]
    for host in ("evil.example", "evil.example:8443", "localhost.evil.example"):
        response = client.get(f"/api/v1/files/{file_id}/download", base_url=f"http://{host}",
                              headers={**session.headers, "Host": host,
                                       "X-Forwarded-Host": "evil.example"})
        assert response.status_code == 200
        url = response.get_json()["url"]
        assert url.startswith("http://localhost:5000/api/v1/files/download/"), url
        assert "evil" not in url


def test_altered_and_expired_links_are_refused(api, client, app):
    session = api.register()
    file_id = uploaded(client, session)["id"]
    path = signed_path(client, session, file_id)
    altered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")

    assert client.get(altered).status_code == 404
    downloads = app.extensions["synapscale"].file_downloads
    real_clock = downloads.clock
    downloads.clock = lambda: real_clock() + timedelta(minutes=15, seconds=1)
    try:
        expired = client.get(path)
    finally:
        downloads.clock = real_clock
    assert expired.status_code == 401 and error_code(expired) == "token_expired"


def test_links_stop_working_once_the_file_is_deleted(api, client):
    session = api.register()
    file_id = uploaded(client, session)["id"]
    path = signed_path(client, session, file_id)

    client.delete(f"/api/v1/files/{file_id}", headers=session.headers)

    assert client.get(path).status_code == 404


def test_only_public_files_are_readable_without_a_token(api, client):
    session = api.register()
    public = uploaded(client, session, filename="open.txt", content=b"for all", is_public="true")
    private = uploaded(client, session, filename="closed.txt", content=b"mine")

    served = client.get(f"/api/v1/files/{public['id']}/public")
    assert served.status_code == 200 and served.data == b"for all"
    assert client.get(f"/api/v1/files/{private['id']}/public").status_code == 404


def test_a_public_file_exposes_its_current_version_only(api, client):
    """Issue 16 #7: `?version=1` served the old version's bytes to anyone."""
    session = api.register()
    file_id = uploaded(client, session, filename="plan.txt", content=b"draft with secrets",
                       is_public="true")["id"]
    assert upload(client, session, filename="plan.txt", content=b"published plan",
                  path=f"/api/v1/files/{file_id}/versions").status_code == 201

    assert client.get(f"/api/v1/files/{file_id}/public").data == b"published plan"
    assert client.get(f"/api/v1/files/{file_id}/public?version=2").data == b"published plan"
    old = client.get(f"/api/v1/files/{file_id}/public?version=1")
    assert old.status_code == 404 and b"draft" not in old.data
    # members still reach the history through signed links
    assert client.get(signed_path(client, session, file_id, "?version=1")).data == \
        b"draft with secrets"


def test_disguised_executables_and_fake_images_are_refused(api, client):
    session = api.register()
    for filename, content in (("invoice.pdf", EXECUTABLE), ("notes.txt", EXECUTABLE),
                              ("photo.png", b"GIF89a not really a png"),
                              ("data.json", b'{"unclosed": ')):
        response = upload(client, session, filename=filename, content=content)
        assert response.status_code == 415, (filename, response.get_json())
        assert error_code(response) == "unsupported_media_type"
    assert client.get("/api/v1/files", headers=session.headers).get_json()["total"] == 0


def test_real_files_of_allowed_types_are_accepted(api, client):
    session = api.register()
    cases = {"photo.png": (png_bytes(), "image/png"),
             "doc.pdf": (pdf_with_text(["A real PDF"]), "application/pdf"),
             "data.json": (b'{"ok": true}', "application/json"),
             "table.csv": ("name,city\nJo\u00e3o,S\u00e3o Paulo\n".encode(), "text/csv")}
    for filename, (content, content_type) in cases.items():
        body = uploaded(client, session, filename=filename, content=content)
        assert body["content_type"] == content_type


def test_extensions_outside_the_allow_list_are_refused(api, client):
    session = api.register()

    for filename in ("tool.exe", "script.sh", "README"):
        response = upload(client, session, filename=filename, content=b"echo hi")
        assert response.status_code == 415, filename


def test_path_traversal_and_control_characters_are_stripped_from_names(api, client):
    session = api.register()

    for raw, stored in (("../../../etc/passwd.txt", "passwd.txt"),
                        ("..\\..\\windows\\win.ini.txt", None),  # multipart may eat the \\
                        ("evil\x07\x1b[31m: name?.txt", "evil[31m_ name_.txt"),
                        ("cv\u202egnp.txt", "cvgnp.txt"),
                        (".hidden.txt", "hidden.txt")):
        body = uploaded(client, session, filename=raw)
        assert body["filename"] == stored or stored is None
        assert not any(bad in body["filename"] for bad in ("/", "\\", "..", "\r", "\n"))
        assert body["filename"].endswith("win.ini.txt") or stored is not None
        served = client.get(signed_path(client, session, body["id"]))
        assert "\r" not in served.headers["Content-Disposition"]
        assert "/" not in served.headers["Content-Disposition"].split(";")[1]


def test_bad_upload_requests_are_validation_errors(api, client):
    session = api.register()

    missing = client.post("/api/v1/files/upload", headers=session.headers,
                          content_type="multipart/form-data", data={"category": "x"})
    assert missing.status_code == 422 and "file" in missing.get_json()["error"]["details"]
    unknown = upload(client, session, owner_id="someone")
    assert unknown.status_code == 422 and "owner_id" in unknown.get_json()["error"]["details"]
    not_multipart = client.post("/api/v1/files/upload", headers=session.headers, json={"a": 1})
    assert not_multipart.status_code == 400
    empty = upload(client, session, content=b"")
    assert empty.status_code == 422
    truncated = client.post("/api/v1/files/upload", headers=session.headers,
                            content_type="multipart/form-data; boundary=x",
                            data=b'--x\r\nContent-Disposition: form-data; name="file"; '
                                 b'filename="a.txt"\r\n\r\nno closing boundary')
    assert truncated.status_code == 400 and error_code(truncated) == "bad_request"


def test_workspace_quota_is_enforced_and_freed_by_purge(api, client, app):
    session = api.register()
    kept = uploaded(client, session, filename="a.txt", content=b"a" * (QUOTA - 100))

    over = upload(client, session, filename="b.txt", content=b"b" * 200)

    assert over.status_code == 413 and error_code(over) == "quota_exceeded"
    client.delete(f"/api/v1/files/{kept['id']}", headers=session.headers)
    still_counted = upload(client, session, filename="b.txt", content=b"b" * 200)
    assert still_counted.status_code == 413  # deleted files keep their bytes until purged
    [blob_id] = blob_ids(app, kept["id"])
    result = app.test_cli_runner().invoke(args=["purge-files", "--days", "0"])
    assert result.exit_code == 0 and result.output.startswith("Purged ")
    assert stored(app, blob_id) is None  # the bytes are deleted with the file
    assert upload(client, session, filename="b.txt", content=b"b" * 200).status_code == 201
    restore = client.post(f"/api/v1/files/{kept['id']}/restore", headers=session.headers)
    assert restore.status_code == 404


def test_purge_keeps_files_deleted_recently(api, client, app):
    session = api.register()
    file_id = uploaded(client, session)["id"]
    client.delete(f"/api/v1/files/{file_id}", headers=session.headers)

    result = app.test_cli_runner().invoke(args=["purge-files"])

    assert "Purged 0 file" in result.output
    assert client.post(f"/api/v1/files/{file_id}/restore", headers=session.headers).status_code == 200


def test_another_tenants_file_is_not_found_on_every_route(api, client):
    owner, stranger = api.register(), api.register()
    file_id = uploaded(client, owner, is_public="false")["id"]
    workspace_id = api.personal_workspace(owner)

    attempts = [
        client.get(f"/api/v1/files/{file_id}", headers=stranger.headers),
        client.patch(f"/api/v1/files/{file_id}", headers=stranger.headers, json={"tags": ["x"]}),
        client.delete(f"/api/v1/files/{file_id}", headers=stranger.headers),
        client.post(f"/api/v1/files/{file_id}/restore", headers=stranger.headers),
        client.get(f"/api/v1/files/{file_id}/versions", headers=stranger.headers),
        upload(client, stranger, path=f"/api/v1/files/{file_id}/versions"),
        client.get(f"/api/v1/files/{file_id}/download", headers=stranger.headers),
        client.get(f"/api/v1/files/{file_id}/public"),
        client.get(f"/api/v1/files?workspace_id={workspace_id}", headers=stranger.headers),
        upload(client, stranger, workspace_id=workspace_id),
    ]

    assert [r.status_code for r in attempts] == [404] * len(attempts)
    assert client.get(f"/api/v1/files/{file_id}", headers=owner.headers).get_json()["tags"] == []


def test_roles_decide_who_uploads_and_who_changes(api, client):
    owner, admin, member, other, viewer = (api.register() for _ in range(5))
    workspace_id = team(api, client, owner, admin=admin, member=member, viewer=viewer)
    add_member(api, owner, workspace_id, other, "member")

    denied = upload(client, viewer, workspace_id=workspace_id)
    assert denied.status_code == 403 and error_code(denied) == "forbidden"
    file_id = uploaded(client, member, workspace_id=workspace_id)["id"]
    assert client.get(f"/api/v1/files/{file_id}", headers=viewer.headers).status_code == 200
    assert client.get(f"/api/v1/files/{file_id}/download", headers=viewer.headers).status_code == 200
    for session in (viewer, other):
        patch = client.patch(f"/api/v1/files/{file_id}", headers=session.headers,
                             json={"description": "mine now"})
        assert patch.status_code == 403
        assert client.delete(f"/api/v1/files/{file_id}", headers=session.headers).status_code == 403
    assert client.patch(f"/api/v1/files/{file_id}", headers=member.headers,
                        json={"description": "by the owner"}).status_code == 200
    assert client.delete(f"/api/v1/files/{file_id}", headers=admin.headers).status_code == 204


def test_an_upload_is_announced_on_the_workspace_topic(api, client, app):
    session = api.register()
    workspace_id = api.personal_workspace(session)
    events = app.extensions["synapscale"].events

    with events.subscribe([f"workspace:{workspace_id}"]) as subscription:
        body = uploaded(client, session)
        event = subscription.get(timeout=5)
        while event is not None and event.get("type") != "file.uploaded":
            event = subscription.get(timeout=5)

    assert event is not None
    assert (event["file_id"], event["filename"], event["size"]) == (body["id"], "notes.txt",
                                                                    body["size"])
    assert event["uploaded_by"] == session.id and event["version"] == 1


def test_every_file_route_is_in_the_openapi_spec(client):
    paths = client.get("/openapi.json").get_json()["paths"]

    upload_body = paths["/api/v1/files/upload"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload_body
    for path in ("/api/v1/files", "/api/v1/files/{file_id}", "/api/v1/files/{file_id}/restore",
                 "/api/v1/files/{file_id}/versions", "/api/v1/files/{file_id}/download",
                 "/api/v1/files/download/{token}", "/api/v1/files/{file_id}/public"):
        assert path in paths, path


def test_an_attached_files_text_reaches_the_model(api, client, mock_provider):
    session = api.register()
    file_id = uploaded(client, session, filename="brief.pdf",
                       content=pdf_with_text(["The launch code word is PELICAN"]))["id"]
    talk = client.post("/api/v1/talks", headers=session.headers, json={"name": "Files"}).get_json()

    sent = client.post(f"/api/v1/talks/{talk['id']}/messages", headers=session.headers,
                       json={"content": "What is the code word?", "file_ids": [file_id]})

    assert sent.status_code == 201, sent.get_json()
    assert sent.get_json()["user_message"]["file_ids"] == [file_id]
    [request] = mock_provider.requests
    prompt = str(request["messages"][-1]["content"])
    assert "brief.pdf" in prompt and "PELICAN" in prompt and "What is the code word?" in prompt
    stranger = api.register()
    their_talk = client.post("/api/v1/talks", headers=stranger.headers, json={}).get_json()
    stolen = client.post(f"/api/v1/talks/{their_talk['id']}/messages", headers=stranger.headers,
                         json={"content": "Read it", "file_ids": [file_id]})
    assert stolen.status_code == 404
