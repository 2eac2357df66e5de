"""The upload reader yields one conversation at a time and bounds what hostile files can make
it hold: zip members, unpacked size, compression ratio, nesting and conversation size."""
from __future__ import annotations

import io
import json
import zipfile

import pytest

from adapters.conversation_stream import StreamedConversations
from entities.errors import PayloadTooLarge, ValidationFailed
from entities.talk_import import ImportLimits
from tests.support import chat_exports
from use_cases.imports.ports import ImportFileBroken


def spooled(tmp_path, data: bytes, name="export.json"):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def read(reader, path, name="export.json"):
    reader.check(path, name)
    return list(reader.conversations(path, name))


def test_a_list_an_object_and_json_lines_each_yield_their_conversations(tmp_path):
    reader = StreamedConversations(ImportLimits())
    listed = read(reader, spooled(tmp_path, chat_exports.as_bytes(chat_exports.chatgpt_export(3))))
    assert [c.raw["id"] for c in listed] == ["c-gpt-1", "c-gpt-2", "c-gpt-3"]
    assert [c.where for c in listed] == ["export.json#0", "export.json#1", "export.json#2"]
    single = read(reader, spooled(tmp_path, b"\xef\xbb\xbf" + chat_exports.as_bytes(
        chat_exports.librechat_export())))
    assert [c.raw["conversationId"] for c in single] == ["lc-1"]
    lines = read(reader, spooled(tmp_path, chat_exports.as_jsonl(chat_exports.claude_export()),
                                 "c.jsonl"), "c.jsonl")
    assert [c.raw["uuid"] for c in lines] == ["cl-1", "cl-2"]


def test_a_chatgpt_zip_reads_only_its_conversation_files(tmp_path):
    reader = StreamedConversations(ImportLimits())
    path = spooled(tmp_path, chat_exports.chatgpt_zip(3), "export.zip")
    found = read(reader, path, "export.zip")
    assert [c.raw["id"] for c in found] == ["zip-0", "zip-1", "zip-2"]


def test_hostile_zips_are_refused_before_anything_is_read(tmp_path):
    reader = StreamedConversations(ImportLimits(max_zip_members=3,
                                                max_unpacked_bytes=50 * 1024 * 1024))
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as archive:
        for n in range(4):
            archive.writestr(f"{n}.json", "[]")
    with pytest.raises(ValidationFailed, match="more than 3 members"):
        reader.check(spooled(tmp_path, many.getvalue(), "many.zip"), "many.zip")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", b"[" + b" " * (20 * 1024 * 1024) + b"]")
    with pytest.raises(ValidationFailed, match="zip bomb"):
        reader.check(spooled(tmp_path, bomb.getvalue(), "bomb.zip"), "bomb.zip")
    huge = io.BytesIO()
    with zipfile.ZipFile(huge, "w", zipfile.ZIP_DEFLATED) as archive:
        for n in range(3):
            archive.writestr(f"{n}.json", b" " * (20 * 1024 * 1024))
    with pytest.raises(PayloadTooLarge):
        reader.check(spooled(tmp_path, huge.getvalue(), "huge.zip"), "huge.zip")
    with pytest.raises(ValidationFailed, match="damaged"):
        reader.check(spooled(tmp_path, b"PK\x03\x04 not really a zip", "bad.zip"), "bad.zip")


def test_files_that_are_not_exports_are_refused(tmp_path):
    reader = StreamedConversations(ImportLimits())
    with pytest.raises(ValidationFailed, match="not a JSON"):
        reader.check(spooled(tmp_path, b"hello, world"), "x.json")
    with pytest.raises(PayloadTooLarge):
        StreamedConversations(ImportLimits(max_upload_bytes=10)).spool([b"x" * 11])


def test_a_conversation_too_deep_or_too_large_fails_alone(tmp_path):
    reader = StreamedConversations(ImportLimits(max_depth=10, max_conversation_bytes=1000))
    deep = {"id": "deep", "x": json.loads("[" * 50 + "]" * 50)}
    large = {"id": "large", "x": "y" * 2000}
    good = {"id": "good"}
    found = read(reader, spooled(tmp_path, json.dumps([deep, large, good]).encode()))
    assert [c.error for c in found[:2]] == ["Nested deeper than 10 levels",
                                            "Larger than 1000 bytes of text in one conversation"]
    assert found[2].raw == good and found[2].error is None


def test_json_broken_mid_file_keeps_what_came_before(tmp_path):
    reader = StreamedConversations(ImportLimits())
    path = spooled(tmp_path, b'[{"id": "one"}, {"id": "tw')
    conversations = reader.conversations(path, "export.json")
    assert next(conversations).raw == {"id": "one"}
    with pytest.raises(ImportFileBroken):
        next(conversations)


def test_one_json_value_past_max_value_bytes_stops_the_file_before_it_is_held_whole(tmp_path):
    reader = StreamedConversations(ImportLimits(max_value_bytes=1024 * 1024))
    good = json.dumps({"id": "good", "text": "y" * 500_000}).encode()
    huge = b'{"id": "huge", "text": "' + b"y" * (3 * 1024 * 1024) + b'"}'
    found = []
    with pytest.raises(ImportFileBroken, match="larger than 1048576 bytes"):
        for conversation in reader.conversations(
                spooled(tmp_path, b"[" + good + b"," + huge + b"]"), "x.json"):
            found.append(conversation)
    assert [c.raw["id"] for c in found] == ["good"]
