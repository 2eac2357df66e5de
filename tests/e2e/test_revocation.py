"""Revocation reaches every open channel, and a token's claims are not authority.

Each open WebSocket and event stream ends (close code 4401; a stream's last event is an `error`
with code `token_revoked`) within a few seconds of logout, logout-all, a password change or
reset, deactivation, a role change, or removal from the workspace the channel shows; no client
frame is acted upon after its session ended. A token whose user does not own its session is
refused, and a role claimed by a token counts for nothing.

The matrix test prints `REVOCATION <channel> <event> <seconds>`: run with `-s` for the table.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import jwt as pyjwt
import pymongo
import pytest
import requests
import websocket
from flask_jwt_extended import create_access_token

from tests.support.api import ApiClient, Session
from tests.support.fixtures import mock_catalogue_path
from tests.support.gunicorn import new_request_id, start_gunicorn
from tests.support.identity import add_member, make_admin, outbox_token, shared_app
from tests.support.processes import stop
from tests.support.streams import iter_sse, served
from tests.support.workflows import create_workflow, execute, greeting_workflow

# No workflow runner in the API: an execution stays queued, so its socket stays open.
app = shared_app(workflow_runner_threads=0)

PASSWORD = "correct-horse-1"
CLOSE_WITHIN_S = 5.0  # "within a few seconds"
SLOW_REPLY = " ".join(f"w{n}" for n in range(60))  # 60 tokens, 0.2 s apart: 12 s of streaming
TOKEN_DELAY_S = 0.2


@pytest.fixture(scope="module")
def base(app):
    with served(app) as url:
        yield url


@pytest.fixture
def ws_base(base):
    return base.replace("http://", "ws://")


@pytest.fixture(scope="module")
def db(app):
    return app.extensions["synapscale"].db


# --- helpers ----------------------------------------------------------------------------------

def second_session(api, first: Session) -> Session:
    """The same user signed in a second time (another device)."""
    return api.login(first.user["email"], PASSWORD)


def connect(ws_base: str, path: str, token: str):
    return websocket.create_connection(f"{ws_base}{path}?token={token}", timeout=15)


def talk_socket(ws_base, talk_id: str, session: Session):
    return connect(ws_base, f"/api/v1/ws/talks/{talk_id}", session.access_token)


def new_talk(api, session: Session, workspace_id: str | None = None) -> str:
    body = {"name": "Private plans"} | ({"workspace_id": workspace_id} if workspace_id else {})
    response = api.request("post", "/api/v1/talks", session, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def close_code(ws, timeout_s: float = CLOSE_WITHIN_S) -> int:
    """The code of the close frame the server sends next (data frames before it are skipped)."""
    ws.settimeout(timeout_s)
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(data[:2], "big")


def frames_until_close(ws, timeout_s: float = CLOSE_WITHIN_S) -> tuple[list[dict], int]:
    ws.settimeout(timeout_s)
    frames = []
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return frames, int.from_bytes(data[:2], "big")
        if opcode == websocket.ABNF.OPCODE_TEXT:
            frames.append(json.loads(data))


def send_frame(ws, frame: dict) -> None:
    """Sends a frame; a server that already closed the socket may refuse it."""
    try:
        ws.send(json.dumps(frame))
    except (websocket.WebSocketConnectionClosedException, BrokenPipeError,
            ConnectionResetError):
        pass


def receive_until(ws, kind: str) -> list[dict]:
    frames = []
    while True:
        frame = json.loads(ws.recv())
        frames.append(frame)
        if frame["type"] in (kind, "error"):
            return frames


def logout(api, session: Session) -> None:
    assert api.request("post", "/api/v1/auth/logout", session).status_code == 204
    assert api.request("get", "/api/v1/auth/me", session).status_code == 401


def change_password(api, session: Session, new_password: str = "another-horse-2") -> None:
    response = api.request("post", "/api/v1/auth/password", session,
                           json={"current_password": PASSWORD, "new_password": new_password})
    assert response.status_code == 204, response.get_json()


def claims_of(session: Session) -> dict:
    return pyjwt.decode(session.access_token, options={"verify_signature": False})


def signed_token(app, user_id: str, claims: dict) -> str:
    """An access token signed with the app's own key: what a leaked key, or a token forged from
    pieces of valid ones, would give."""
    with app.app_context():
        return create_access_token(identity=user_id, additional_claims=claims)


# --- a frame after revocation is not acted upon ------------------------------------------------

def test_after_logout_a_message_frame_is_not_acted_upon_and_the_socket_closes_4401(
        api, ws_base, mock_provider):
    first = api.register()
    second = second_session(api, first)
    talk_id = new_talk(api, first)
    ws1, ws2 = talk_socket(ws_base, talk_id, first), talk_socket(ws_base, talk_id, second)
    try:
        logout(api, first)
        send_frame(ws1, {"type": "message", "content": "spend my budget"})
        assert close_code(ws1) == 4401
        assert mock_provider.requests == []

        ws2.send(json.dumps({"type": "message", "content": "the other session still works"}))
        assert receive_until(ws2, "done")[-1]["type"] == "done"
        assert len(mock_provider.requests) == 1
    finally:
        ws1.close()
        ws2.close()


def test_after_logout_all_from_another_session_no_socket_of_the_user_acts(
        api, ws_base, mock_provider):
    first = api.register()
    second = second_session(api, first)
    talk_id = new_talk(api, first)
    ws1, ws2 = talk_socket(ws_base, talk_id, first), talk_socket(ws_base, talk_id, second)
    try:
        assert api.request("post", "/api/v1/auth/logout-all", second).status_code == 204
        send_frame(ws1, {"type": "message", "content": "still here?"})
        assert close_code(ws1) == 4401
        assert close_code(ws2) == 4401
        assert mock_provider.requests == []
    finally:
        ws1.close()
        ws2.close()


def test_after_a_password_change_elsewhere_the_old_sessions_socket_closes_and_this_one_works(
        api, ws_base, mock_provider):
    first = api.register()
    second = second_session(api, first)
    talk_id = new_talk(api, first)
    ws1, ws2 = talk_socket(ws_base, talk_id, first), talk_socket(ws_base, talk_id, second)
    try:
        change_password(api, second)
        send_frame(ws1, {"type": "message", "content": "an attacker's session"})
        assert close_code(ws1) == 4401
        assert mock_provider.requests == []

        ws2.send(json.dumps({"type": "message", "content": "the changer's session"}))
        assert receive_until(ws2, "done")[-1]["type"] == "done"
    finally:
        ws1.close()
        ws2.close()


def test_a_stop_or_resume_frame_after_logout_is_not_acted_upon(api, ws_base, mock_provider):
    mock_provider.behave(None, reply=SLOW_REPLY, token_delay=TOKEN_DELAY_S)
    first = api.register()
    second = second_session(api, first)
    talk_id = new_talk(api, first)
    ws2 = talk_socket(ws_base, talk_id, second)
    ws1 = talk_socket(ws_base, talk_id, first)
    try:
        ws2.send(json.dumps({"type": "message", "content": "a long one"}))
        start = receive_until(ws2, "start")[-1]
        logout(api, first)
        send_frame(ws1, {"type": "stop"})
        assert close_code(ws1) == 4401
        frames = receive_until(ws2, "done")  # the reply was not stopped by the ended session
        assert frames[-1]["message"]["status"] == "complete"
        assert frames[-1]["message"]["id"] == start["message_id"]
    finally:
        ws1.close()
        ws2.close()


# --- the user's event feed ---------------------------------------------------------------------

def test_the_user_feed_stops_receiving_events_after_logout(api, ws_base):
    first = api.register()
    second = second_session(api, first)
    feed1 = connect(ws_base, "/api/v1/ws/user", first.access_token)
    feed2 = connect(ws_base, "/api/v1/ws/user", second.access_token)
    try:
        new_talk(api, second)
        for feed in (feed1, feed2):
            assert json.loads(feed.recv())["type"] == "talk.created"

        logout(api, first)
        secret = api.request("post", "/api/v1/talks", second,
                             json={"name": "Surprise party for Ann"}).get_json()
        frames, code = frames_until_close(feed1)
        assert code == 4401
        assert frames == []  # nothing after the logout, the private talk name least of all
        event = json.loads(feed2.recv())
        assert event["type"] == "talk.created" and event["talk"]["id"] == secret["id"]
    finally:
        feed1.close()
        feed2.close()


# --- claims are not authority ------------------------------------------------------------------

def test_a_token_naming_another_users_session_is_refused(app, api, ws_base):
    alice, bob = api.register(), api.register()
    forged = signed_token(app, bob.id, {"sid": claims_of(alice)["sid"], "role": "user"})
    response = api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_revoked"
    ws = connect(ws_base, "/api/v1/ws/user", forged)
    try:
        assert close_code(ws) == 4401
    finally:
        ws.close()
    # the genuine tokens of both still work
    assert api.request("get", "/api/v1/auth/me", alice).get_json()["id"] == alice.id
    assert api.request("get", "/api/v1/auth/me", bob).get_json()["id"] == bob.id


def test_a_role_claimed_by_a_token_counts_for_nothing(app, api, db):
    plain, other = api.register(), api.register()
    other_workspace = api.personal_workspace(other)
    claimed = signed_token(app, plain.id, {"sid": claims_of(plain)["sid"], "role": "analyst"})
    headers = {"Authorization": f"Bearer {claimed}"}

    assert api.client.get("/api/v1/auth/me", headers=headers).get_json()["role"] == "user"
    usage = api.client.get(f"/api/v1/analytics/usage?workspace_id={other_workspace}",
                           headers=headers)
    assert usage.status_code == 404
    every = api.client.get("/api/v1/analytics/usage", headers=headers)
    assert every.status_code == 200 and every.get_json()["workspace_id"] is not None  # own only
    as_admin = signed_token(app, plain.id, {"sid": claims_of(plain)["sid"], "role": "admin"})
    admin = api.client.get("/api/v1/admin/users", headers={"Authorization": f"Bearer {as_admin}"})
    assert admin.status_code == 403


def test_a_real_analyst_reads_any_workspace_and_loses_it_with_the_role(app, api, db):
    admin = make_admin(api, db)
    analyst, other = api.register(), api.register()
    promoted = api.request("patch", f"/api/v1/admin/users/{analyst.id}", admin,
                           json={"role": "analyst"})
    assert promoted.status_code == 200
    analyst = api.login(analyst.user["email"], PASSWORD)  # the role change ended the sessions
    path = f"/api/v1/analytics/usage?workspace_id={api.personal_workspace(other)}"
    assert api.request("get", path, analyst).status_code == 200
    api.request("patch", f"/api/v1/admin/users/{analyst.id}", admin, json={"role": "user"})
    assert api.request("get", path, analyst).status_code == 401  # its session ended
    analyst = api.login(analyst.user["email"], PASSWORD)
    assert api.request("get", path, analyst).status_code == 404


# --- every channel against every revocation: closed within a few seconds -------------------------

@dataclass
class Scene:
    """Alice, a member of Bob's workspace `team`, signed in twice; her channel uses `first`."""

    api: object
    app: object
    base: str
    owner: Session
    admin: Session
    first: Session
    second: Session
    team: str
    talk_id: str


