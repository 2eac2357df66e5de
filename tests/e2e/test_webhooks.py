"""Webhooks against a local receiver: signed deliveries, retries with backoff, address rules."""
import hashlib
import hmac
import itertools
import json
import time

import pytest

from app import create_app, shutdown
from entities.webhook import Webhook
from tests.support.webhook_receiver import WebhookReceiver

BACKOFF_BASE_S = 0.2
MAX_ATTEMPTS = 5


@pytest.fixture
def settings_overrides():
    return {"outbound_allowlist": ("127.0.0.1",), "webhook_backoff_base_s": BACKOFF_BASE_S,
            "webhook_backoff_max_s": 1.0, "webhook_max_attempts": MAX_ATTEMPTS,
            "webhook_poll_interval_s": 0.05, "webhook_max_per_workspace": 3}


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.fixture
def owner(api):
    return api.register()


@pytest.fixture
def workspace(api, owner):
    return api.personal_workspace(owner)


def register_webhook(api, owner, workspace, url, events=("member.added",)):
    return api.request("POST", f"/api/v1/workspaces/{workspace}/webhooks", owner,
                       json={"url": url, "events": list(events)})


def add_member(api, owner, workspace):
    newcomer = api.register()
    response = api.request("POST", f"/api/v1/workspaces/{workspace}/members", owner,
                           json={"email": newcomer.user["email"], "role": "member"})
    assert response.status_code == 201, response.get_json()
    return newcomer


def deliveries(api, owner, workspace, webhook_id):
    response = api.request("GET", f"/api/v1/workspaces/{workspace}/webhooks/{webhook_id}/deliveries",
                           owner)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def wait_for_delivery_status(api, owner, workspace, webhook_id, status, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        items = deliveries(api, owner, workspace, webhook_id)
        if items and items[0]["status"] == status:
            return items[0]
        time.sleep(0.05)
    raise AssertionError(f"delivery never became {status}: {items}")


def test_a_receiver_gets_a_signed_delivery_of_an_event_it_subscribed_to(api, owner, workspace,
                                                                         receiver):
    created = register_webhook(api, owner, workspace, receiver.url)
    assert created.status_code == 201, created.get_json()
    webhook = created.get_json()
    secret = webhook["secret"]
    assert secret.startswith("whsec_")

    newcomer = add_member(api, owner, workspace)
    [request] = receiver.wait_for(1)

    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-SynapScale-Signature"], expected)
    assert request.headers["X-SynapScale-Event"] == "member.added"
    body = json.loads(request.body)
    assert set(body) == {"id", "event", "workspace_id", "created_at", "data"}
    assert body["event"] == "member.added"
    assert body["workspace_id"] == workspace
    assert body["data"]["user_id"] == newcomer.id
    assert body["created_at"].endswith("Z")
    delivered = wait_for_delivery_status(api, owner, workspace, webhook["id"], "delivered")
    assert request.headers["X-SynapScale-Delivery"] == delivered["id"]
    assert delivered["status_code"] == 200
    assert delivered["attempts"] == 1


def test_the_secret_is_shown_once_and_never_listed(api, owner, workspace, receiver):
    register_webhook(api, owner, workspace, receiver.url)
    listed = api.request("GET", f"/api/v1/workspaces/{workspace}/webhooks", owner).get_json()
    assert len(listed) == 1
    assert "secret" not in listed[0] and "encrypted_secret" not in listed[0]
    assert listed[0]["url"] == receiver.url and listed[0]["events"] == ["member.added"]


def test_a_failing_receiver_is_retried_with_growing_delays_until_it_answers(api, owner, workspace,
                                                                           receiver):
    receiver.statuses = [500, 503, 500]
    webhook = register_webhook(api, owner, workspace, receiver.url).get_json()
    add_member(api, owner, workspace)

    attempts = receiver.wait_for(4)
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(attempts)]
    # each retry waits at least twice as long as the one before (a busy machine only adds)
    assert [gap >= BACKOFF_BASE_S * 2**i * 0.95 for i, gap in enumerate(gaps)] == [True] * 3, gaps
    assert len({a.headers["X-SynapScale-Delivery"] for a in attempts}) == 1
    assert len({a.body for a in attempts}) == 1  # every retry sends and signs the same bytes
    delivered = wait_for_delivery_status(api, owner, workspace, webhook["id"], "delivered")
    assert delivered["attempts"] == 4


def test_a_receiver_that_keeps_failing_is_given_up_after_the_last_attempt(api, owner, workspace,
                                                                         receiver):
    receiver.statuses = [500] * 10
    webhook = register_webhook(api, owner, workspace, receiver.url).get_json()
    add_member(api, owner, workspace)

    failed = wait_for_delivery_status(api, owner, workspace, webhook["id"], "failed", timeout_s=20)
    assert failed["attempts"] == MAX_ATTEMPTS
    assert failed["status_code"] == 500 and failed["error"] == "HTTP 500"
    time.sleep(BACKOFF_BASE_S * 2)
    assert len(receiver.received) == MAX_ATTEMPTS


