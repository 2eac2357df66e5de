"""Streaming replies through a real HTTP server: disconnects, resume, stop, keep-alives, and a
second app on the same database standing in for another gunicorn worker."""
from __future__ import annotations

import threading
import time

import pytest
import requests

from app import create_app, shutdown
from tests.support.streams import iter_sse, parse_sse, served

WORDS = " ".join(f"w{n}" for n in range(40))  # 40 streamed tokens


@pytest.fixture
def settings_overrides():
    return {"stream_keepalive_s": 0.3, "chat_flush_interval_s": 0.05}


@pytest.fixture
def base_url(app):
    with served(app) as url:
        yield url


@pytest.fixture
def other_worker(settings):
    """A second app on the same database: what another gunicorn worker would be."""
    application = create_app(settings)
    yield application
    shutdown(application.extensions["synapscale"])


@pytest.fixture
def alice(api):
    return api.register(name="Alice")


@pytest.fixture
def talk(api, alice):
    return api.request("post", "/api/v1/talks", alice, json={"name": "Stream"}).get_json()


def start_stream(base_url, session, talk_id, content="go"):
    response = requests.post(f"{base_url}/api/v1/talks/{talk_id}/messages",
                             json={"content": content, "stream": True}, headers=session.headers,
                             stream=True, timeout=30)
    assert response.status_code == 200
    return response, iter_sse(response.iter_lines(decode_unicode=True))


def read_until_deltas(events, count):
    """Events up to and including the `count`-th delta."""
    seen, deltas = [], 0
    for name, data in events:
        seen.append((name, data))
        deltas += name == "delta"
        if deltas >= count:
            return seen
    raise AssertionError(f"the stream ended after {deltas} deltas")


def wait_for_reply(api, session, talk_id, status, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = api.request("get", f"/api/v1/talks/{talk_id}/messages", session).get_json()["items"]
        replies = [m for m in items if m["role"] == "assistant"]
        if replies and replies[-1]["status"] == status:
            return replies[-1]
        time.sleep(0.05)
    raise AssertionError(f"no reply reached status {status}: {replies}")


def test_a_client_that_disconnects_mid_stream_still_gets_its_reply_stored(
        api, alice, talk, base_url, mock_provider):
    mock_provider.behave(None, reply=WORDS, token_delay=0.02)
    response, events = start_stream(base_url, alice, talk["id"])
    seen = read_until_deltas(events, 2)
    assert [name for name, _ in seen][:2] == ["user_message", "start"]
    response.close()  # the client goes away
    reply = wait_for_reply(api, alice, talk["id"], "complete")
    assert reply["content"] == WORDS
    assert reply["usage"]["completion_tokens"] == 40


def test_resume_replays_what_exists_then_follows_live_to_the_full_text(
        api, alice, talk, base_url, mock_provider):
    mock_provider.behave(None, reply=WORDS, token_delay=0.03)
    response, events = start_stream(base_url, alice, talk["id"])
    seen = read_until_deltas(events, 3)
    message_id = seen[1][1]["message_id"]
    response.close()
    resumed = requests.get(f"{base_url}/api/v1/talks/{talk['id']}/messages/{message_id}/stream",
                           headers=alice.headers, timeout=30)
    replay = parse_sse(resumed.text)
    assert replay[0] == ("start", {"message_id": message_id, "model": seen[1][1]["model"]})
    assert "".join(data["content"] for name, data in replay if name == "delta") == WORDS
    assert replay[-1][0] == "done" and replay[-1][1]["message"]["content"] == WORDS


def test_resume_of_a_finished_reply_gives_its_whole_text_at_once(api, client, alice, talk,
                                                                 mock_provider):
    exchange = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice,
                           json={"content": "done already"}).get_json()
    message_id = exchange["assistant_message"]["id"]
    response = client.get(f"/api/v1/talks/{talk['id']}/messages/{message_id}/stream",
                          headers=alice.headers)
    events = parse_sse(response.get_data(as_text=True))
    assert [name for name, _ in events] == ["start", "delta", "done"]
    assert events[1][1] == {"content": "Echo: done already"}


