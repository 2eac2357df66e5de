"""One user's world: a resource of every type, so quality tests can aim at real ids.

`seed_world(api, session)` creates, in the user's personal workspace, a talk with a message
exchange, a file, a workflow with a finished execution, an API key, a webhook, a provider key and
a published template, and returns their ids keyed by the path-parameter names of the API
(`talk_id`, `message_id`, `file_id`...), the names the OpenAPI spec uses.
"""
from __future__ import annotations

import io
from urllib.parse import urlsplit

from tests.support.workflows import create_workflow, greeting_workflow

WEBHOOK_HOST = "127.0.0.1"  # allow-listed in the quality settings; nothing listens on port 9
WEBHOOK_URL = f"http://{WEBHOOK_HOST}:9/synapscale"
# The world's webhook points at an allow-listed loopback port where nothing listens.
QUALITY_SETTINGS = {"outbound_allowlist": (WEBHOOK_HOST,)}
PROVIDER = "openai"
PROVIDER_SECRET = "sk-provider-secret-value-0123456789abcdef"


def _created(response) -> dict:
    assert response.status_code in (200, 201), (response.status_code, response.get_json())
    return response.get_json()


def seed_world(api, session) -> dict[str, str]:
    client = api.client
    headers = session.headers
    workspace_id = api.personal_workspace(session)
    base = f"/api/v1/workspaces/{workspace_id}"
    talk = _created(client.post("/api/v1/talks", headers=headers,
                                json={"workspace_id": workspace_id, "name": "Plans"}))
    exchange = _created(client.post(f"/api/v1/talks/{talk['id']}/messages", headers=headers,
                                    json={"content": "hello world"}))
    file = _created(client.post("/api/v1/files/upload", headers=headers,
                                content_type="multipart/form-data",
                                data={"workspace_id": workspace_id,
                                      "file": (io.BytesIO(b"secret plans\n"), "plans.txt")}))
    link = _created(client.get(f"/api/v1/files/{file['id']}/download", headers=headers))
    workflow = create_workflow(api, session, greeting_workflow(), workspace_id)
    execution = _created(client.post(f"/api/v1/workflows/{workflow['id']}/execute",
                                     headers=headers, json={"inputs": {"name": "Ada"},
                                                            "wait": True}))
    api_key = _created(client.post(f"{base}/api-keys", headers=headers, json={"name": "ci"}))
    webhook = _created(client.post(f"{base}/webhooks", headers=headers,
                                   json={"url": WEBHOOK_URL, "events": ["talk.created"]}))
    _created(client.put(f"{base}/providers/{PROVIDER}", headers=headers,
                        json={"api_key": PROVIDER_SECRET}))
    template = _created(client.post(f"/api/v1/workflows/{workflow['id']}/publish",
                                    headers=headers, json={"title": "Greeter", "tags": ["hi"],
                                                           "description": "Says hi"}))
    sessions = _created(client.get("/api/v1/auth/sessions", headers=headers))
    return {
        "workspace_id": workspace_id,
        "talk_id": talk["id"],
        "message_id": exchange["assistant_message"]["id"],
        "user_message_id": exchange["user_message"]["id"],
        "file_id": file["id"],
        "token": urlsplit(link["url"]).path.rsplit("/", 1)[-1],
        "workflow_id": workflow["id"],
        "execution_id": execution["id"],
        "key_id": api_key["id"],
        "api_key": api_key["key"],
        "webhook_id": webhook["id"],
        "webhook_secret": webhook["secret"],
        "provider": PROVIDER,
        "template_id": template["id"],
        "session_id": (sessions["items"] if isinstance(sessions, dict) else sessions)[0]["id"],
        "user_id": session.id,
    }