@pytest.fixture(scope="module")
def admin(api_module, db):
    return make_admin(api_module, db)


@pytest.fixture(scope="module")
def api_module(app):
    return ApiClient(app.test_client())


@pytest.fixture
def scene(app, api, admin, base) -> Scene:
    owner, first = api.register(), api.register()
    team = api.request("post", "/api/v1/workspaces", owner, json={"name": "Team"}).get_json()["id"]
    add_member(api, owner, team, first, "member")
    second = second_session(api, first)
    return Scene(api, app, base, owner, admin, first, second, team, new_talk(api, first, team))


def reset_password(scene: Scene) -> None:
    api, email = scene.api, scene.first.user["email"]
    assert api.client.post("/api/v1/auth/password-reset", json={"email": email}).status_code == 202
    token = outbox_token(scene.app.extensions["synapscale"].db, email, "Reset")
    confirmed = api.client.post("/api/v1/auth/password-reset/confirm",
                                json={"token": token, "new_password": "reset-horse-3"})
    assert confirmed.status_code == 204


def admin_sets(scene: Scene, **changes) -> None:
    response = scene.api.request("patch", f"/api/v1/admin/users/{scene.first.id}", scene.admin,
                                 json=changes)
    assert response.status_code == 200, response.get_json()


def expect(status: int, response) -> None:
    assert response.status_code == status, response.get_json()