def test_another_worker_replays_and_follows_without_losing_or_repeating_text(
        api, alice, talk, base_url, other_worker, mock_provider):
    mock_provider.behave(None, reply=WORDS, token_delay=0.03)
    response, events = start_stream(base_url, alice, talk["id"])
    message_id = read_until_deltas(events, 2)[1][1]["message_id"]
    with served(other_worker) as other_url:
        resumed = requests.get(
            f"{other_url}/api/v1/talks/{talk['id']}/messages/{message_id}/stream",
            headers=alice.headers, timeout=30)
    replay = parse_sse(resumed.text)
    assert "".join(data["content"] for name, data in replay if name == "delta") == WORDS
    assert replay[-1][0] == "done"
    response.close()


def test_stop_saves_the_partial_reply_as_stopped(api, alice, talk, base_url, mock_provider):
    mock_provider.behave(None, reply=WORDS, token_delay=0.05)
    response, events = start_stream(base_url, alice, talk["id"])
    read_until_deltas(events, 3)
    stopped = api.request("post", f"/api/v1/talks/{talk['id']}/stop", alice)
    rest = list(events)
    response.close()
    assert stopped.status_code == 200
    [message] = stopped.get_json()["messages"]
    assert message["status"] == "stopped"
    assert message["content"] and WORDS.startswith(message["content"])
    assert len(message["content"]) < len(WORDS)
    assert rest[-1][0] == "done" and rest[-1][1]["message"]["status"] == "stopped"
    assert wait_for_reply(api, alice, talk["id"], "stopped")["content"] == message["content"]
    assert message["usage"]["completion_tokens"] > 0


def test_stop_asked_on_another_worker_reaches_the_generating_one(
        api, alice, talk, base_url, other_worker, mock_provider):
    mock_provider.behave(None, reply=WORDS, token_delay=0.05)
    response, events = start_stream(base_url, alice, talk["id"])
    read_until_deltas(events, 3)
    stopped = other_worker.test_client().post(f"/api/v1/talks/{talk['id']}/stop",
                                               headers=alice.headers)
    [message] = stopped.get_json()["messages"]
    assert message["status"] == "stopped" and len(message["content"]) < len(WORDS)
    response.close()


def test_stop_with_nothing_running_stops_nothing(api, alice, talk):
    response = api.request("post", f"/api/v1/talks/{talk['id']}/stop", alice)
    assert response.status_code == 200 and response.get_json() == {"messages": []}


def test_a_second_message_while_a_reply_streams_is_a_conflict(api, alice, talk, base_url,
                                                             mock_provider):
    mock_provider.behave(None, reply=WORDS, token_delay=0.05)
    response, events = start_stream(base_url, alice, talk["id"])
    read_until_deltas(events, 1)
    second = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice,
                         json={"content": "me too"})
    assert second.status_code == 409
    response.close()
    api.request("post", f"/api/v1/talks/{talk['id']}/stop", alice)


def test_a_quiet_stream_sends_keep_alive_comments(api, alice, talk, base_url, mock_provider):
    mock_provider.behave(None, reply="slow reply", token_delay=0.8)
    response = requests.post(f"{base_url}/api/v1/talks/{talk['id']}/messages",
                             json={"content": "take your time", "stream": True},
                             headers=alice.headers, timeout=30)
    assert ": keep-alive" in response.text.splitlines()
    assert parse_sse(response.text)[-1][0] == "done"


def test_concurrent_streams_in_different_talks_all_complete(api, alice, base_url, mock_provider):
    mock_provider.behave(None, reply=WORDS, token_delay=0.01)
    talks = [api.request("post", "/api/v1/talks", alice, json={}).get_json()["id"]
             for _ in range(5)]
    results: dict[str, str] = {}

    def run(talk_id):
        body = requests.post(f"{base_url}/api/v1/talks/{talk_id}/messages",
                             json={"content": "go", "stream": True}, headers=alice.headers,
                             timeout=30).text
        results[talk_id] = "".join(d["content"] for n, d in parse_sse(body) if n == "delta")

    threads = [threading.Thread(target=run, args=(talk_id,)) for talk_id in talks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {talk_id: WORDS for talk_id in talks}
