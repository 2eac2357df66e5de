"""File metadata, GridFS bytes and the quota counter against the real wire server."""
from __future__ import annotations

import hashlib
import threading
import uuid

import pytest
from bson import ObjectId
from gridfs import GridFSBucket

from entities.clock import utcnow
from entities.errors import NotFound
from entities.file import File, FileQuery, FileVersion
from entities.pagination import PageRequest
from repositories.file_storage import BUCKET, CHUNK_BYTES, GridFSStorage
from repositories.files import MongoFileRepository
from repositories.mongo import connect
from repositories.storage_usage import MongoStorageUsage


@pytest.fixture(scope="module")
def db(mongo_uri):
    client = connect(mongo_uri)
    name = f"test_files_{uuid.uuid4().hex[:10]}"
    database = client[name]
    for repo in (MongoFileRepository(database), GridFSStorage(database),
                 MongoStorageUsage(database)):
        repo.ensure_indexes()
    yield database
    client.drop_database(name)
    client.close()


def version(number: int, blob_id: str = "b" * 24, size: int = 3) -> FileVersion:
    return FileVersion(number=number, blob_id=blob_id, filename=f"v{number}.txt",
                       content_type="text/plain", size=size, sha256="0" * 64, uploaded_by="u1",
                       created_at=utcnow())


def new_file(workspace_id: str, filename: str = "a.txt", **fields) -> File:
    now = utcnow()
    return File(id="", workspace_id=workspace_id, owner_id="u1", filename=filename,
                content_type="text/plain", size=3, sha256="0" * 64, version=1,
                versions=[version(1)], created_at=now, updated_at=now, **fields)


def test_gridfs_stores_and_streams_a_multi_chunk_blob(db):
    storage = GridFSStorage(db)
    data = bytes(range(256)) * (3 * CHUNK_BYTES // 256 + 7)
    pieces = (data[i:i + 100_000] for i in range(0, len(data), 100_000))

    blob_id = storage.save(pieces, "big.bin")

    with storage.open(blob_id) as stream:
        assert stream.read(10) == data[:10]
        stream.seek(CHUNK_BYTES * 2 + 5)
        assert stream.read(3) == data[CHUNK_BYTES * 2 + 5:CHUNK_BYTES * 2 + 8]
        stream.seek(0)
        assert hashlib.sha256(stream.read()).digest() == hashlib.sha256(data).digest()
    standard = GridFSBucket(db, bucket_name=BUCKET).open_download_stream(ObjectId(blob_id))
    assert standard.read() == data  # the GridFS layout: GridFS tools read it too
    storage.delete(blob_id)
    storage.delete(blob_id)  # already gone: nothing happens
    with pytest.raises(NotFound):
        storage.open(blob_id)


def test_an_upload_that_fails_midway_leaves_no_chunks(db):
    storage = GridFSStorage(db)
    before = db["file_blobs.chunks"].count_documents({})

    def failing():
        yield b"x" * (CHUNK_BYTES * 2)
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        storage.save(failing(), "broken.txt")

    assert db["file_blobs.chunks"].count_documents({}) == before


def test_concurrent_reservations_never_pass_the_quota(db):
    usage = MongoStorageUsage(db)
    workspace_id = uuid.uuid4().hex
    granted = []

    def reserve():
        granted.append(usage.reserve(workspace_id, 100, 1000))

    threads = [threading.Thread(target=reserve) for _ in range(25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert granted.count(True) == 10 and usage.used(workspace_id) == 1000
    usage.release(workspace_id, 300)
    assert usage.used(workspace_id) == 700
    assert usage.reserve(workspace_id, 2000, 1000) is False


def test_a_version_is_added_only_on_top_of_the_version_it_expects(db):
    files = MongoFileRepository(db)
    file = files.add(new_file("w1"))

    updated = files.add_version(file.id, 1, version(2, size=5))
    stale = files.add_version(file.id, 1, version(2))

    assert (updated.version, updated.size, updated.filename) == (2, 5, "v2.txt")
    assert [v.number for v in updated.versions] == [1, 2]
    assert stale is None


def test_search_filters_and_the_trash_is_separate(db):
    files = MongoFileRepository(db)
    workspace_id = uuid.uuid4().hex
    files.add(new_file(workspace_id, "Budget 2026.txt", category="finance", tags=["q1"]))
    files.add(new_file(workspace_id, "notes.txt", tags=["q1", "team"]))
    gone = files.add(new_file(workspace_id, "old.txt"))
    files.add(new_file("elsewhere", "Budget copy.txt"))
    files.set_deleted(gone.id, utcnow())

    def names(**query) -> list[str]:
        page = files.search(FileQuery(workspace_id=workspace_id, **query), PageRequest())
        return [f.filename for f in page.items]

    assert names() == ["notes.txt", "Budget 2026.txt"]
    assert names(category="finance") == ["Budget 2026.txt"]
    assert names(tag="team") == ["notes.txt"]
    assert names(name_contains="budget") == ["Budget 2026.txt"]
    assert names(name_contains="(") == []
    assert names(deleted=True) == ["old.txt"]


def test_a_deleted_file_is_removed_once(db):
    files = MongoFileRepository(db)
    live = files.add(new_file("w2"))
    deleted = files.add(new_file("w2"))
    files.set_deleted(deleted.id, utcnow())

    assert deleted.id in [f.id for f in files.deleted_before(utcnow(), 100)]
    assert files.remove(live.id) is None
    assert files.remove(deleted.id).id == deleted.id
    assert files.remove(deleted.id) is None
