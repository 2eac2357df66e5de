"""Each import format turns its app's export into the same tree: the right messages, parents,
times, models and current leaf (exports built from the formats' public descriptions)."""
from __future__ import annotations

import pytest

from entities.errors import ValidationFailed
from entities.talk_import import ImportedConversation, ImportedMessage, ImportLimits, tree_of
from tests.support import chat_exports
from use_cases.imports.formats import FORMATS, detect


def converted(raw: dict) -> tuple[ImportedConversation, dict[str, ImportedMessage], list[str]]:
    fmt = detect(raw)
    assert fmt is not None
    conversation = fmt.convert(raw)
    tree = tree_of(conversation, ImportLimits())
    by_id = {m.source_id: m for m in tree.messages}
    path, at = [], tree.current_leaf
    while at is not None:
        path.append(at)
        at = by_id[at].parent_source_id
    return conversation, by_id, path[::-1]


def test_a_chatgpt_mapping_keeps_its_branches_and_current_node_without_hidden_or_tool_nodes():
    conversation, by_id, path = converted(chat_exports.chatgpt_conversation())
    assert conversation.format == "chatgpt" and conversation.source_id == "c-gpt-1"
    assert conversation.title == "Jokes and poems" and conversation.model == "gpt-4o"
    assert set(by_id) == {"u1", "a1", "u2", "a2", "a2b", "u2b", "a3"}
    assert path == ["u1", "a1", "u2", "a2b"]
    assert by_id["u1"].parent_source_id is None  # the hidden system node is dropped
    assert by_id["a3"].parent_source_id == "u2b"  # the tool node is dropped, its child re-hung
    assert by_id["a2b"].model == "gpt-4o-mini" and by_id["u2"].model is None
    assert by_id["a1"].created_at.timestamp() == 1700000002.0


def test_a_chatgpt_current_node_that_was_dropped_leads_to_its_nearest_kept_ancestor():
    raw = chat_exports.chatgpt_conversation(current="tool")
    assert converted(raw)[2] == ["u1", "a1", "u2b", "a3"]  # then down to the newest leaf


def test_claude_conversations_with_and_without_parent_ids():
    linear, branched = chat_exports.claude_export()
    conversation, by_id, path = converted(linear)
    assert path == ["m1", "m2"] and conversation.title == "Claude linear"
    assert by_id["m2"].content == "A summary"
    assert "[attachment: notes.txt]" in by_id["m1"].content
    _, by_id, path = converted(branched)
    assert by_id["b3"].parent_source_id is None and by_id["b1"].parent_source_id is None
    assert path == ["b3", "b4"]  # two roots: the newest leaf is current


def test_a_librechat_flat_list_with_parent_ids_makes_the_newest_leaf_current():
    conversation, by_id, path = converted(chat_exports.librechat_export())
    assert conversation.format == "librechat" and conversation.model == "gpt-4o"
    assert path == ["m1", "m2", "m3b", "m4b"]
    assert by_id["m3"].parent_source_id == "m2" and by_id["m1"].parent_source_id is None
    assert by_id["m4"].role == "assistant" and by_id["m3"].role == "user"


def test_a_librechat_recursive_export_nests_messages_in_children():
    flat = chat_exports.librechat_export()
    by_id = {m["messageId"]: {**m, "children": []} for m in flat["messages"]}
    roots = []
    for message in by_id.values():
        parent = by_id.get(message["parentMessageId"])
        (parent["children"] if parent else roots).append(message)
    nested = {**flat, "recursive": True, "messages": roots}
    _, kept, path = converted(nested)
    assert set(kept) == set(by_id) and path == ["m1", "m2", "m3b", "m4b"]


def test_an_open_webui_history_map_keeps_its_current_id():
    conversation, by_id, path = converted(chat_exports.openwebui_export()[0])
    assert conversation.format == "openwebui" and conversation.pinned is True
    assert path == ["w1", "w2"] and set(by_id) == {"w1", "w2", "w2b"}
    assert by_id["w2b"].model == "llama3:8b"


def test_synapscale_refuses_a_newer_version():
    with pytest.raises(ValidationFailed, match="newer"):
        FORMATS["synapscale"].convert({"format": "synapscale", "version": 99, "talk": {"id": "t"}})


def test_a_cycle_of_parents_is_refused():
    conversation = ImportedConversation("librechat", "x", "loop", [
        ImportedMessage("a", "b", "user", "1"), ImportedMessage("b", "a", "assistant", "2")])
    with pytest.raises(ValidationFailed, match="cycle"):
        tree_of(conversation, ImportLimits())


def test_too_many_messages_or_a_message_too_long_fail_the_conversation():
    messages = [ImportedMessage(str(n), None, "user", "x") for n in range(4)]
    with pytest.raises(ValidationFailed, match="More than 3 messages"):
        tree_of(ImportedConversation("chatgpt", "x", "", messages), ImportLimits(max_messages=3))
    with pytest.raises(ValidationFailed, match="longer than 0 characters"):
        tree_of(ImportedConversation("chatgpt", "x", "", messages),
                ImportLimits(max_message_chars=0))


def test_objects_of_no_known_format_are_not_detected():
    assert detect({"id": "user-1", "email": "a@example.com"}) is None
    assert detect({"conversationId": "x"}) is None


def test_a_chatgpt_call_to_a_tool_is_not_a_reply():
    raw = chat_exports.chatgpt_conversation()
    call = raw["mapping"]["a3"]["message"]
    raw["mapping"]["a3"]["message"] = {**call, "recipient": "browser"}
    _, by_id, _ = converted(raw)
    assert "a3" not in by_id and "u2b" in by_id


def test_synapscale_messages_of_roles_not_stored_here_are_left_out_and_their_children_kept():
    raw = {"format": "synapscale", "version": 1, "talk": {"id": "t1", "name": "Tools"},
           "messages": [
               {"id": "1", "parent_id": None, "role": "user", "content": "weather?"},
               {"id": "2", "parent_id": "1", "role": "developer", "content": "be brief"},
               {"id": "3", "parent_id": "2", "role": "assistant", "content": "Sunny.",
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "cost_usd": 0.5}}]}
    _, by_id, path = converted(raw)
    assert path == ["1", "3"] and by_id["3"].usage == (3, 2, 0.5)
