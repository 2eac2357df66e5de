"""Reading an uploaded export one conversation at a time, never whole (ijson over a file on disk).

The upload is first spooled to a temporary file (`spool`), so the request ends at once and the
background job reads it at its own pace; each new spool sweeps those left over an hour by a
process that ended mid-import. `check` refuses, before the job starts, what is not an
export: not JSON and not a zip, a zip with too many members, members that would unpack past
`max_unpacked_bytes` (as their headers declare: a member is never read past its declared size),
a member compressed more than `max_compression_ratio` times, or all the members together (a zip
bomb, or one split into many small members), or no JSON member.

`conversations` then yields each conversation object: every element of a top-level array, a
top-level object, or each value of a JSON Lines file; in a zip, the members named
`conversations.json` / `conversations-NNN.json` when there are any (ChatGPT, Claude: the other
JSON files of those exports are not conversations), else every `.json`/`.jsonl` member. Each
object is built from parser events with its size and nesting counted: one over
`max_conversation_bytes` or `max_depth` becomes a failure naming the limit (the parser skips the
rest of it), so memory stays bounded by one conversation whatever the file's size; one JSON
value (a string) over `max_value_bytes`, which the parser would hold whole before it could be
counted, stops the file with ImportFileBroken. JSON broken
mid-file raises ImportFileBroken after the conversations before it were yielded.
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, BinaryIO

import ijson

from entities.errors import PayloadTooLarge, ValidationFailed
from entities.file import safe_filename
from entities.talk_import import ImportLimits
from use_cases.imports.ports import ConversationReader, ImportFileBroken, RawConversation

CHUNK = 256 * 1024
SPOOL_PREFIX, SPOOL_SUFFIX = "synapscale-import-", ".upload"
STALE_SPOOL_S = 3600  # an upload spooled longer ago belongs to a process that ended
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
CONVERSATION_MEMBER = re.compile(r"(^|/)conversations(-\d+)?\.json$", re.IGNORECASE)
BOM = b"\xef\xbb\xbf"
OPENERS = (b"[", b"{")


class StreamedConversations(ConversationReader):
    def __init__(self, limits: ImportLimits, spool_dir: str | None = None):
        self.limits = limits
        self.spool_dir = spool_dir

    # --- the upload ---------------------------------------------------------------------------

    def spool(self, chunks: Iterable[bytes]) -> str:
        self._sweep()
        fd, path = tempfile.mkstemp(prefix=SPOOL_PREFIX, suffix=SPOOL_SUFFIX, dir=self.spool_dir)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if size > self.limits.max_upload_bytes:
                        raise PayloadTooLarge(
                            f"The export is larger than {self.limits.max_upload_bytes} bytes")
                    out.write(chunk)
        except BaseException:
            self.discard(path)
            raise
        return path

    def _sweep(self) -> None:
        """Deletes spooled uploads older than STALE_SPOOL_S: those of a process that ended
        mid-import (a worker recycled or killed) are never discarded by it. A job reading one
        keeps it open, so even a late sweep does not cut it short."""
        folder = self.spool_dir or tempfile.gettempdir()
        cutoff = time.time() - STALE_SPOOL_S
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            for entry in entries:
                if (entry.name.startswith(SPOOL_PREFIX) and entry.name.endswith(SPOOL_SUFFIX)
                        and entry.is_file(follow_symlinks=False)
                        and entry.stat(follow_symlinks=False).st_mtime < cutoff):
                    self.discard(entry.path)

    def discard(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def check(self, path: str, filename: str) -> None:
        with open(path, "rb") as file:
            head = file.read(4)
        if head in ZIP_MAGIC:
            self._members(path)
            return
        if _first_byte(path) not in OPENERS:
            raise ValidationFailed("The file is not a JSON, JSON Lines or zip export",
                                   {"file": ["Expected .json, .jsonl or .zip."]})

    # --- reading ------------------------------------------------------------------------------

    def conversations(self, path: str, filename: str) -> Iterator[RawConversation]:
        with open(path, "rb") as file:
            zipped = file.read(4) in ZIP_MAGIC
        if not zipped:
            with open(path, "rb") as file:
                yield from self._values(file, _label(filename))
            return
        with zipfile.ZipFile(path) as archive:
            for member in self._members(path):
                try:
                    with archive.open(member) as stream:
                        yield from self._values(stream, _member_label(member.filename))
                except (zipfile.BadZipFile, EOFError, RuntimeError, NotImplementedError,
                        zlib.error):
                    raise ImportFileBroken(f"{_member_label(member.filename)} is damaged, "
                                           "encrypted or compressed in a way not supported"
                                           ) from None

    def _members(self, path: str) -> list[zipfile.ZipInfo]:
        limits = self.limits
        try:
            with zipfile.ZipFile(path) as archive:
                infos = archive.infolist()
        except (zipfile.BadZipFile, OSError, ValueError):
            raise ValidationFailed("The zip file is damaged",
                                   {"file": ["Not a readable zip."]}) from None
        if len(infos) > limits.max_zip_members:
            raise ValidationFailed(f"The zip has more than {limits.max_zip_members} members",
                                   {"file": ["Too many members."]})
        if sum(info.file_size for info in infos) > limits.max_unpacked_bytes:
            raise PayloadTooLarge(f"The zip would unpack to more than "
                                  f"{limits.max_unpacked_bytes} bytes")
        for info in infos:
            if _bomb(info.file_size, info.compress_size, limits.max_compression_ratio):
                raise ValidationFailed(
                    f"{_member_label(info.filename)} is compressed more than "
                    f"{limits.max_compression_ratio} times: refused as a zip bomb",
                    {"file": ["Suspicious compression."]})
        # many small members, each under the per-member floor, are one bomb together
        if _bomb(sum(info.file_size for info in infos),
                 sum(info.compress_size for info in infos), limits.max_compression_ratio):
            raise ValidationFailed(
                f"The zip's members are compressed more than {limits.max_compression_ratio} "
                "times together: refused as a zip bomb", {"file": ["Suspicious compression."]})
        readable = [info for info in infos if not info.is_dir()
                    and not info.filename.startswith("__MACOSX/")
                    and info.filename.lower().endswith((".json", ".jsonl"))]
        named = [info for info in readable if CONVERSATION_MEMBER.search(info.filename)]
        chosen = named or readable
        if not chosen:
            raise ValidationFailed("The zip holds no .json or .jsonl file",
                                   {"file": ["No conversations found."]})
        return sorted(chosen, key=lambda info: info.filename)

    def _values(self, stream: BinaryIO | IO[bytes], label: str) -> Iterator[RawConversation]:
        source = _skip_bom(stream, self.limits.max_value_bytes)
        events = _ticking(ijson.basic_parse(source, use_float=True, multiple_values=True),
                          source)
        index = 0
        try:
            for event, value in events:
                if event == "start_array":
                    for inner_event, inner_value in events:
                        if inner_event == "end_array":
                            break
                        yield self._item(inner_event, inner_value, events, f"{label}#{index}")
                        index += 1
                else:
                    yield self._item(event, value, events, f"{label}#{index}")
                    index += 1
        except (ijson.JSONError, UnicodeDecodeError) as error:
            raise ImportFileBroken(f"{label} is not valid JSON after {index} conversations "
                                   f"({str(error)[:120]})") from None

    def _item(self, event: str, value, events, where: str) -> RawConversation:
        if event != "start_map":
            if event == "start_array":
                _skip(events)
            return RawConversation(None, where, "Not a conversation (expected a JSON object)")
        built, error = _build(events, self.limits)
        return RawConversation(built, where, error)


def _bomb(unpacked: int, packed: int, ratio: int) -> bool:
    """Whether over 1 MiB unpacks from more than `ratio` times less (a zip bomb's signature)."""
    return unpacked > 1024 * 1024 and unpacked > ratio * max(packed, 1)


def _label(filename: str) -> str:
    """The upload's name as reports show it (no directory, no control characters)."""
    return safe_filename(filename or "upload")


def _member_label(name: str) -> str:
    """A zip member's path as reports show it: printable characters only, at most 255."""
    return "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")[:255] or "member"