EVENTS: dict[str, Callable[[Scene], None]] = {
    "logout": lambda s: logout(s.api, s.first),
    "logout-all (other session)": lambda s: expect(204, s.api.request(
        "post", "/api/v1/auth/logout-all", s.second)),
    "password change (other session)": lambda s: change_password(s.api, s.second),
    "password reset": reset_password,
    "deactivation": lambda s: admin_sets(s, is_active=False),
    "role change": lambda s: admin_sets(s, role="analyst"),
    "removed from workspace": lambda s: expect(204, s.api.request(
        "delete", f"/api/v1/workspaces/{s.team}/members/{s.first.id}", s.owner)),
}


class Channel:
    """One open channel of `scene.first`; `ended()` waits for its end and says how."""

    def __init__(self, scene: Scene):
        self.scene = scene

    def open(self) -> None: ...

    def ended(self) -> str: ...

    def close(self) -> None: ...


class Socket(Channel):
    path = ""

    def open(self):
        self.ws = connect(self.scene.base.replace("http://", "ws://"), self.path_for(),
                          self.scene.first.access_token)
        self.opened()

    def path_for(self) -> str:
        return self.path

    def opened(self) -> None:
        pass

    def ended(self) -> str:
        return f"close {close_code(self.ws, timeout_s=15)}"

    def close(self):
        self.ws.close()