@pytest.mark.parametrize("url", ["http://10.0.0.7/hook", "http://192.168.1.20:8080/hook",
                                 "http://169.254.169.254/latest/meta-data", "http://[fd00::1]/hook",
                                 "ftp://example.com/hook"])
def test_a_receiver_on_a_private_address_is_refused_at_registration(api, owner, workspace, url):
    response = register_webhook(api, owner, workspace, url)
    assert response.status_code == 422, response.get_json()
    assert "url" in response.get_json()["error"]["details"]


def test_a_receiver_whose_host_does_not_resolve_is_a_clear_422_at_registration(api, owner,
                                                                               workspace):
    """Issue 16 #9: it was 502 upstream_error. `.invalid` never resolves (RFC 2606)."""
    response = register_webhook(api, owner, workspace, "https://hooks.no-such-host.invalid/hook")
    assert response.status_code == 422, response.get_json()
    [message] = response.get_json()["error"]["details"]["url"]
    assert "hooks.no-such-host.invalid does not resolve" in message


def test_a_receiver_on_a_private_address_is_refused_at_delivery(app, api, owner, workspace):
    """A webhook stored while an allow-list permitted its address is refused once it no longer does."""
    container = app.extensions["synapscale"]
    webhook = container.webhook_repo.add(Webhook(
        id="", workspace_id=workspace, url="http://10.20.30.40/hook", events=["member.added"],
        encrypted_secret=container.webhooks.encryptor.encrypt("whsec_test"), created_by=owner.id))
    add_member(api, owner, workspace)

    failed = wait_for_delivery_status(api, owner, workspace, webhook.id, "failed")
    assert failed["attempts"] == 1
    assert failed["error"].startswith("Refused") and failed["status_code"] is None


def test_only_events_the_webhook_chose_are_delivered(app, api, owner, workspace, receiver):
    register_webhook(api, owner, workspace, receiver.url, events=["file.uploaded"])
    add_member(api, owner, workspace)
    app.extensions["synapscale"].events.publish(f"workspace:{workspace}",
                                                {"type": "file.uploaded", "file_id": "f1"})
    [request] = receiver.wait_for(1)
    assert json.loads(request.body)["data"] == {"file_id": "f1"}
    time.sleep(0.3)
    assert len(receiver.received) == 1


def test_unknown_event_names_are_a_validation_error(api, owner, workspace, receiver):
    response = register_webhook(api, owner, workspace, receiver.url, events=["talk.exploded"])
    assert response.status_code == 422
    assert "events" in response.get_json()["error"]["details"]


def test_a_workspace_has_at_most_its_cap_of_webhooks(api, owner, workspace, receiver):
    for _ in range(3):
        assert register_webhook(api, owner, workspace, receiver.url).status_code == 201
    response = register_webhook(api, owner, workspace, receiver.url)
    assert response.status_code == 409


def test_members_cannot_manage_webhooks_and_strangers_cannot_see_them(api, owner, workspace,
                                                                      receiver):
    webhook = register_webhook(api, owner, workspace, receiver.url).get_json()
    member = add_member(api, owner, workspace)
    stranger = api.register()
    base = f"/api/v1/workspaces/{workspace}/webhooks"
    assert api.request("GET", base, member).status_code == 403
    assert register_webhook(api, member, workspace, receiver.url).status_code == 403
    assert api.request("DELETE", f"{base}/{webhook['id']}", member).status_code == 403
    assert api.request("GET", base, stranger).status_code == 404
    assert api.request("GET", f"{base}/{webhook['id']}/deliveries", stranger).status_code == 404


def test_a_deleted_webhook_receives_nothing_more(api, owner, workspace, receiver):
    webhook = register_webhook(api, owner, workspace, receiver.url).get_json()
    base = f"/api/v1/workspaces/{workspace}/webhooks"
    assert api.request("DELETE", f"{base}/{webhook['id']}", owner).status_code == 204
    assert api.request("DELETE", f"{base}/{webhook['id']}", owner).status_code == 404
    add_member(api, owner, workspace)
    time.sleep(0.5)
    assert receiver.received == []
    assert api.request("GET", f"{base}/{webhook['id']}/deliveries", owner).status_code == 404


def test_a_pending_delivery_survives_a_restart(app, settings, api, owner, workspace, receiver):
    webhook = register_webhook(api, owner, workspace, receiver.url).get_json()
    app.extensions["synapscale"].webhook_dispatcher.close()  # the process "dies" before sending
    add_member(api, owner, workspace)
    time.sleep(0.3)
    assert receiver.received == []
    assert deliveries(api, owner, workspace, webhook["id"])[0]["status"] == "pending"

    restarted = create_app(settings)
    try:
        [request] = receiver.wait_for(1)
        assert json.loads(request.body)["event"] == "member.added"
    finally:
        shutdown(restarted.extensions["synapscale"])
