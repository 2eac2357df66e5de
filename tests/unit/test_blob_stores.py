"""BlobStores: new blobs go to the primary storage, every blob is read and deleted where its id
says it is (GridFS's ids bare, as stored before there was a choice; others prefixed)."""
from __future__ import annotations

import pytest

from entities.errors import NotFound, ValidationFailed
from tests.fakes.database import on_mongomock
from tests.fakes.files import MongomockBlobStorage
from use_cases.files.blob_stores import BlobStores
from use_cases.files.ports import DirectLinks


class LinkingStorage(MongomockBlobStorage, DirectLinks):
    def direct_url(self, blob_id, disposition, content_type, expires_in_s):
        return f"https://bucket.example/{blob_id}?expires={expires_in_s}"


@pytest.fixture
def gridfs():
    return on_mongomock(MongomockBlobStorage)


@pytest.fixture
def s3():
    return on_mongomock(LinkingStorage)


def test_new_blobs_go_to_the_primary_storage_and_are_read_where_they_are(gridfs, s3):
    before = BlobStores({"gridfs": gridfs, "s3": s3}, primary="gridfs")
    legacy = before.save([b"old bytes"], "a.txt")
    after = BlobStores({"gridfs": gridfs, "s3": s3}, primary="s3")
    new = after.save([b"new bytes"], "b.txt")

    assert ":" not in legacy and after.name_of(legacy) == "gridfs"
    assert new.startswith("s3:") and after.name_of(new) == "s3"
    assert list(s3.blobs.values()) == [b"new bytes"]
    with after.open(legacy) as old_stream, after.open(new) as new_stream:
        assert (old_stream.read(), new_stream.read()) == (b"old bytes", b"new bytes")
    after.delete(new)
    assert s3.blobs == {} and gridfs.blobs != {}


def test_a_blob_in_a_storage_not_configured_is_gone_and_left_alone(gridfs):
    stores = BlobStores({"gridfs": gridfs}, primary="gridfs")

    with pytest.raises(NotFound):
        stores.open("s3:" + "a" * 32)
    stores.delete("s3:" + "a" * 32)  # nothing to do, no error
    with pytest.raises(ValidationFailed):
        stores.save_in("s3", [b"x"], "x.txt")
    with pytest.raises(ValueError):
        BlobStores({"gridfs": gridfs}, primary="s3")


def test_direct_links_come_from_storages_that_give_them(gridfs, s3):
    stores = BlobStores({"gridfs": gridfs, "s3": s3}, primary="s3")
    in_s3 = stores.save([b"x"], "x.txt")
    in_gridfs = stores.save_in("gridfs", [b"y"], "y.txt")

    assert stores.direct_url(in_s3, "attachment", "text/plain", 60) == \
        f"https://bucket.example/{in_s3.removeprefix('s3:')}?expires=60"
    assert stores.direct_url(in_gridfs, "attachment", "text/plain", 60) is None