class TalkSocket(Socket):
    name = "WS /ws/talks/{id}"

    def path_for(self):
        return f"/api/v1/ws/talks/{self.scene.talk_id}"


class UserFeed(Socket):
    name = "WS /ws/user"
    path = "/api/v1/ws/user"


class ExecutionSocket(Socket):
    name = "WS /ws/executions/{id}"

    def path_for(self):
        scene = self.scene
        workflow = create_workflow(scene.api, scene.first, greeting_workflow(), scene.team)
        queued = execute(scene.api, scene.first, workflow["id"], {"name": "Ann"}, wait=False)
        assert queued.status_code == 202
        return f"/api/v1/ws/executions/{queued.get_json()['id']}"

    def opened(self):
        assert json.loads(self.ws.recv())["type"] == "snapshot"


class Stream(Channel):
    """An SSE response read on a thread from its first delta on."""

    def open(self):
        self.response = self.request()
        assert self.response.status_code == 200, self.response.text
        self.lines = self.response.iter_lines(decode_unicode=True)
        self.events = iter_sse(self.lines)
        for name, _data in self.events:
            if name == "delta":
                break

    def ended(self) -> str:
        last = None
        for name, data in self.events:
            last = (name, data)
        assert last is not None
        return f"{last[0]} {last[1].get('code')}"

    def close(self):
        self.response.close()

    def headers(self) -> dict:
        return {**self.scene.first.headers, "Accept": "text/event-stream"}


class TalkSendStream(Stream):
    name = "SSE POST /talks/{id}/messages"

    def request(self):
        return requests.post(f"{self.scene.base}/api/v1/talks/{self.scene.talk_id}/messages",
                             json={"content": "tell me a long story", "stream": True},
                             headers=self.headers(), stream=True, timeout=20)


class TalkResumeStream(Stream):
    name = "SSE GET /talks/{id}/messages/{mid}/stream"

    def request(self):
        scene = self.scene
        ws = connect(scene.base.replace("http://", "ws://"), f"/api/v1/ws/talks/{scene.talk_id}",
                     scene.second.access_token)
        try:  # the reply is started by another session's socket, then followed here
            ws.send(json.dumps({"type": "message", "content": "a long story, please"}))
            message_id = receive_until(ws, "start")[-1]["message_id"]
        finally:
            ws.close()
        return requests.get(
            f"{scene.base}/api/v1/talks/{scene.talk_id}/messages/{message_id}/stream",
            headers=self.headers(), stream=True, timeout=20)


