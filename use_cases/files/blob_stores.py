"""Every storage that holds file bytes, behind the one BlobStorage port the file use cases use.

New blobs go to the primary storage (FILE_STORAGE); a blob is read and deleted in the storage
its id names, so files stay readable while their bytes move from one storage to another
(`flask move-files`) and whatever FILE_STORAGE says now. Ids are "<storage>:<id in it>" ("s3:
5f0c..."), except in the legacy storage (GridFS), whose ids stay bare ObjectId strings as they
were stored before there was a choice.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import BinaryIO

from entities.errors import NotFound, ValidationFailed
from use_cases.files.ports import BlobStorage, DirectLinks

LEGACY = "gridfs"
SEPARATOR = ":"


class BlobStores(BlobStorage):
    def __init__(self, stores: Mapping[str, BlobStorage], primary: str, legacy: str = LEGACY):
        if primary not in stores:
            raise ValueError(f"the primary storage {primary!r} is not among {sorted(stores)}")
        self.stores = dict(stores)
        self.primary = primary
        self.legacy = legacy

    def names(self) -> list[str]:
        return sorted(self.stores)

    def require(self, name: str) -> BlobStorage:
        """The storage called `name`; ValidationFailed when it is not configured."""
        store = self.stores.get(name)
        if store is None:
            raise ValidationFailed(f"The storage {name!r} is not configured",
                                   {"storage": [f"Configured: {', '.join(self.names())}."]})
        return store

    def name_of(self, blob_id: str) -> str:
        """The name of the storage `blob_id` lives in (known or not)."""
        name, separator, _ = blob_id.partition(SEPARATOR)
        return name if separator else self.legacy

    def save(self, chunks: Iterable[bytes], filename: str) -> str:
        return self.save_in(self.primary, chunks, filename)

    def save_in(self, name: str, chunks: Iterable[bytes], filename: str) -> str:
        """Stores the chunks in the storage called `name`; its id, routable like any other."""
        inner = self.require(name).save(chunks, filename)
        return inner if name == self.legacy else f"{name}{SEPARATOR}{inner}"

    def open(self, blob_id: str) -> BinaryIO:
        store, inner = self._locate(blob_id)
        if store is None:
            raise NotFound("The file's content is gone")
        return store.open(inner)

    def delete(self, blob_id: str) -> None:
        """Deletes the blob; one in a storage that is not configured (any more) is left alone."""
        store, inner = self._locate(blob_id)
        if store is not None:
            store.delete(inner)

    def direct_url(self, blob_id: str, disposition: str, content_type: str,
                   expires_in_s: int) -> str | None:
        """A link straight to the blob's storage when that storage gives them; else None."""
        store, inner = self._locate(blob_id)
        if not isinstance(store, DirectLinks):
            return None
        return store.direct_url(inner, disposition, content_type, expires_in_s)

    def _locate(self, blob_id: str) -> tuple[BlobStorage | None, str]:
        name = self.name_of(blob_id)
        inner = blob_id if name == self.legacy else blob_id[len(name) + len(SEPARATOR):]
        return self.stores.get(name), inner
