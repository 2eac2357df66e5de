"""data/migrations/0002_message_trees.py: talks stored before trees (parents on replies only, no
current leaf) are read as the line they were before the migration, and after it hold the same
line as a tree; a second run changes nothing."""
from __future__ import annotations

import importlib.util

import pytest
from bson import ObjectId

from data.migrate import MIGRATIONS_DIR


def migration_module():
    spec = importlib.util.spec_from_file_location(
        "message_trees_migration", MIGRATIONS_DIR / "0002_message_trees.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def alice(api):
    return api.register(name="Alice")


def as_stored_before_trees(db, talk_id: str) -> None:
    """What the previous version stored: user messages without a parent, no current leaf."""
    db.messages.update_many({"talk_id": ObjectId(talk_id), "role": "user"},
                            {"$set": {"parent_id": None}})
    db.talks.update_one({"_id": ObjectId(talk_id)}, {"$unset": {"current_leaf_id": ""}})


def contents(api, session, talk_id, **query):
    response = api.request("get", f"/api/v1/talks/{talk_id}/messages", session,
                           query_string=query)
    assert response.status_code == 200, response.get_json()
    return [m["content"] for m in response.get_json()["items"]]


def snapshot(db):
    return (list(db.messages.find({}, {"parent_id": 1}).sort("_id", 1)),
            list(db.talks.find({}, {"current_leaf_id": 1}).sort("_id", 1)))


def test_old_talks_read_as_a_line_before_and_after_the_migration(app, api, alice, db,
                                                                  mock_provider):
    talk = api.request("post", "/api/v1/talks", alice, json={}).get_json()
    url = f"/api/v1/talks/{talk['id']}/messages"
    first = api.request("post", url, alice, json={"content": "one"}).get_json()
    mock_provider.behave(None, reply="Uno")
    api.request("post", f"{url}/{first['assistant_message']['id']}/regenerate", alice, json={})
    mock_provider.behave(None, reply="Dos")
    api.request("post", url, alice, json={"content": "two"})
    empty = api.request("post", "/api/v1/talks", alice, json={}).get_json()
    as_stored_before_trees(db, talk["id"])
    db.talks.update_one({"_id": ObjectId(empty["id"])}, {"$unset": {"current_leaf_id": ""}})

    # read tolerantly before the migration (nothing written)
    line = ["one", "Uno", "two", "Dos"]
    assert contents(api, alice, talk["id"]) == line
    tree = api.request("get", f"/api/v1/talks/{talk['id']}/tree", alice).get_json()
    assert len(tree["nodes"]) == 5 and tree["current_leaf_id"] is not None
    assert db.talks.find_one({"_id": ObjectId(talk["id"])}).get("current_leaf_id") is None

    result = app.test_cli_runner().invoke(args=["migrate"])
    assert result.exit_code == 0, result.output
    assert "0002_message_trees: applied" in result.output
    stored = db.talks.find_one({"_id": ObjectId(talk["id"])})
    messages = {m["content"]: m for m in db.messages.find({"talk_id": ObjectId(talk["id"])})}
    assert stored["current_leaf_id"] == messages["Dos"]["_id"]
    assert messages["two"]["parent_id"] == messages["Uno"]["_id"]  # the newer reply
    assert messages["Echo: one"]["parent_id"] == messages["one"]["_id"]  # its old sibling
    assert messages["one"]["parent_id"] is None
    assert db.talks.find_one({"_id": ObjectId(empty["id"])})["current_leaf_id"] is None
    assert contents(api, alice, talk["id"]) == line
    assert len(contents(api, alice, talk["id"], branch="all")) == 5

    migrated = snapshot(db)
    migration_module().upgrade(db)  # a second run (even without its record) changes nothing
    assert snapshot(db) == migrated

    # and the talk goes on as a tree: the model sees the line
    api.request("post", url, alice, json={"content": "three"})
    assert [m["content"] for m in mock_provider.requests[-1]["messages"]] == [*line, "three"]


def test_a_talk_first_used_after_upgrading_but_before_migrating_is_linked_on_its_next_message(
        api, alice, db, mock_provider):
    talk = api.request("post", "/api/v1/talks", alice, json={}).get_json()
    url = f"/api/v1/talks/{talk['id']}/messages"
    api.request("post", url, alice, json={"content": "one"})
    as_stored_before_trees(db, talk["id"])
    api.request("post", url, alice, json={"content": "two"})
    assert [m["content"] for m in mock_provider.requests[-1]["messages"]] == [
        "one", "Echo: one", "two"]
    assert contents(api, alice, talk["id"]) == ["one", "Echo: one", "two", "Echo: two"]
    migration_module().upgrade(db)
    assert contents(api, alice, talk["id"]) == ["one", "Echo: one", "two", "Echo: two"]


def test_downgrading_removes_the_current_leaves(api, alice, db, mock_provider):
    talk = api.request("post", "/api/v1/talks", alice, json={}).get_json()
    api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice, json={"content": "one"})
    migration_module().downgrade(db)
    assert "current_leaf_id" not in db.talks.find_one({"_id": ObjectId(talk["id"])})
    assert contents(api, alice, talk["id"]) == ["one", "Echo: one"]
