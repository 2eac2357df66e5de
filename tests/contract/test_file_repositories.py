"""File metadata, blobs (the GridFS layout, in plain collections) and storage counters: the same
results on mongomock (as unit tests run them) and on the wire server."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from entities.clock import utcnow
from entities.errors import NotFound
from entities.file import File, FileQuery, FileVersion
from entities.pagination import PageRequest
from repositories.file_storage import CHUNK_BYTES, GridFSStorage
from repositories.files import MongoFileRepository
from repositories.released_blobs import MongoReleasedBlobs
from repositories.storage_usage import MongoStorageUsage
from tests.contract.conftest import repository
from tests.fakes.files import MongomockBlobStorage

# --- file metadata ------------------------------------------------------------------------------


@pytest.fixture
def files(backend, db):
    return repository(backend, db, MongoFileRepository, MongoFileRepository)


def version(number: int, size: int = 3) -> FileVersion:
    return FileVersion(number, f"blob{number}", f"v{number}.txt", "text/plain", size,
                       str(number) * 64, "u1", utcnow())


def new_file(filename: str = "a.txt", workspace_id: str = "ws1", age_s: int = 0, **fields) -> File:
    created = utcnow() - timedelta(seconds=age_s)
    return File(id="", workspace_id=workspace_id, owner_id="u1", filename=filename,
                content_type="text/plain", size=3, sha256="1" * 64, version=1,
                versions=[version(1)], created_at=created, updated_at=created, **fields)


def test_a_file_is_stored_with_its_versions(files):
    stored = files.add(new_file(tags=["q1"], category="notes"))
    found = files.get(stored.id)
    assert (found.filename, found.tags, found.category, found.version) == ("a.txt", ["q1"],
                                                                           "notes", 1)
    assert [(v.number, v.blob_id, v.size) for v in found.versions] == [(1, "blob1", 3)]
    assert files.get("f" * 24) is None and files.get("junk") is None


def test_a_version_is_added_only_on_top_of_the_version_it_expects(files):
    file = files.add(new_file())
    updated = files.add_version(file.id, 1, version(2, size=5))
    assert (updated.version, updated.size, updated.filename) == (2, 5, "v2.txt")
    assert [v.number for v in updated.versions] == [1, 2]
    assert files.add_version(file.id, 1, version(2)) is None
    assert files.get(file.id).stored_bytes == 8


def test_an_update_changes_only_a_live_file(files):
    file = files.add(new_file())
    assert files.update(file.id, description="d", tags=["x"]).tags == ["x"]
    files.set_deleted(file.id, utcnow())
    assert files.update(file.id, description="e") is None
    assert files.get(file.id, include_deleted=True).description == "d"
    assert files.add_version(file.id, 1, version(2)) is None


def test_search_filters_newest_first_and_the_trash_is_separate(files):
    files.add(new_file("Budget 2026.txt", age_s=30, category="finance", tags=["q1"]))
    files.add(new_file("notes.txt", age_s=20, tags=["q1", "team"]))
    gone = files.add(new_file("old.txt", age_s=10))
    files.add(new_file("Budget copy.txt", workspace_id="elsewhere"))
    files.set_deleted(gone.id, utcnow())

    def names(**query) -> list[str]:
        return [f.filename for f in files.search(FileQuery("ws1", **query), PageRequest()).items]

    assert names() == ["notes.txt", "Budget 2026.txt"]
    assert names(category="finance") == ["Budget 2026.txt"] and names(tag="team") == ["notes.txt"]
    assert names(name_contains="BUDGET") == ["Budget 2026.txt"] and names(name_contains="(") == []
    assert names(deleted=True) == ["old.txt"]
    page = files.search(FileQuery("ws1"), PageRequest(page=2, size=1))
    assert (page.total, [f.filename for f in page.items]) == (2, ["Budget 2026.txt"])


def test_deleted_files_are_found_for_purging_and_removed_once(files):
    live = files.add(new_file())
    old, recent = files.add(new_file()), files.add(new_file())
    files.set_deleted(old.id, utcnow() - timedelta(days=2))
    files.set_deleted(recent.id, utcnow())
    assert [f.id for f in files.deleted_before(utcnow() - timedelta(days=1), 10)] == [old.id]
    assert files.remove(live.id) is None
    removed = files.remove(old.id)
    assert removed is not None and removed.versions == old.versions
    assert files.remove(old.id) is None
    assert files.set_deleted(recent.id, None).deleted_at is None and files.get(recent.id)


def test_every_file_is_walked_in_id_order_deleted_ones_too(files):
    added = [files.add(new_file(f"f{i}.txt")) for i in range(5)]
    files.set_deleted(added[1].id, utcnow())

    first = files.every_file(None, 3)
    rest = files.every_file(first[-1].id, 3)

    assert [f.id for f in first + rest] == [f.id for f in added]
    assert files.every_file(rest[-1].id, 3) == []


def test_a_versions_blob_is_replaced_only_if_it_is_still_the_old_one(files):
    file = files.add(new_file())
    files.add_version(file.id, 1, version(2))
    files.set_deleted(file.id, utcnow())  # deleted files move too

    assert files.replace_blob(file.id, 2, "blob2", "s3:copy2")
    assert not files.replace_blob(file.id, 2, "blob2", "s3:other")  # another mover won
    assert not files.replace_blob(file.id, 1, "blob9", "s3:copy1")
    assert not files.replace_blob("f" * 24, 1, "blob1", "s3:copy1")
    stored = files.get(file.id, include_deleted=True)
    assert [(v.number, v.blob_id) for v in stored.versions] == [(1, "blob1"), (2, "s3:copy2")]
    assert stored.deleted_at is not None and stored.version == 2


# --- blobs --------------------------------------------------------------------------------------


@pytest.fixture
def blobs(backend, db):
    return repository(backend, db, MongomockBlobStorage, GridFSStorage)


def test_a_multi_chunk_blob_is_streamed_back_and_seekable(blobs, db):
    data = bytes(range(256)) * (2 * CHUNK_BYTES // 256 + 7)
    blob_id = blobs.save((data[i:i + 100_000] for i in range(0, len(data), 100_000)), "big.bin")
    with blobs.open(blob_id) as stream:
        assert stream.read(10) == data[:10]
        stream.seek(CHUNK_BYTES + 5)
        assert stream.read(3) == data[CHUNK_BYTES + 5:CHUNK_BYTES + 8]
        stream.seek(0)
        assert hashlib.sha256(stream.read()).digest() == hashlib.sha256(data).digest()
    assert db["file_blobs.chunks"].count_documents({}) == 3
    assert db["file_blobs.files"].find_one()["length"] == len(data)
    blobs.delete(blob_id)
    blobs.delete(blob_id)
    with pytest.raises(NotFound):
        blobs.open(blob_id)
    assert db["file_blobs.chunks"].count_documents({}) == 0


def test_an_upload_that_fails_midway_leaves_nothing(blobs, db):
    def failing():
        yield b"x" * (CHUNK_BYTES * 5)
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        blobs.save(failing(), "broken.txt")
    assert db["file_blobs.chunks"].count_documents({}) == 0
    assert db["file_blobs.files"].count_documents({}) == 0


def test_an_empty_blob_and_an_unknown_one(blobs):
    with blobs.open(blobs.save([], "empty.txt")) as stream:
        assert stream.read() == b""
    with pytest.raises(NotFound):
        blobs.open("f" * 24)
    with pytest.raises(NotFound):
        blobs.open("junk")


# --- storage counters ---------------------------------------------------------------------------


@pytest.fixture
def storage_usage(backend, db):
    return repository(backend, db, MongoStorageUsage, MongoStorageUsage)


def test_reservations_stop_at_the_quota(storage_usage):
    assert storage_usage.used("ws1") == 0
    assert storage_usage.reserve("ws1", 600, 1000) and storage_usage.reserve("ws1", 400, 1000)
    assert not storage_usage.reserve("ws1", 1, 1000)
    storage_usage.release("ws1", 300)
    assert storage_usage.used("ws1") == 700
    assert not storage_usage.reserve("ws1", 301, 1000) and storage_usage.reserve("ws1", 300, 1000)
    assert not storage_usage.reserve("ws2", 2000, 1000) and storage_usage.used("ws2") == 0
    storage_usage.release("ws2", 0)
    assert storage_usage.used("ws2") == 0


# --- released blobs -----------------------------------------------------------------------------


@pytest.fixture
def released(backend, db):
    return repository(backend, db, MongoReleasedBlobs, MongoReleasedBlobs)


def test_released_blobs_fall_due_oldest_first_and_are_forgotten(released):
    now = utcnow()
    released.add("s3:b", now - timedelta(minutes=5))
    released.add("a1", now - timedelta(minutes=10))
    released.add("a1", now)  # released again: keeps its first time
    released.add("s3:c", now)

    assert released.due(now - timedelta(minutes=1), 10) == ["a1", "s3:b"]
    assert released.due(now - timedelta(minutes=1), 1) == ["a1"]
    released.forget("a1")
    assert released.due(now, 10) == ["s3:b", "s3:c"]
