import threading

from bson import ObjectId

from tests.support.identity import add_member, shared_app

app = shared_app()
WS = "/api/v1/workspaces"


def create(api, session, **body):
    response = api.request("POST", WS, session, json={"name": "Team", **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_get_update_a_workspace(api):
    ann = api.register()
    created = create(api, ann, description="Our team",
                     settings={"default_model": "openai/gpt-4o-mini", "monthly_budget_usd": 10})
    assert created["role"] == "owner" and created["is_personal"] is False
    assert created["settings"] == {"default_model": "openai/gpt-4o-mini", "system_prompt": None,
                                   "monthly_budget_usd": 10.0, "member_monthly_budget_usd": None,
                                   "budget_alert_thresholds": None}
    fetched = api.request("GET", f"{WS}/{created['id']}", ann).get_json()
    assert fetched == created
    patched = api.request("PATCH", f"{WS}/{created['id']}", ann, json={
        "name": "Renamed", "settings": {"system_prompt": "Be brief."}}).get_json()
    assert patched["name"] == "Renamed"
    assert patched["settings"]["system_prompt"] == "Be brief."
    assert patched["settings"]["default_model"] == "openai/gpt-4o-mini"
    listing = api.request("GET", WS, ann).get_json()
    assert [w["name"] for w in listing["items"]][1:] == ["Renamed"] and listing["total"] == 2


def test_bad_workspace_input_is_422(api):
    ann = api.register()
    for body in ({"name": ""}, {"name": "x", "owner_id": "me"},
                 {"name": "x", "settings": {"monthly_budget_usd": -1}},
                 {"name": "x", "settings": {"colour": "red"}}):
        assert api.request("POST", WS, ann, json=body).status_code == 422, body


def test_unknown_or_malformed_workspace_ids_are_404(api):
    ann = api.register()
    for workspace_id in ("0" * 24, "nope"):
        assert api.request("GET", f"{WS}/{workspace_id}", ann).status_code == 404


def test_deleting_is_soft_and_an_owner_can_restore(api, db):
    ann = api.register()
    workspace = create(api, ann)
    path = f"{WS}/{workspace['id']}"
    assert api.request("DELETE", path, ann).status_code == 204
    assert api.request("GET", path, ann).status_code == 404
    assert api.request("GET", WS, ann).get_json()["total"] == 1
    assert db.workspaces.find_one({"_id": ObjectId(workspace["id"])})["deleted_at"] is not None
    restored = api.request("POST", f"{path}/restore", ann)
    assert restored.status_code == 200 and restored.get_json()["role"] == "owner"
    assert api.request("GET", path, ann).status_code == 200


def test_the_personal_workspace_cannot_be_deleted(api):
    ann = api.register()
    response = api.request("DELETE", f"{WS}/{api.personal_workspace(ann)}", ann)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflict"


def test_members_are_added_by_email_listed_changed_and_removed(api):
    ann, bob = api.register(name="Ann"), api.register(name="Bob")
    workspace = create(api, ann)
    members = f"{WS}/{workspace['id']}/members"
    added = api.request("POST", members, ann,
                        json={"email": bob.user["email"].upper(), "role": "viewer"})
    assert added.status_code == 201
    assert added.get_json()["user_id"] == bob.id and added.get_json()["role"] == "viewer"
    listed = api.request("GET", members, bob).get_json()
    assert sorted((m["name"], m["role"]) for m in listed) == [("Ann", "owner"), ("Bob", "viewer")]
    assert set(listed[0]) == {"user_id", "email", "name", "role", "joined_at", "monthly_budget_usd"}
    changed = api.request("PATCH", f"{members}/{bob.id}", ann, json={"role": "admin"})
    assert changed.status_code == 200 and changed.get_json()["role"] == "admin"
    assert api.request("DELETE", f"{members}/{bob.id}", ann).status_code == 204
    assert api.request("GET", f"{WS}/{workspace['id']}", bob).status_code == 404


def test_adding_members_unknown_user_duplicate_and_bad_role(api):
    ann, bob = api.register(), api.register()
    members = f"{WS}/{create(api, ann)['id']}/members"
    assert api.request("POST", members, ann,
                       json={"email": "ghost@example.com", "role": "member"}).status_code == 404
    add_member(api, ann, members.split("/")[-2], bob, "member")
    assert api.request("POST", members, ann,
                       json={"email": bob.user["email"], "role": "member"}).status_code == 409
    assert api.request("POST", members, ann,
                       json={"email": bob.user["email"], "role": "boss"}).status_code == 422


def test_a_workspace_never_loses_its_last_owner(api):
    ann, bob = api.register(), api.register()
    workspace_id = create(api, ann)["id"]
    members = f"{WS}/{workspace_id}/members"
    assert api.request("PATCH", f"{members}/{ann.id}", ann,
                       json={"role": "admin"}).status_code == 409
    assert api.request("DELETE", f"{members}/{ann.id}", ann).status_code == 409
    add_member(api, ann, workspace_id, bob, "owner")
    assert api.request("DELETE", f"{members}/{ann.id}", ann).status_code == 204
    assert api.request("DELETE", f"{members}/{bob.id}", bob).status_code == 409


def owners(db, workspace_id: str) -> list[str]:
    return sorted(str(m["user_id"]) for m in db.memberships.find({"workspace_id": ObjectId(workspace_id),
                                                               "role": "owner"}))


def test_two_owners_demoting_each_other_at_once_always_leave_one_owner(api, app, db):
    """Issue 16 #6: with count-then-update both demotions could pass, leaving no owner."""
    ann, bob = api.register(), api.register()
    workspace_id = create(api, ann)["id"]
    add_member(api, ann, workspace_id, bob, "owner")
    members = f"{WS}/{workspace_id}/members"
    clients = {ann.id: app.test_client(), bob.id: app.test_client()}
    for _round in range(12):
        barrier = threading.Barrier(2)
        statuses: dict[str, int] = {}

        def demote(actor, target):
            barrier.wait()
            response = clients[actor.id].patch(f"{members}/{target.id}", headers=actor.headers,
                                               json={"role": "admin"})
            statuses[actor.id] = response.status_code

        threads = [threading.Thread(target=demote, args=(ann, bob)),
                   threading.Thread(target=demote, args=(bob, ann))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        remaining = owners(db, workspace_id)
        assert len(remaining) == 1, (statuses, remaining)
        assert sorted(statuses.values()) in ([200, 403], [200, 409]), statuses
        demoted = bob if remaining == [ann.id] else ann
        owner = ann if demoted is bob else bob
        assert api.request("PATCH", f"{members}/{demoted.id}", owner,
                           json={"role": "owner"}).status_code == 200
    assert owners(db, workspace_id) == sorted([ann.id, bob.id])


def test_two_owners_leaving_at_once_always_leave_one_owner(api, app, db):
    ann, bob = api.register(), api.register()
    for _round in range(6):
        workspace_id = create(api, ann)["id"]
        add_member(api, ann, workspace_id, bob, "owner")
        barrier = threading.Barrier(2)

        def leave(actor, client):
            barrier.wait()
            client.delete(f"{WS}/{workspace_id}/members/{actor.id}", headers=actor.headers)

        threads = [threading.Thread(target=leave, args=(who, app.test_client()))
                   for who in (ann, bob)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(owners(db, workspace_id)) == 1


def test_a_workspace_made_before_the_owner_list_gets_it_from_its_memberships(api, db):
    ann, bob = api.register(), api.register()
    workspace_id = create(api, ann)["id"]
    add_member(api, ann, workspace_id, bob, "owner")
    db.workspaces.update_one({"_id": ObjectId(workspace_id)}, {"$unset": {"owner_ids": ""}})
    members = f"{WS}/{workspace_id}/members"
    assert api.request("PATCH", f"{members}/{bob.id}", ann, json={"role": "member"}).status_code \
        == 200
    assert api.request("PATCH", f"{members}/{ann.id}", ann, json={"role": "admin"}).status_code \
        == 409
    assert db.workspaces.find_one({"_id": ObjectId(workspace_id)})["owner_ids"] == [ObjectId(ann.id)]


def test_adding_a_member_publishes_member_added(api, app):
    ann, bob = api.register(), api.register()
    workspace_id = create(api, ann)["id"]
    events = app.extensions["synapscale"].events
    with events.subscribe([f"workspace:{workspace_id}", f"user:{bob.id}"]) as feed:
        add_member(api, ann, workspace_id, bob, "member")
        received = [feed.get(timeout=5), feed.get(timeout=5)]
    assert sorted(event["topic"] for event in received) == sorted(
        [f"workspace:{workspace_id}", f"user:{bob.id}"])
    for event in received:
        assert event["type"] == "member.added"
        assert (event["workspace_id"], event["user_id"], event["role"]) == (
            workspace_id, bob.id, "member")


def test_workspace_and_member_changes_are_audited(api, db):
    ann, bob = api.register(), api.register()
    workspace_id = create(api, ann)["id"]
    add_member(api, ann, workspace_id, bob, "member")
    api.request("PATCH", f"{WS}/{workspace_id}/members/{bob.id}", ann, json={"role": "viewer"})
    api.request("DELETE", f"{WS}/{workspace_id}/members/{bob.id}", ann)
    api.request("DELETE", f"{WS}/{workspace_id}", ann)
    actions = [entry["action"] for entry in db.audit_log.find({"workspace_id": ObjectId(workspace_id)})]
    assert actions == ["workspace.created", "member.added", "member.role_changed",
                       "member.removed", "workspace.deleted"]
