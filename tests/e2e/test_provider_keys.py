import logging

from bson import ObjectId
from cryptography.fernet import Fernet

from tests.support.identity import shared_app

app = shared_app()

RAW_KEY = "sk-live-SECRET-0123456789-abcd"


def every_stored_string(db) -> str:
    """The whole database as text: every document of every collection."""
    return "\n".join(str(doc) for name in db.list_collection_names()
                     for doc in db[name].find())


def test_a_provider_key_is_encrypted_at_rest_and_never_shown(api, app, db, caplog):
    caplog.set_level(logging.DEBUG)
    ann = api.register()
    workspace_id = api.personal_workspace(ann)
    base = f"/api/v1/workspaces/{workspace_id}/providers"
    responses = [
        api.request("PUT", f"{base}/openai", ann,
                    json={"api_key": RAW_KEY, "api_base": "https://proxy.example.com/v1"}),
        api.request("GET", base, ann),
        api.request("GET", f"/api/v1/workspaces/{workspace_id}", ann),
    ]
    put, listing = responses[0].get_json(), responses[1].get_json()
    assert responses[0].status_code == 200
    assert put == {"provider": "openai", "configured": True, "key_hint": "sk-...abcd",
                   "api_base": "https://proxy.example.com/v1", "updated_at": put["updated_at"]}
    assert {"provider": "anthropic", "configured": False, "key_hint": None, "api_base": None,
            "updated_at": None} in listing
    assert put in listing
    for response in responses:
        assert RAW_KEY not in response.get_data(as_text=True)
    assert RAW_KEY not in every_stored_string(db)
    assert RAW_KEY not in caplog.text
    stored = db.provider_keys.find_one({"workspace_id": ObjectId(workspace_id)})
    key = app.extensions["synapscale"].settings.encryption_key
    assert Fernet(key.encode()).decrypt(stored["encrypted_key"].encode()).decode() == RAW_KEY


def test_the_llm_gateway_port_gets_the_decrypted_key(api, app):
    ann = api.register()
    workspace_id = api.personal_workspace(ann)
    api.request("PUT", f"/api/v1/workspaces/{workspace_id}/providers/anthropic", ann,
                json={"api_key": RAW_KEY})
    credentials = app.extensions["synapscale"].provider_credentials.for_workspace(workspace_id)
    assert credentials["anthropic"].api_key == RAW_KEY
    assert credentials["anthropic"].api_base is None


def test_replacing_and_deleting_a_provider_key(api, db):
    ann = api.register()
    workspace_id = api.personal_workspace(ann)
    path = f"/api/v1/workspaces/{workspace_id}/providers/openai"
    api.request("PUT", path, ann, json={"api_key": "sk-first-key-0000000001"})
    replaced = api.request("PUT", path, ann, json={"api_key": "sk-second-key-000000002"})
    assert replaced.get_json()["key_hint"] == "sk-...0002"
    assert db.provider_keys.count_documents({"workspace_id": ObjectId(workspace_id)}) == 1
    assert api.request("DELETE", path, ann).status_code == 204
    assert api.request("DELETE", path, ann).status_code == 404
    actions = [e["action"] for e in db.audit_log.find({"target_type": "provider_key",
                                                        "workspace_id": ObjectId(workspace_id)})]
    assert actions == ["provider_key.set", "provider_key.set", "provider_key.deleted"]


def test_bad_provider_key_input_is_422(api):
    ann = api.register()
    base = f"/api/v1/workspaces/{api.personal_workspace(ann)}/providers"
    for provider, body in (("openai", {}), ("openai", {"api_key": "k", "extra": 1}),
                           ("openai", {"api_key": "k", "api_base": "ftp://x"}),
                           ("Bad Name", {"api_key": "k"})):
        response = api.request("PUT", f"{base}/{provider}", ann, json=body)
        assert response.status_code == 422, (provider, body)


def test_an_api_base_without_a_key_is_refused_so_the_servers_key_never_follows_it(api):
    ann = api.register()
    workspace_id = api.personal_workspace(ann)

    response = api.request("PUT", f"/api/v1/workspaces/{workspace_id}/providers/openai", ann,
                           json={"api_base": "https://attacker.example.com/v1"})

    assert response.status_code == 422
    assert "api_key" in response.get_json()["error"]["details"]
    listing = api.request("GET", f"/api/v1/workspaces/{workspace_id}/providers", ann).get_json()
    assert not any(entry["configured"] for entry in listing)
