"""A talk and its messages have one JSON form: what the API returns is what events carry and
exports contain."""
from __future__ import annotations

import json

from tests.support.fixtures import MOCK_DEFAULT_MODEL


def test_events_and_exports_carry_the_api_form_of_a_talk_and_its_messages(api, db, mock_provider):
    session = api.register()
    talk = api.request("post", "/api/v1/talks", session,
                       json={"name": "Same everywhere", "model": MOCK_DEFAULT_MODEL}).get_json()
    created = db.events.find_one({"topic": f"user:{session.id}", "event.type": "talk.created"})
    assert created["event"]["talk"] == talk

    exchange = api.request("post", f"/api/v1/talks/{talk['id']}/messages", session,
                           json={"content": "hello"}).get_json()
    listed = api.request("get", f"/api/v1/talks/{talk['id']}/messages", session).get_json()["items"]
    exported = json.loads(api.request("get", f"/api/v1/talks/{talk['id']}/export?format=json",
                                      session).get_data(as_text=True))
    current = api.request("get", f"/api/v1/talks/{talk['id']}", session).get_json()

    assert exported["messages"] == listed and exported["talk"] == current
    events = {e["event"]["message"]["id"]: e["event"]["message"] for e in db.events.find(
        {"topic": f"user:{session.id}", "event.type": "message.created"})}
    assert events[exchange["user_message"]["id"]] == exchange["user_message"]
