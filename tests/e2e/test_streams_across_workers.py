"""Issue 17 against gunicorn with two workers: a reply generated on one worker is resumed on the
other the way real clients do it, each connection pinned to its worker.

- A browser's `EventSource` on the resume route (`?token=`, since it cannot send headers): it
  reconnects with `Last-Event-ID` and gets only what it lacked; at the end a 204 stops it.
- `fetch-event-source`: a dropped stream is retried by sending the same POST again, with the same
  `Idempotency-Key` and the `Last-Event-ID` it saw: the reply is resumed, not sent twice.
"""
from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator

import pymongo
import pytest
import requests

from tests.support.gunicorn import start_gunicorn
from tests.support.mock_provider import tokens
from tests.support.processes import stop
from tests.support.streams import SseEvent, iter_events

pytestmark = pytest.mark.slow

WORDS = " ".join(f"w{n}" for n in range(60))
PARTS = tokens(WORDS)


@pytest.fixture
def server(tmp_path, mongo_uri, models_yaml):
    database = f"test_{uuid.uuid4().hex[:12]}"
    gunicorn = start_gunicorn(tmp_path, {
        "MONGODB_URI": mongo_uri, "MONGODB_DATABASE": database, "RATELIMIT_ENABLED": "false",
        "BCRYPT_ROUNDS": "4", "MODELS_CONFIG": str(models_yaml)})
    yield gunicorn
    stop(gunicorn.process)
    pymongo.MongoClient(mongo_uri).drop_database(database)


@pytest.fixture
def alice(server) -> dict:
    response = requests.post(f"{server.base}/api/v1/auth/register", timeout=10, json={
        "email": f"a-{uuid.uuid4().hex[:10]}@example.com", "password": "correct-horse-1",
        "name": "Alice"})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def talk(server, alice) -> dict:
    response = requests.post(f"{server.base}/api/v1/talks", json={"name": "two workers"},
                             headers=bearer(alice), timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def bearer(session: dict) -> dict:
    return {"Authorization": f"Bearer {session['access_token']}"}


class Stream:
    """One HTTP request on `worker`, read event by event. The other workers are paused until
    its answer has begun: a connection waiting in the shared listening queue could otherwise be
    accepted by any worker once they run again."""

    def __init__(self, server, worker: int, method: str, path: str, headers: dict,
                 body: dict | None = None):
        payload = json.dumps(body).encode() if body is not None else None
        with server.accepting_only(worker):
            self.connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            self.connection.request(method, path, body=payload, headers={
                **headers, **({"Content-Type": "application/json"} if payload else {})})
            self.response = self.connection.getresponse()
        self.worker = server.holder_of(self.connection.sock.getsockname()[1])
        self.events = self._events()

    def _lines(self) -> Iterator[str]:
        while line := self.response.readline():
            yield line.decode().rstrip("\r\n")

    def _events(self) -> Iterator[SseEvent]:
        for item in iter_events(self._lines()):
            if isinstance(item, SseEvent):
                yield item

    def until(self, predicate) -> list[SseEvent]:
        seen = []
        for event in self.events:
            seen.append(event)
            if predicate(event, seen):
                return seen
        raise AssertionError(f"the stream ended first: {[e.name for e in seen]}")

    def close(self) -> None:
        self.connection.close()


def deltas(events) -> int:
    return sum(event.name == "delta" for event in events)


def text(events) -> str:
    return "".join(event.data["content"] for event in events if event.name == "delta")


def test_an_event_source_resumes_on_the_other_worker_with_last_event_id_then_stops_at_204(
        server, alice, talk, mock_provider):
    mock_provider.behave(None, reply=WORDS, token_delay=0.05)
    first_worker, other_worker = sorted(server.worker_pids())
    sent = Stream(server, first_worker, "POST", f"/api/v1/talks/{talk['id']}/messages",
                  bearer(alice), {"content": "go", "stream": True})
    assert sent.worker == first_worker
    seen = sent.until(lambda event, seen: deltas(seen) == 20)
    message_id = seen[1].data["message_id"]
    sent.close()  # the connection drops after 20 deltas; the reply goes on on its worker

    resume_path = (f"/api/v1/talks/{talk['id']}/messages/{message_id}/stream"
                   f"?token={alice['access_token']}")
    resumed = Stream(server, other_worker, "GET", resume_path, {"Last-Event-ID": seen[-1].id})
    assert resumed.worker == other_worker and resumed.response.status == 200
    rest = resumed.until(lambda event, _: event.name == "done")
    resumed.close()
    assert rest[0].name == "delta" and int(rest[0].id) > 20  # nothing before it again
    assert text(seen) + text(rest) == WORDS  # nothing lost, nothing twice
    assert [int(e.id) for e in rest] == sorted(int(e.id) for e in rest)
    assert rest[-1].data["message"]["content"] == WORDS

    for worker in (first_worker, other_worker):  # the EventSource reconnects after `done`
        again = Stream(server, worker, "GET", resume_path, {"Last-Event-ID": rest[-1].id})
        assert again.response.status == 204  # ... and stops
        again.close()
    assert len(mock_provider.requests) == 1


def test_a_fetch_event_source_retry_on_the_other_worker_resumes_instead_of_sending_twice(
        server, alice, talk, mock_provider):
    mock_provider.behave(None, reply=WORDS, token_delay=0.05)
    first_worker, other_worker = sorted(server.worker_pids())
    path, body = f"/api/v1/talks/{talk['id']}/messages", {"content": "go once", "stream": True}
    headers = {**bearer(alice), "Idempotency-Key": f"fes-{uuid.uuid4().hex}"}
    sent = Stream(server, first_worker, "POST", path, headers, body)
    assert sent.worker == first_worker
    seen = sent.until(lambda event, seen: deltas(seen) == 10)
    sent.close()

    retry = Stream(server, other_worker, "POST", path, {**headers, "Last-Event-ID": seen[-1].id},
                   body)
    assert retry.worker == other_worker and retry.response.status == 200
    assert retry.response.getheader("Idempotent-Replayed") == "true"
    rest = retry.until(lambda event, _: event.name == "done")
    retry.close()
    assert "user_message" not in [event.name for event in rest]
    assert text(seen) + text(rest) == WORDS
    assert len(mock_provider.requests) == 1  # the model was called once

    history = requests.get(f"{server.base}{path}", headers=bearer(alice), timeout=10).json()
    assert [(m["role"], m["content"]) for m in history["items"]] == [
        ("user", "go once"), ("assistant", WORDS)]
