"""Small exports in each chat app's format, built from the formats' public descriptions, each
with a branch: what the import tests feed the server."""
from __future__ import annotations

import io
import json
import zipfile

ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def _gpt_node(node_id, parent, children, role=None, text=None, t=None, model=None, **extra):
    message = None
    if role is not None:
        content = extra.pop("content", {"content_type": "text", "parts": [text]})
        metadata = {"model_slug": model} if model else {}
        metadata.update(extra.pop("metadata", {}))
        message = {"id": node_id, "author": {"role": role, "name": None, "metadata": {}},
                   "create_time": t, "update_time": None, "content": content,
                   "status": "finished_successfully", "end_turn": True, "weight": 1.0,
                   "metadata": metadata, "recipient": "all"}
    return node_id, {"id": node_id, "message": message, "parent": parent, "children": children}


def chatgpt_conversation(conversation_id="c-gpt-1", title="Jokes and poems", current="a2b"):
    """root -> hidden system -> u1 -> a1 -> u2 -> {a2, a2b (regenerated)}; a1 -> u2b (an edit)
    -> tool call -> a3. `current_node` is a2b unless told."""
    nodes = dict([
        _gpt_node("root", None, ["sys"]),
        _gpt_node("sys", "root", ["u1"], "system", "", 1700000000.0,
                  metadata={"is_visually_hidden_from_conversation": True}),
        _gpt_node("u1", "sys", ["a1"], "user", "Hello", 1700000001.0),
        _gpt_node("a1", "u1", ["u2", "u2b"], "assistant", "Hi there", 1700000002.0, "gpt-4o"),
        _gpt_node("u2", "a1", ["a2", "a2b"], "user", "Tell me a joke", 1700000003.0),
        _gpt_node("a2", "u2", [], "assistant", "Joke A", 1700000004.0, "gpt-4o"),
        _gpt_node("a2b", "u2", [], "assistant", "Joke B", 1700000005.0, "gpt-4o-mini"),
        _gpt_node("u2b", "a1", ["tool"], "user", "Tell me a poem", 1700000006.0),
        _gpt_node("tool", "u2b", ["a3"], "tool", "search results", 1700000007.0),
        _gpt_node("a3", "tool", [], "assistant", "A poem", 1700000008.0, "gpt-4o"),
    ])
    return {"title": title, "create_time": 1700000000.5, "update_time": 1700000009.0,
            "mapping": nodes, "moderation_results": [], "current_node": current,
            "plugin_ids": None, "conversation_id": conversation_id, "id": conversation_id,
            "default_model_slug": "gpt-4o", "is_archived": False}


def chatgpt_export(count=1):
    return [chatgpt_conversation(f"c-gpt-{n}", f"Talk {n}") for n in range(1, count + 1)]


