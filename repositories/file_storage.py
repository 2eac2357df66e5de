"""File bytes in MongoDB GridFS, written and read chunk by chunk."""
from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import BinaryIO

from bson import ObjectId
from gridfs import GridFSBucket
from gridfs.errors import NoFile
from pymongo import ASCENDING
from pymongo.database import Database

from entities.errors import NotFound
from repositories.mongo import maybe_object_id
from use_cases.ports import BlobStorage

BUCKET = "file_blobs"
CHUNK_BYTES = 255 * 1024  # GridFS's default: a chunk document stays well under 16 MiB


class GridFSStorage(BlobStorage):
    def __init__(self, db: Database, bucket_name: str = BUCKET):
        self.db = db
        self.bucket_name = bucket_name
        self.bucket = GridFSBucket(db, bucket_name=bucket_name, chunk_size_bytes=CHUNK_BYTES)

    def ensure_indexes(self) -> None:
        self.db[f"{self.bucket_name}.files"].create_index(
            [("filename", ASCENDING), ("uploadDate", ASCENDING)], name="filename_uploaddate")
        self.db[f"{self.bucket_name}.chunks"].create_index(
            [("files_id", ASCENDING), ("n", ASCENDING)], unique=True, name="files_id_n")

    def save(self, chunks: Iterable[bytes], filename: str) -> str:
        grid_in = self.bucket.open_upload_stream(filename)
        try:
            for chunk in chunks:
                grid_in.write(chunk)
        except BaseException:
            grid_in.abort()
            raise
        grid_in.close()
        return str(grid_in._id)

    def open(self, blob_id: str) -> BinaryIO:
        oid = maybe_object_id(blob_id)
        try:
            if oid is None:
                raise NoFile(blob_id)
            return self.bucket.open_download_stream(oid)
        except NoFile:
            raise NotFound("The file's content is gone") from None

    def delete(self, blob_id: str) -> None:
        with contextlib.suppress(NoFile):
            self.bucket.delete(ObjectId(blob_id))
