"""The /v1 hot path waits on no database command before the provider is called once its key is
verified (cached), and afterwards only on making the call's usage and spend durable; its rate
limit still shares one MongoDB-kept budget with the other model routes and other workers."""
from __future__ import annotations

import threading
import time

import pytest
from limits import parse
from limits.storage import MemoryStorage
from pymongo import monitoring

from app import create_app, shutdown
from controllers.deferred_limits import DeferredCounter
from tests.support.gateway import assert_openai_error, bearer, completion, create_key


class RequestThreadCommands(monitoring.CommandListener):
    """MongoDB commands sent from the thread that handles test-client requests (this one);
    background threads (usage batches, rate-limit sync) are not counted."""

    def __init__(self):
        self.thread = threading.get_ident()
        self.names: list[str] = []

    def started(self, event):
        if threading.get_ident() == self.thread:
            self.names.append(f"{event.command_name} {event.command.get(event.command_name)}")

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.fixture
def commands():
    return RequestThreadCommands()


@pytest.fixture
def counted_app(settings, commands):
    application = create_app(settings, mongo_listeners=[commands])
    yield application
    container = application.extensions["synapscale"]
    shutdown(container)
    container.client.drop_database(settings.mongodb_database)


def sync_limits(*apps):
    for application in apps:
        application.extensions["synapscale.deferred_limits"].sync()


@pytest.mark.parametrize("settings_overrides", [{"api_key_cache_ttl_s": 60,
                                                 "budget_cache_ttl_s": 60}])
def test_a_call_with_a_verified_key_waits_only_on_its_usage_and_spend(counted_app, commands,
                                                                     mock_provider):
    client = counted_app.test_client()
    owner = client.post("/api/v1/auth/register", json={
        "email": "hot@example.com", "password": "correct-horse-1", "name": "Hot"}).get_json()
    headers = {"Authorization": f"Bearer {owner['access_token']}"}
    workspace = client.get("/api/v1/workspaces", headers=headers).get_json()["items"][0]["id"]
    key = client.post(f"/api/v1/workspaces/{workspace}/api-keys", headers=headers,
                      json={"name": "hot"}).get_json()["key"]
    for _ in range(2):  # verifies the key, reads budgets and provider keys: cached
        assert completion(client, bearer(key)).status_code == 200
    commands.names.clear()
    for stream in (False, True, False):
        response = completion(client, bearer(key), stream=stream)
        assert response.status_code == 200
        response.get_data()
    # the request thread sends nothing itself; the usage record and the spend settlement are
    # written by the group-commit threads, and each response waited for them
    assert commands.names == []
    assert counted_app.extensions["synapscale"].db.usage.count_documents({}) == 5


@pytest.mark.parametrize("settings_overrides", [{"api_key_cache_ttl_s": 60,
                                                 "budget_cache_ttl_s": 60}])
def test_under_a_budget_a_call_sends_no_command_itself(counted_app, commands, mock_provider):
    """A budgeted call's hold and settlement go through the shared writers (concurrent calls'
    holds on one budget become one update), the alert thresholds through a cache."""
    client = counted_app.test_client()
    owner = client.post("/api/v1/auth/register", json={
        "email": "budgeted@example.com", "password": "correct-horse-1", "name": "B"}).get_json()
    headers = {"Authorization": f"Bearer {owner['access_token']}"}
    workspace = client.get("/api/v1/workspaces", headers=headers).get_json()["items"][0]["id"]
    assert client.patch(f"/api/v1/workspaces/{workspace}", headers=headers, json={
        "settings": {"monthly_budget_usd": 100}}).status_code == 200
    key = client.post(f"/api/v1/workspaces/{workspace}/api-keys", headers=headers,
                      json={"name": "hot"}).get_json()["key"]
    for _ in range(2):
        assert completion(client, bearer(key)).status_code == 200
    commands.names.clear()
    for stream in (False, True):
        response = completion(client, bearer(key), stream=stream)
        assert response.status_code == 200
        response.get_data()
    assert commands.names == []
    budgets = client.get(f"/api/v1/budgets?workspace_id={workspace}", headers=headers).get_json()
    assert budgets[0]["spent_usd"] > 0 and budgets[0]["reserved_usd"] == 0