def chatgpt_zip(files=2):
    """The newer ChatGPT export: conversations split over conversations-NNN.json files, next
    to other JSON files that are not conversations."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for n in range(files):
            archive.writestr(f"conversations-{n:03d}.json",
                             json.dumps([chatgpt_conversation(f"zip-{n}", f"Zipped {n}")]))
        archive.writestr("user.json", json.dumps({"id": "user-1", "email": "a@example.com"}))
        archive.writestr("message_feedback.json", json.dumps([{"id": "f1", "rating": "up"}]))
    return buffer.getvalue()


def claude_export():
    """One linear conversation (no parent ids, an attachment) and one with a branch."""
    linear = {
        "uuid": "cl-1", "name": "Claude linear", "created_at": "2024-05-01T10:00:00.000000Z",
        "updated_at": "2024-05-01T10:05:00.000000Z", "account": {"uuid": "acc"},
        "chat_messages": [
            {"uuid": "m1", "text": "Summarise this", "content": [{"type": "text",
                                                                  "text": "Summarise this"}],
             "sender": "human", "created_at": "2024-05-01T10:00:00Z",
             "updated_at": "2024-05-01T10:00:00Z",
             "attachments": [{"file_name": "notes.txt", "extracted_content": "..."}],
             "files": []},
            {"uuid": "m2", "text": "", "content": [{"type": "text", "text": "A summary"}],
             "sender": "assistant", "created_at": "2024-05-01T10:00:05Z",
             "updated_at": "2024-05-01T10:00:05Z", "attachments": [], "files": []},
        ]}
    root = "00000000-0000-4000-8000-000000000000"
    branched = {
        "uuid": "cl-2", "name": "Claude branched", "created_at": "2024-05-02T10:00:00Z",
        "updated_at": "2024-05-02T10:09:00Z",
        "chat_messages": [
            {"uuid": "b1", "text": "Name a colour", "sender": "human",
             "created_at": "2024-05-02T10:00:00Z", "parent_message_uuid": root},
            {"uuid": "b2", "text": "Blue", "sender": "assistant",
             "created_at": "2024-05-02T10:00:01Z", "parent_message_uuid": "b1"},
            {"uuid": "b3", "text": "Name a fruit", "sender": "human",
             "created_at": "2024-05-02T10:01:00Z", "parent_message_uuid": root},
            {"uuid": "b4", "text": "Apple", "sender": "assistant",
             "created_at": "2024-05-02T10:01:01Z", "parent_message_uuid": "b3"},
        ]}
    return [linear, branched]


def librechat_export():
    """A flat message list with parent ids: an edited second question (m3b) whose reply is the
    newest message."""
    def msg(mid, parent, text, user, at, model=None):
        return {"messageId": mid, "parentMessageId": parent, "conversationId": "lc-1",
                "text": text, "sender": "User" if user else "GPT-4o", "isCreatedByUser": user,
                "model": model, "createdAt": at, "updatedAt": at, "error": False,
                "unfinished": False}
    return {
        "conversationId": "lc-1", "title": "LibreChat branches", "endpoint": "openAI",
        "options": {"model": "gpt-4o"}, "recursive": False,
        "messages": [
            msg("m1", ZERO_UUID, "First question", True, "2024-06-01T09:00:00.000Z"),
            msg("m2", "m1", "First answer", False, "2024-06-01T09:00:02.000Z", "gpt-4o"),
            msg("m3", "m2", "Second question", True, "2024-06-01T09:01:00.000Z"),
            msg("m4", "m3", "Second answer", False, "2024-06-01T09:01:02.000Z", "gpt-4o"),
            msg("m3b", "m2", "Second question, edited", True, "2024-06-01T09:02:00.000Z"),
            msg("m4b", "m3b", "Edited answer", False, "2024-06-01T09:02:02.000Z", "gpt-4o"),
        ]}


def openwebui_export():
    """Open WebUI's chat list export: a history map whose currentId is the older branch."""
    def msg(mid, parent, children, role, content, ts, model=None):
        item = {"id": mid, "parentId": parent, "childrenIds": children, "role": role,
                "content": content, "timestamp": ts}
        if model:
            item.update(model=model, modelName=model)
        return item
    messages = {
        "w1": msg("w1", None, ["w2", "w2b"], "user", "Why is the sky blue?", 1717000000),
        "w2": msg("w2", "w1", [], "assistant", "Rayleigh scattering.", 1717000005, "llama3:8b"),
        "w2b": msg("w2b", "w1", [], "assistant", "Because of scattering.", 1717000010,
                   "llama3:8b"),
    }
    return [{"id": "ow-1", "user_id": "u-1", "title": "Sky colour",
             "chat": {"id": "", "title": "Sky colour", "models": ["llama3:8b"],
                      "params": {}, "history": {"messages": messages, "currentId": "w2"},
                      "messages": [messages["w1"], messages["w2"]], "tags": [],
                      "timestamp": 1717000000000},
             "updated_at": 1717000010, "created_at": 1717000000, "share_id": None,
             "archived": False, "pinned": True, "meta": {}, "folder_id": None}]


def as_bytes(document) -> bytes:
    return json.dumps(document).encode()


def as_jsonl(conversations) -> bytes:
    return b"\n".join(json.dumps(c).encode() for c in conversations) + b"\n"
