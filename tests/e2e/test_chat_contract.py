"""The chat loop's contract (issue 17): timestamps with `Z`, unique /v1 ids, rate-limit headers
readable by browsers, exports that name attachments, one reply at a time per talk."""
from __future__ import annotations

import io
import itertools
import json
import re
import threading

import pytest
import requests

from tests.support.gateway import bearer, completion, create_key, sse_data
from tests.support.streams import served

Z_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
WORDS = " ".join(f"w{n}" for n in range(30))


@pytest.fixture
def alice(api):
    return api.register(name="Alice")


def create_talk(api, session, **body):
    response = api.request("post", "/api/v1/talks", session, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def timestamps(value, key=""):
    """Every value of a field named *_at (or `at`) anywhere in `value`."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from timestamps(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from timestamps(item, key)
    elif value is not None and (key.endswith("_at") or key == "at"):
        yield value


def upload(client, session, filename, content):
    response = client.post("/api/v1/files/upload", headers=session.headers,
                           content_type="multipart/form-data",
                           data={"file": (io.BytesIO(content), filename)})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# --- timestamps -----------------------------------------------------------------------------

def test_every_timestamp_in_responses_and_exports_ends_in_z(api, client, alice, mock_provider):
    talk = create_talk(api, alice, name="Times")
    file = upload(client, alice, "notes.txt", b"some notes\n")
    exchange = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice,
                           json={"content": "hi", "file_ids": [file["id"]]}).get_json()
    bodies = [
        api.request("get", f"/api/v1/talks/{talk['id']}", alice).get_json(),
        exchange,
        api.request("get", f"/api/v1/talks/{talk['id']}/messages", alice).get_json(),
        api.request("get", "/api/v1/talks", alice).get_json(),
        api.request("get", f"/api/v1/files/{file['id']}", alice).get_json(),
        api.request("get", "/api/v1/auth/me", alice).get_json(),
        json.loads(api.request("get", f"/api/v1/talks/{talk['id']}/export?format=json",
                               alice).data),
    ]
    found = [value for body in bodies for value in timestamps(body)]
    assert len(found) >= 10
    assert [value for value in found if not Z_TIME.match(value)] == []
    markdown = api.request("get", f"/api/v1/talks/{talk['id']}/export?format=markdown",
                           alice).data.decode()
    assert "+00:00" not in markdown and re.search(r"- Exported: \S+Z$", markdown, re.M)


# --- /v1 ids --------------------------------------------------------------------------------

def test_v1_completion_ids_are_unique_per_response_not_the_providers(api, client, mock_provider):
    owner = api.register()
    key = create_key(api, owner, api.personal_workspace(owner))
    mock_provider.behave(None, body=json.dumps({
        "id": "chatcmpl-always-the-same", "object": "chat.completion", "created": 1,
        "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
                                   "message": {"role": "assistant", "content": "hello"}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}))
    ids = [completion(client, bearer(key["key"]), text="hi").get_json()["id"] for _ in range(3)]
    assert len(set(ids)) == 3 and "chatcmpl-always-the-same" not in ids
    assert all(re.fullmatch(r"chatcmpl-[0-9a-f]{32}", i) for i in ids)
    mock_provider.reset()
    streams = [sse_data(completion(client, bearer(key["key"]), text="a b c", stream=True))
               for _ in range(2)]
    stream_ids = [{chunk["id"] for chunk in chunks if isinstance(chunk, dict)}
                  for chunks in streams]
    assert all(len(one) == 1 for one in stream_ids)  # one id for every chunk of a stream
    assert stream_ids[0] != stream_ids[1]


# --- CORS -----------------------------------------------------------------------------------

def test_cors_exposes_the_rate_limit_headers(client):
    response = client.get("/api/v1/health", headers={"Origin": "http://localhost:3000"})
    exposed = {h.strip().lower()
               for h in response.headers.get("Access-Control-Expose-Headers", "").split(",")}
    assert {"x-request-id", "retry-after", "x-ratelimit-limit", "x-ratelimit-remaining",
            "x-ratelimit-reset"} <= exposed


# --- exports name attachments ---------------------------------------------------------------

def test_exports_name_the_attached_files(api, client, alice, mock_provider):
    talk = create_talk(api, alice, name="With files")
    notes = upload(client, alice, "notes.txt", b"some notes\n")
    data = upload(client, alice, "data.csv", b"a,b\n1,2\n")
    response = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice,
                           json={"content": "read these", "file_ids": [notes["id"], data["id"]]})
    assert response.status_code == 201, response.get_json()
    body = json.loads(api.request("get", f"/api/v1/talks/{talk['id']}/export?format=json",
                                  alice).data)
    user, reply = body["messages"]
    assert user["file_ids"] == [notes["id"], data["id"]]  # the representation, unchanged
    assert user["attachments"] == [
        {"id": f["id"], "filename": f["filename"], "content_type": f["content_type"],
         "size": f["size"]} for f in (notes, data)]
    assert "attachments" not in reply  # a message without files: the API form, unchanged
    markdown = api.request("get", f"/api/v1/talks/{talk['id']}/export?format=markdown",
                           alice).data.decode()
    for f in (notes, data):
        assert f"- Attachment: {f['filename']} ({f['content_type']}, {f['size']} bytes)" in markdown


# --- one reply at a time --------------------------------------------------------------------

@pytest.mark.parametrize("stream", [True, False])
def test_concurrent_sends_into_one_talk_never_interleave_the_history(api, app, alice,
                                                                    mock_provider, stream):
    """Three sends at once: one reply is generated, the others are 409 naming it; one more
    send after it ended succeeds; the provider only ever sees alternating roles."""
    mock_provider.behave(None, reply=WORDS, token_delay=0.05)
    talk = create_talk(api, alice, name="Race")
    url_of = f"/api/v1/talks/{talk['id']}/messages"
    results: list[requests.Response] = []
    start = threading.Barrier(3)

    with served(app) as base_url:
        def send(content):
            start.wait(5)
            results.append(requests.post(f"{base_url}{url_of}", headers=alice.headers, timeout=30,
                                         json={"content": content, "stream": stream}))

        threads = [threading.Thread(target=send, args=(f"q{n}",)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200 if stream else 201, 409, 409], [r.text[:200] for r in results]
    items = api.request("get", url_of, alice).get_json()["items"]
    assert [m["role"] for m in items] == ["user", "assistant"]
    assert items[1]["status"] == "complete"
    for refused in (r for r in results if r.status_code == 409):
        error = refused.json()["error"]
        assert error["code"] == "conflict"
        assert error["details"]["message_id"] == items[1]["id"]  # the reply being generated

    one_more = api.request("post", url_of, alice, json={"content": "after"})
    assert one_more.status_code == 201, one_more.get_json()
    assert len(mock_provider.requests) == 2
    for request in mock_provider.requests:
        roles = [m["role"] for m in request["messages"] if m["role"] != "system"]
        assert all(a != b for a, b in itertools.pairwise(roles)), roles
    items = api.request("get", url_of, alice).get_json()["items"]
    assert [m["role"] for m in items] == ["user", "assistant", "user", "assistant"]