@pytest.mark.parametrize("settings_overrides", [{"ratelimit_llm": "3 per minute"}])
def test_v1_calls_share_the_model_call_budget_with_the_other_model_routes(app, api, client,
                                                                         mock_provider):
    owner = api.register()
    for _ in range(2):
        assert completion(client, owner.headers).status_code == 200
    sync_limits(app)
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    assert api.request("post", "/api/v1/llm/chat", owner, json=chat).status_code == 200
    assert api.request("post", "/api/v1/llm/chat", owner, json=chat).status_code == 429
    time.sleep(1.05)  # a key idle here is read back once a second
    sync_limits(app)
    limited = completion(client, owner.headers)
    assert_openai_error(limited, 429, "rate_limited")
    assert limited.headers["X-RateLimit-Remaining"] == "0"


@pytest.mark.parametrize("settings_overrides", [{"ratelimit_llm": "4 per minute"}])
def test_a_key_limit_holds_across_workers(app, settings, api, client, mock_provider):
    owner = api.register()
    key = create_key(api, owner, api.personal_workspace(owner))
    other_worker = create_app(settings)
    try:
        other = other_worker.test_client()
        for worker in (client, other, client, other):
            assert completion(worker, bearer(key["key"])).status_code == 200
        sync_limits(app, other_worker)
        time.sleep(1.05)  # keys idle in a worker are read back once a second
        sync_limits(app, other_worker)  # each has now read what the other added
        for worker in (client, other):
            assert_openai_error(completion(worker, bearer(key["key"])), 429, "rate_limited")
    finally:
        shutdown(other_worker.extensions["synapscale"])


class FlakyStorage:
    def __init__(self):
        self.inner = MemoryStorage()
        self.down = False

    def __getattr__(self, name):
        if self.down:
            raise ConnectionError("storage down")
        return getattr(self.inner, name)


def test_calls_counted_while_the_shared_storage_is_down_are_sent_later():
    storage = FlakyStorage()
    counter = DeferredCounter(storage, sync_interval_s=3600, refresh_idle_s=0)
    item = parse("5 per minute")
    for _ in range(3):
        assert counter.hit("LIMITER/k", item)[0]
    storage.down = True
    counter.sync()
    storage.down = False
    counter.sync()
    assert storage.inner.get("LIMITER/k") == 3
    storage.inner.incr("LIMITER/k", 60, amount=2)  # another worker's calls
    counter.sync()
    assert counter.hit("LIMITER/k", item) == (False, 0, pytest.approx(time.time() + 60, abs=2))
    counter.close()


class SlowStorage:
    """A shared storage whose additions take a while (a loaded database)."""

    def __init__(self):
        self.inner = MemoryStorage()
        self.adding = threading.Event()
        self.release = threading.Event()

    def incr(self, *args, **kwargs):
        self.adding.set()
        self.release.wait(5)
        return self.inner.incr(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_calls_being_sent_to_the_shared_storage_still_count_against_the_limit():
    """While a sync's addition is in flight, the calls it carries are neither unsent nor in
    the shared total yet: they must still count (a call arriving then passed the limit)."""
    storage = SlowStorage()
    counter = DeferredCounter(storage, sync_interval_s=3600, refresh_idle_s=0)
    item = parse("3 per minute")
    for _ in range(3):
        assert counter.hit("LIMITER/k", item)[0]
    syncing = threading.Thread(target=counter.sync)
    syncing.start()
    assert storage.adding.wait(5)
    assert not counter.hit("LIMITER/k", item)[0]  # 3 of 3 used, 3 of them on their way
    storage.release.set()
    syncing.join(5)
    assert not counter.hit("LIMITER/k", item)[0]
    assert storage.inner.get("LIMITER/k") == 3
    counter.close()