class LlmStream(Stream):
    name = "SSE POST /llm/chat"

    def request(self):
        return requests.post(f"{self.scene.base}/api/v1/llm/chat", json={
            "workspace_id": self.scene.team, "stream": True,
            "messages": [{"role": "user", "content": "a long answer"}]},
            headers=self.headers(), stream=True, timeout=20)


CHANNELS = [TalkSocket, UserFeed, ExecutionSocket, TalkSendStream, TalkResumeStream, LlmStream]
# the user's own feed is not scoped to a workspace: leaving one does not concern it
CASES = [(channel, event) for channel in CHANNELS for event in EVENTS
         if not (channel is UserFeed and event == "removed from workspace")]


@pytest.mark.parametrize("channel_type, event", CASES,
                         ids=[f"{channel.name} x {event}" for channel, event in CASES])
def test_every_channel_ends_within_seconds_of_every_revocation(scene, channel_type, event,
                                                               mock_provider):
    mock_provider.behave(None, reply=SLOW_REPLY, token_delay=TOKEN_DELAY_S)
    channel = channel_type(scene)
    channel.open()
    try:
        ended: dict = {}
        waiter = threading.Thread(target=lambda: ended.update(how=channel.ended(),
                                                              at=time.monotonic()))
        waiter.start()
        started = time.monotonic()
        EVENTS[event](scene)
        waiter.join(timeout=20)
        assert "how" in ended, "the channel is still open"
        seconds = ended["at"] - started  # from the revoking request's start
        print(f"\nREVOCATION {channel_type.name} | {event} | {seconds:.2f}")
        expected = "close 4401" if isinstance(channel, Socket) else "error token_revoked"
        assert ended["how"] == expected
        assert seconds < CLOSE_WITHIN_S
    finally:
        channel.close()


# --- across gunicorn workers -------------------------------------------------------------------

@pytest.fixture(scope="module")
def gunicorn_server(tmp_path_factory, mongo_uri, mock_provider_server):
    """Two workers for the module's cross-worker tests (each test uses its own users)."""
    database = f"test_{uuid.uuid4().hex[:12]}"
    server = start_gunicorn(tmp_path_factory.mktemp("gunicorn"), {
        "MONGODB_URI": mongo_uri, "MONGODB_DATABASE": database, "RATELIMIT_ENABLED": "false",
        "BCRYPT_ROUNDS": "4", "MODELS_CONFIG": str(mock_catalogue_path())})
    yield server
    stop(server.process)
    pymongo.MongoClient(mongo_uri).drop_database(database)


def sockets_on_every_worker(server, path: str, token: str) -> dict[int, websocket.WebSocket]:
    """One socket per worker, each opened while only that worker accepts."""
    held: dict[int, websocket.WebSocket] = {}
    for worker in server.worker_pids():
        with server.accepting_only(worker):
            ws = websocket.create_connection(
                f"ws://127.0.0.1:{server.port}{path}?token={token}", timeout=15)
        held[worker] = ws
        assert server.holder_of(ws.sock.getsockname()[1]) == worker
    return held


def served_by(server, request_id: str) -> int:
    deadline = time.monotonic() + 5
    while (pid := server.served_by(request_id)) is None:
        assert time.monotonic() < deadline, "request missing from gunicorn's access log"
        time.sleep(0.05)
    return pid


def http_session(base: str) -> tuple[dict, dict]:
    """A new account signed in twice: two token sets."""
    email = f"rev-{uuid.uuid4().hex[:10]}@example.com"
    registered = requests.post(f"{base}/api/v1/auth/register", timeout=10, json={
        "email": email, "password": PASSWORD, "name": "Multi Worker"})
    assert registered.status_code == 201, registered.text
    again = requests.post(f"{base}/api/v1/auth/login", timeout=10,
                          json={"email": email, "password": PASSWORD})
    assert again.status_code == 200, again.text
    return registered.json(), again.json()


