"""`flask move-files`: file bytes moved GridFS -> S3 and back while the app serves them,
each copy checked against its sha256, resumable after an interruption, leaving no orphan."""
from __future__ import annotations

import hashlib
import io
from urllib.parse import urlsplit

import pytest
from bson import ObjectId

from app import create_app, shutdown
from tests.conftest import make_settings
from use_cases.files.ports import BlobStorage

BIG = 6 * 1024 * 1024  # two S3 parts


@pytest.fixture
def settings_overrides(s3_server):
    """New bytes in GridFS, with S3 configured: the state before a move to S3."""
    return s3_server.settings(file_storage="gridfs")


class Interrupted(Exception):
    pass


class FailingOnSave(BlobStorage):
    """A storage whose `fail_on`-th save breaks halfway through its chunks."""

    def __init__(self, inner: BlobStorage, fail_on: int):
        self.inner = inner
        self.fail_on = fail_on
        self.saves = 0

    def save(self, chunks, filename):
        self.saves += 1
        if self.saves != self.fail_on:
            return self.inner.save(chunks, filename)

        def broken():
            for number, chunk in enumerate(chunks):
                if number == 2:
                    raise Interrupted("the mover was stopped")
                yield chunk
        return self.inner.save(broken(), filename)

    def open(self, blob_id):
        return self.inner.open(blob_id)

    def delete(self, blob_id):
        self.inner.delete(blob_id)


