"""File bytes in MongoDB, in the GridFS layout (`<bucket>.files` + `<bucket>.chunks`), so
GridFS tools read them, but written and read here a few chunks at a time.

pymongo's own GridIn buffers up to 48 MB of chunks before inserting them, and GridOut's cursor
fetches up to 16 MB per batch: either way a big file would sit in the worker's memory. Here an
upload holds at most WRITE_BATCH chunks and a download READ_BATCH chunks, whatever the file size.
"""
from __future__ import annotations

import io
from collections.abc import Iterable
from typing import BinaryIO

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.cursor import Cursor
from pymongo.database import Database

from entities.clock import utcnow
from entities.errors import NotFound
from repositories.mongo import maybe_object_id
from use_cases.files.ports import BlobStorage

BUCKET = "file_blobs"
CHUNK_BYTES = 255 * 1024  # GridFS's default chunk size
WRITE_BATCH = 4  # chunks per insert (~1 MiB)
READ_BATCH = 4  # chunks per cursor batch (~1 MiB)


class GridFSStorage(BlobStorage):
    def __init__(self, db: Database, bucket_name: str = BUCKET):
        self.files = db[f"{bucket_name}.files"]
        self.chunks = db[f"{bucket_name}.chunks"]

    def ensure_indexes(self) -> None:
        self.files.create_index([("filename", ASCENDING), ("uploadDate", ASCENDING)],
                                name="filename_uploaddate")
        self.chunks.create_index([("files_id", ASCENDING), ("n", ASCENDING)], unique=True,
                                 name="files_id_n")

    def save(self, chunks: Iterable[bytes], filename: str) -> str:
        file_id = ObjectId()
        writer = _ChunkWriter(self.chunks, file_id)
        try:
            for piece in chunks:
                writer.write(piece)
            length = writer.close()
            self.files.insert_one({"_id": file_id, "length": length, "chunkSize": CHUNK_BYTES,
                                   "uploadDate": utcnow(), "filename": filename})
        except BaseException:
            self.chunks.delete_many({"files_id": file_id})
            raise
        return str(file_id)

    def open(self, blob_id: str) -> BinaryIO:
        oid = maybe_object_id(blob_id)
        doc = self.files.find_one({"_id": oid}) if oid else None
        if oid is None or doc is None:
            raise NotFound("The file's content is gone")
        reader = _ChunkReader(self.chunks, oid, doc["length"], doc["chunkSize"])
        return io.BufferedReader(reader, buffer_size=doc["chunkSize"])

    def delete(self, blob_id: str) -> None:
        oid = maybe_object_id(blob_id)
        if oid is not None:
            self.files.delete_one({"_id": oid})
            self.chunks.delete_many({"files_id": oid})


class _ChunkWriter:
    def __init__(self, collection, file_id: ObjectId):
        self.collection = collection
        self.file_id = file_id
        self.buffer = bytearray()
        self.pending: list[dict] = []
        self.number = 0
        self.length = 0

    def write(self, data: bytes) -> None:
        self.buffer += data
        self.length += len(data)
        while len(self.buffer) >= CHUNK_BYTES:
            self._chunk(bytes(self.buffer[:CHUNK_BYTES]))
            del self.buffer[:CHUNK_BYTES]

    def close(self) -> int:
        if self.buffer:
            self._chunk(bytes(self.buffer))
            self.buffer.clear()
        self._insert()
        return self.length

    def _chunk(self, data: bytes) -> None:
        self.pending.append({"files_id": self.file_id, "n": self.number, "data": data})
        self.number += 1
        if len(self.pending) >= WRITE_BATCH:
            self._insert()

    def _insert(self) -> None:
        if self.pending:
            self.collection.insert_many(self.pending, ordered=True)
            self.pending = []


class _ChunkReader(io.RawIOBase):
    """A seekable raw stream over a blob's chunks; sequential reads share one small-batch
    cursor, a seek elsewhere starts a new one."""

    def __init__(self, collection, file_id: ObjectId, length: int, chunk_size: int):
        self.collection = collection
        self.file_id = file_id
        self.length = length
        self.chunk_size = chunk_size
        self.position = 0
        self.cursor: Cursor | None = None
        self.next_number = 0
        self.current: tuple[int, bytes] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.length}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer) -> int:
        if self.position >= self.length:
            return 0
        number, offset = divmod(self.position, self.chunk_size)
        piece = self._chunk(number)[offset:offset + len(buffer)]
        buffer[:len(piece)] = piece
        self.position += len(piece)
        return len(piece)

    def close(self) -> None:
        if self.cursor is not None:
            self.cursor.close()
            self.cursor = None
        super().close()

    def _chunk(self, number: int) -> bytes:
        if self.current is not None and self.current[0] == number:
            return self.current[1]
        if self.cursor is None or self.next_number != number:
            if self.cursor is not None:
                self.cursor.close()
            self.cursor = self.collection.find(
                {"files_id": self.file_id, "n": {"$gte": number}}, sort=[("n", ASCENDING)],
                batch_size=READ_BATCH)
        doc = next(self.cursor, None)
        if doc is None or doc["n"] != number:
            raise OSError(f"chunk {number} of blob {self.file_id} is missing")
        self.next_number = number + 1
        self.current = (number, bytes(doc["data"]))
        return self.current[1]