def _first_byte(path: str) -> bytes:
    with open(path, "rb") as file:
        head = file.read(4096)
    return head.removeprefix(BOM).lstrip()[:1]


class _skip_bom:
    """The stream without a leading UTF-8 byte order mark (Windows tools write one), which
    refuses to read on past `max_value_bytes` without the parser giving an event (one JSON
    value that large: a string the parser would otherwise hold whole, whatever its size)."""

    def __init__(self, stream: BinaryIO | IO[bytes], max_value_bytes: int):
        self.stream = stream
        self.first = True
        self.max_value_bytes = max_value_bytes
        self.since_event = 0

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson probes the stream's type with read(0)
            return b""
        if self.since_event > self.max_value_bytes:
            raise ImportFileBroken(f"A single JSON value is larger than {self.max_value_bytes} "
                                   "bytes: the rest of the file was not read")
        data = self.stream.read(size if size > 0 else CHUNK)
        self.since_event += len(data)
        if self.first:
            self.first = False
            data = data.removeprefix(BOM)
        return data


def _ticking(events: Iterator, source: _skip_bom) -> Iterator:
    """The parser's events, each one telling `source` that the parser is making progress."""
    for event in events:
        source.since_event = 0
        yield event


def _skip(events) -> None:
    """Consumes the rest of a container whose opening event was just read."""
    _finish(events, 1)


def _build(events, limits: ImportLimits) -> tuple[dict | None, str | None]:
    """The object whose `start_map` was just read, or (None, why) once it passes a limit (its
    remaining events are consumed)."""
    root: dict = {}
    stack: list = [root]
    key = ""
    size = 0
    for event, value in events:
        if event == "map_key":
            key = value
            size += len(value)
            continue
        if event in ("end_map", "end_array"):
            stack.pop()
            if not stack:
                return root, None
            continue
        if event in ("start_map", "start_array"):
            item: object = {} if event == "start_map" else []
        else:
            item = value
            size += len(value) if isinstance(value, str) else 8
        parent = stack[-1]
        if isinstance(parent, dict):
            parent[key] = item
        else:
            parent.append(item)
        if event in ("start_map", "start_array"):
            stack.append(item)
            if len(stack) > limits.max_depth:
                _finish(events, len(stack))
                return None, f"Nested deeper than {limits.max_depth} levels"
        if size > limits.max_conversation_bytes:
            _finish(events, len(stack))
            return None, (f"Larger than {limits.max_conversation_bytes} bytes of text in one "
                          "conversation")
    raise ImportFileBroken("The file ends inside a conversation")


def _finish(events, depth: int) -> None:
    for event, _value in events:
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return