def closes(sockets: dict[str, websocket.WebSocket]) -> dict[str, tuple[int, float]]:
    """Waits for every socket's close frame at once: {name: (code, monotonic time)}."""
    ended: dict[str, tuple[int, float]] = {}

    def wait(name: str, ws) -> None:
        code = close_code(ws, timeout_s=15)
        ended[name] = (code, time.monotonic())

    threads = [threading.Thread(target=wait, args=item) for item in sockets.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    return ended


def revoke_on_some_worker(server, event: str, first: dict, second: dict) -> int:
    """`event` for the session `first`, made through whichever worker takes the request; that
    worker's pid. The other events come from the user's other session (`second`)."""
    request_id = new_request_id()
    path, token, body = {
        "logout": ("/api/v1/auth/logout", first, None),
        "logout-all (other session)": ("/api/v1/auth/logout-all", second, None),
        "password change (other session)": ("/api/v1/auth/password", second, {
            "current_password": PASSWORD, "new_password": "another-horse-2"}),
    }[event]
    response = requests.post(f"{server.base}{path}", timeout=10, json=body, headers={
        "Authorization": f"Bearer {token['access_token']}", "X-Request-ID": request_id})
    assert response.status_code == 204, response.text
    return served_by(server, request_id)


@pytest.mark.slow
@pytest.mark.parametrize("event", ["logout", "logout-all (other session)",
                                   "password change (other session)"])
def test_a_revocation_served_by_one_worker_closes_the_sockets_held_by_the_other(
        gunicorn_server, mock_provider, event):
    server = gunicorn_server
    assert len(server.worker_pids()) == 2
    first, second = http_session(server.base)
    talk = requests.post(f"{server.base}/api/v1/talks", timeout=10, json={"name": "Plans"},
                         headers={"Authorization": f"Bearer {first['access_token']}"}).json()
    talks_path = f"/api/v1/ws/talks/{talk['id']}"

    # idle sockets: only the announcement through the event bus can close them
    talk_sockets = sockets_on_every_worker(server, talks_path, first["access_token"])
    feeds = sockets_on_every_worker(server, "/api/v1/ws/user", first["access_token"])
    try:
        started = time.monotonic()
        served = revoke_on_some_worker(server, event, first, second)
        (elsewhere,) = server.worker_pids() - {served}
        ended = closes({"talk socket, other worker": talk_sockets[elsewhere],
                        "user feed, other worker": feeds[elsewhere],
                        "talk socket, same worker": talk_sockets[served],
                        "user feed, same worker": feeds[served]})
        for name, (code, at) in sorted(ended.items()):
            print(f"\nREVOCATION {name} | {event} | {at - started:.2f}")
        assert len(ended) == 4, f"still open: {set(talk_sockets) - set(ended)}"
        for code, at in ended.values():
            assert code == 4401 and at - started < CLOSE_WITHIN_S
    finally:
        for ws in [*talk_sockets.values(), *feeds.values()]:
            ws.close()


@pytest.mark.slow
def test_a_frame_sent_right_after_a_logout_on_the_other_worker_is_not_acted_upon(
        gunicorn_server, mock_provider):
    server = gunicorn_server
    first, second = http_session(server.base)
    talk = requests.post(f"{server.base}/api/v1/talks", timeout=10, json={"name": "Plans"},
                         headers={"Authorization": f"Bearer {first['access_token']}"}).json()
    path = f"/api/v1/ws/talks/{talk['id']}"
    sockets = sockets_on_every_worker(server, path, first["access_token"])
    others = sockets_on_every_worker(server, path, second["access_token"])
    try:
        served = revoke_on_some_worker(server, "logout", first, second)
        (elsewhere,) = server.worker_pids() - {served}
        send_frame(sockets[elsewhere], {"type": "message", "content": "before the news arrives"})
        assert close_code(sockets[elsewhere]) == 4401
        assert mock_provider.requests == []
        # the user's other session keeps its sockets on both workers
        for ws in others.values():
            ws.send(json.dumps({"type": "message", "content": "still signed in"}))
            assert receive_until(ws, "done")[-1]["type"] == "done"
        assert len(mock_provider.requests) == 2
    finally:
        for ws in [*sockets.values(), *others.values()]:
            ws.close()
