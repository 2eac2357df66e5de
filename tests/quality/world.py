"""One user's world: a resource of every type, so quality tests can aim at real ids.

`seed_world(api, session)` creates, in the user's personal workspace, a talk with a message
exchange, a file, a workflow with a finished execution, an API key, a webhook, a provider key and
a published template, and returns their ids keyed by the path-parameter names of the API
(`talk_id`, `message_id`, `file_id`...), the names the OpenAPI spec uses.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.support.chat_exports import as_bytes, chatgpt_export
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
    # the fuzzer may have given the workspace a default model or budgets no message can pass
    _created(client.patch(base, headers=headers, json={"settings": {
        "default_model": None, "monthly_budget_usd": None, "member_monthly_budget_usd": None}}))
    _created(client.patch(f"{base}/members/{session.id}", headers=headers,
                          json={"monthly_budget_usd": None}))
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
    share = _created(client.post(f"/api/v1/talks/{talk['id']}/shares", headers=headers, json={}))
    started = client.post("/api/v1/talks/import", headers=headers,
                          content_type="multipart/form-data",
                          data={"file": (io.BytesIO(as_bytes(chatgpt_export(1))),
                                         "conversations.json")})
    assert started.status_code == 202, started.get_json()
    return {
        "import_id": started.get_json()["import_id"],
        "share_id": share["id"],
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


@dataclass(frozen=True)
class Route:
    """One request against one of a world's resources; `{name}` placeholders take world ids."""

    resource: str
    method: str
    path: str
    json: dict | None = None

    def url(self, world: dict[str, str]) -> str:
        return self.path.format(**world)

    def __str__(self) -> str:
        return f"{self.resource}: {self.method} {self.path}"


WS = "/api/v1/workspaces/{workspace_id}"
TALK = "/api/v1/talks/{talk_id}"
FILE = "/api/v1/files/{file_id}"
WORKFLOW = "/api/v1/workflows/{workflow_id}"

# Every route that reads or changes one resource of a world, by resource type.
RESOURCE_ROUTES = [
    Route("talk", "GET", TALK),
    Route("talk", "PATCH", TALK, {"name": "stolen"}),
    Route("talk", "DELETE", TALK),
    Route("talk", "POST", TALK + "/restore"),
    Route("talk", "GET", TALK + "/export?format=json"),
    Route("talk", "POST", TALK + "/stop"),
    Route("talk (ChatAI)", "PUT", "/api/talk", {"talk_id": "{talk_id}", "name": "stolen"}),
    Route("talk (ChatAI)", "DELETE", "/api/talk", {"talk_id": "{talk_id}"}),
    Route("messages", "GET", TALK + "/messages"),
    Route("messages", "POST", TALK + "/messages", {"content": "hi"}),
    Route("messages (ChatAI)", "GET", "/api/messages-by-talk?talk_id={talk_id}"),
    Route("messages (ChatAI)", "POST", "/api/message", {"talk_id": "{talk_id}", "content": "hi"}),
    Route("message", "GET", TALK + "/messages/{message_id}/stream"),
    Route("message", "POST", TALK + "/messages/{user_message_id}/regenerate"),
    Route("message", "DELETE", TALK + "/messages/{message_id}"),
    Route("message", "PATCH", TALK + "/messages/{user_message_id}", {"content": "hi"}),
    Route("talk", "GET", TALK + "/tree"),
    Route("talk", "PUT", TALK + "/current", {"leaf_id": "{user_message_id}"}),
    Route("talk", "POST", TALK + "/fork", {"message_id": "{message_id}"}),
    Route("talk", "POST", TALK + "/shares", {}),
    Route("talk", "GET", TALK + "/shares"),
    Route("talk", "GET", TALK + "/export?format=markdown"),
    Route("messages", "GET", TALK + "/messages?branch=all"),
    Route("share", "DELETE", "/api/v1/shares/{share_id}"),
    Route("file", "GET", FILE),
    Route("file", "PATCH", FILE, {"description": "stolen"}),
    Route("file", "DELETE", FILE),
    Route("file", "POST", FILE + "/restore"),
    Route("file", "GET", FILE + "/download"),
    Route("file", "GET", FILE + "/versions"),
    Route("file", "GET", FILE + "/public"),
    Route("workflow", "GET", WORKFLOW),
    Route("workflow", "PATCH", WORKFLOW, {"name": "stolen"}),
    Route("workflow", "DELETE", WORKFLOW),
    Route("workflow", "POST", WORKFLOW + "/restore"),
    Route("workflow", "POST", WORKFLOW + "/execute", {"inputs": {"name": "x"}}),
    Route("workflow", "GET", WORKFLOW + "/executions"),
    Route("workflow", "POST", WORKFLOW + "/publish", {"title": "stolen"}),
    Route("execution", "GET", "/api/v1/executions/{execution_id}"),
    Route("execution", "POST", "/api/v1/executions/{execution_id}/cancel"),
    Route("workspace", "GET", WS),
    Route("workspace", "PATCH", WS, {"name": "stolen"}),
    Route("workspace", "DELETE", WS),
    Route("workspace", "POST", WS + "/restore"),
    Route("members", "GET", WS + "/members"),
    Route("members", "POST", WS + "/members", {"email": "x@example.com", "role": "member"}),
    Route("members", "PATCH", WS + "/members/{user_id}", {"role": "viewer"}),
    Route("members", "DELETE", WS + "/members/{user_id}"),
    Route("api keys", "GET", WS + "/api-keys"),
    Route("api keys", "POST", WS + "/api-keys", {"name": "stolen"}),
    Route("api keys", "DELETE", WS + "/api-keys/{key_id}"),
    Route("webhooks", "GET", WS + "/webhooks"),
    Route("webhooks", "POST", WS + "/webhooks", {"url": WEBHOOK_URL, "events": ["talk.created"]}),
    Route("webhooks", "DELETE", WS + "/webhooks/{webhook_id}"),
    Route("webhooks", "GET", WS + "/webhooks/{webhook_id}/deliveries"),
    Route("provider keys", "GET", WS + "/providers"),
    Route("provider keys", "PUT", WS + "/providers/openai", {"api_key": "sk-attacker-000000"}),
    Route("provider keys", "DELETE", WS + "/providers/{provider}"),
    Route("workspace content", "GET", "/api/v1/talks?workspace_id={workspace_id}"),
    Route("workspace content", "GET", "/api/v1/files?workspace_id={workspace_id}"),
    Route("workspace content", "GET", "/api/v1/workflows?workspace_id={workspace_id}"),
    Route("workspace content", "POST", "/api/v1/talks", {"workspace_id": "{workspace_id}"}),
    Route("workspace content", "POST", "/api/v1/workflows?workspace_id={workspace_id}",
          {"name": "x", "nodes": [], "edges": []}),
    Route("usage", "GET", "/api/v1/analytics/usage?workspace_id={workspace_id}"),
    Route("models", "GET", "/api/v1/llm/models?workspace_id={workspace_id}"),
    Route("llm", "POST", "/api/v1/llm/chat",
          {"workspace_id": "{workspace_id}", "messages": [{"role": "user", "content": "hi"}]}),
]


def fill(value, world: dict[str, str]):
    """`value` with `{name}` placeholders in its strings replaced by world ids."""
    if isinstance(value, str):
        return value.format(**world)
    if isinstance(value, dict):
        return {key: fill(item, world) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, world) for item in value]
    return value


def call(api, session, route: Route, world: dict[str, str]):
    kwargs = {} if route.json is None else {"json": fill(route.json, world)}
    return api.request(route.method, route.url(world), session, **kwargs)