def upload(client, session, filename: str, content: bytes, path: str = "/api/v1/files/upload"):
    response = client.post(path, headers=session.headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(content), filename)})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def library(api, client) -> tuple:
    """A user with four stored versions: two of one file, a big one, one of a deleted file."""
    session = api.register()
    notes = upload(client, session, "notes.txt", b"first draft\n")["id"]
    upload(client, session, "notes.txt", b"second draft\n", f"/api/v1/files/{notes}/versions")
    big = upload(client, session, "big.pdf", b"%PDF-1.4\n" + bytes(range(256)) * (BIG // 256))
    gone = upload(client, session, "old.txt", b"in the trash\n")["id"]
    assert client.delete(f"/api/v1/files/{gone}", headers=session.headers).status_code == 204
    return session, [notes, big["id"], gone]


def versions(db, file_ids: list[str]) -> dict[tuple[str, int], dict]:
    found = {}
    for doc in db.files.find({"_id": {"$in": [ObjectId(i) for i in file_ids]}}):
        for version in doc["versions"]:
            found[(str(doc["_id"]), version["number"])] = version
    return found


def in_storage(db, file_ids, name: str) -> int:
    prefix = "s3:" if name == "s3" else None
    return sum(1 for v in versions(db, file_ids).values()
               if (v["blob_id"].startswith("s3:") if prefix else ":" not in v["blob_id"]))


def assert_all_readable(app, db, file_ids) -> None:
    """Every version's bytes read back from wherever it is, with its recorded sha256."""
    storages = app.extensions["synapscale"].file_downloads.storage
    for version in versions(db, file_ids).values():
        with storages.open(version["blob_id"]) as stream:
            assert hashlib.sha256(stream.read()).hexdigest() == version["sha256"]


def s3_keys_referenced(db, file_ids) -> set[str]:
    return {v["blob_id"].removeprefix("s3:") for v in versions(db, file_ids).values()
            if v["blob_id"].startswith("s3:")}


def move(app, *args: str):
    return app.test_cli_runner().invoke(args=["move-files", *args])


def test_an_interrupted_move_resumes_and_moves_back_leaving_nothing_behind(
        api, client, app, db, settings, s3_server):
    session, file_ids = library(api, client)
    workspace_id = api.personal_workspace(session)
    file_texts = app.extensions["synapscale"].file_texts
    assert file_texts.text_of(workspace_id, file_ids[0], 100) == "second draft\n"  # read, kept
    link = client.get(f"/api/v1/files/{file_ids[0]}/download", headers=session.headers)
    link_path = urlsplit(link.get_json()["url"]).path
    storages = app.extensions["synapscale"].blob_moves.stores
    real_s3 = storages.stores["s3"]
    storages.stores["s3"] = FailingOnSave(real_s3, fail_on=3)

    stopped = move(app, "--to", "s3", "--grace-seconds", "0")

    assert stopped.exit_code != 0 and isinstance(stopped.exception, Interrupted)
    assert in_storage(db, file_ids, "s3") == 2 and in_storage(db, file_ids, "gridfs") == 2
    assert set(s3_server.keys(settings.s3_bucket)) == s3_keys_referenced(db, file_ids)
    assert s3_server.pending_uploads(settings.s3_bucket) == []
    assert_all_readable(app, db, file_ids)
    assert client.get(link_path).data == b"second draft\n"

    storages.stores["s3"] = real_s3
    resumed = move(app, "--to", "s3", "--grace-seconds", "0")

    assert resumed.exit_code == 0, resumed.output
    assert "Moved 2 version(s) to s3; 2 were there already" in resumed.output
    assert in_storage(db, file_ids, "s3") == 4
    assert set(s3_server.keys(settings.s3_bucket)) == s3_keys_referenced(db, file_ids)
    assert db["file_blobs.files"].count_documents({}) == 0  # the GridFS copies are deleted
    assert db["file_blobs.chunks"].count_documents({}) == 0
    assert_all_readable(app, db, file_ids)
    assert client.get(link_path).data == b"second draft\n"  # links given before the move work
    current_blob = versions(db, file_ids)[(file_ids[0], 2)]["blob_id"]
    assert [doc["_id"] for doc in db.extracted_texts.find()] == [current_blob]  # moved with it
    restored = client.post(f"/api/v1/files/{file_ids[2]}/restore", headers=session.headers)
    assert restored.status_code == 200

    back = move(app, "--to", "gridfs", "--grace-seconds", "0")

    assert back.exit_code == 0, back.output
    assert "Moved 4 version(s) to gridfs" in back.output
    assert in_storage(db, file_ids, "gridfs") == 4
    assert s3_server.keys(settings.s3_bucket) == []
    assert_all_readable(app, db, file_ids)
    assert move(app, "--to", "gridfs").output.startswith("Moved 0 version(s)")


def test_a_copy_whose_sha256_differs_is_not_used(api, client, app, db, settings, s3_server):
    session = api.register()
    file_id = upload(client, session, "notes.txt", b"the original bytes\n")["id"]
    blob_id = versions(db, [file_id])[(file_id, 1)]["blob_id"]
    db["file_blobs.chunks"].update_one({"files_id": ObjectId(blob_id)},
                                       {"$set": {"data": b"the tampered bytes\n"}})

    result = move(app, "--to", "s3", "--grace-seconds", "0")

    assert result.exit_code == 1
    assert f"failed: {file_id} v1: the stored bytes' sha256 is" in result.output
    assert versions(db, [file_id])[(file_id, 1)]["blob_id"] == blob_id  # left where it was
    assert s3_server.keys(settings.s3_bucket) == []


def test_a_read_under_way_finishes_from_the_old_copy_kept_for_the_grace_period(
        api, client, app, db, settings):
    session = api.register()
    content = b"%PDF-1.4\n" + b"z" * (3 * 255 * 1024)  # several GridFS chunks
    file_id = upload(client, session, "long.pdf", content)["id"]
    old_blob = versions(db, [file_id])[(file_id, 1)]["blob_id"]
    storages = app.extensions["synapscale"].file_downloads.storage
    reading = storages.open(old_blob)
    first = reading.read(1000)

    moved = move(app, "--to", "s3", "--grace-seconds", "3600", "--no-wait")

    assert moved.exit_code == 0 and "Deleted 0 old copies" in moved.output
    assert first + reading.read() == content  # the download that had started completes
    reading.close()
    assert db.released_blobs.count_documents({"_id": old_blob}) == 1
    later = move(app, "--to", "s3", "--grace-seconds", "0")
    assert "Moved 0 version(s)" in later.output and "Deleted 1 old copy" in later.output
    assert db["file_blobs.files"].count_documents({}) == 0


def test_moving_to_s3_needs_s3_configured(mongo_uri):
    settings = make_settings(mongo_uri)
    application = create_app(settings)
    try:
        result = move(application, "--to", "s3")
    finally:
        container = application.extensions["synapscale"]
        shutdown(container)
        container.client.drop_database(settings.mongodb_database)

    assert result.exit_code == 2 and "S3_BUCKET" in result.output
