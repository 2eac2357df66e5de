import uuid
from datetime import timedelta

from entities.clock import utcnow
from tests.support.identity import make_admin, set_global_role, shared_app, unique_email

app = shared_app()

USERS = "/api/v1/admin/users"
AUDIT = "/api/v1/admin/audit"


def test_only_admins_reach_the_admin_routes(api, db):
    for role in ("user", "analyst"):
        caller = api.register()
        set_global_role(db, caller.id, role)
        assert api.request("GET", USERS, caller).status_code == 403
        assert api.request("PATCH", f"{USERS}/{caller.id}", caller,
                           json={"role": "admin"}).status_code == 403
        assert api.request("GET", AUDIT, caller).status_code == 403
    assert api.client.get(USERS).status_code == 401


def test_admin_rights_are_checked_in_the_database_not_only_the_token(api, db):
    admin = make_admin(api, db)
    assert api.request("GET", USERS, admin).status_code == 200
    set_global_role(db, admin.id, "user")  # the token still says "admin"
    assert api.request("GET", USERS, admin).status_code == 403


def test_admins_list_and_search_users(api, db):
    family = uuid.uuid4().hex[:8]  # the app's database is shared by this module's tests
    admin = make_admin(api, db, name=f"Boss {family}")
    maria = api.register(name=f"Maria Silva {family}")
    api.register(name=f"João {family}")
    page = api.request("GET", USERS, admin, query_string={"q": f"silva {family}"}).get_json()
    assert [user["email"] for user in page["items"]] == [maria.user["email"]]
    assert "password_hash" not in page["items"][0]
    by_email = api.request("GET", USERS, admin, query_string={"q": maria.user["email"].upper()})
    assert by_email.get_json()["total"] == 1
    paged = api.request("GET", USERS, admin,
                        query_string={"q": family, "page": 2, "size": 2}).get_json()
    assert (paged["total"], paged["pages"], len(paged["items"])) == (3, 2, 1)
    assert api.request("GET", f"{USERS}?size=101", admin).status_code == 422


def test_a_deactivated_users_token_stops_at_once(api, db):
    admin = make_admin(api, db)
    email = unique_email("ann")
    ann = api.register(email=email)
    response = api.request("PATCH", f"{USERS}/{ann.id}", admin, json={"is_active": False})
    assert response.status_code == 200 and response.get_json()["is_active"] is False
    assert api.request("GET", "/api/v1/auth/me", ann).status_code == 401
    login = api.client.post("/api/v1/auth/login",
                            json={"email": email, "password": "correct-horse-1"})
    assert login.status_code == 401
    refresh = api.client.post("/api/v1/auth/refresh",
                              headers={"Authorization": f"Bearer {ann.refresh_token}"})
    assert refresh.status_code == 401
    api.request("PATCH", f"{USERS}/{ann.id}", admin, json={"is_active": True})
    api.login(email, "correct-horse-1")


def test_role_changes_apply_and_are_audited(api, db):
    admin = make_admin(api, db)
    ann = api.register()
    response = api.request("PATCH", f"{USERS}/{ann.id}", admin, json={"role": "analyst"})
    assert response.get_json()["role"] == "analyst"
    assert api.login(ann.user["email"], "correct-horse-1").user["role"] == "analyst"
    entries = api.request("GET", AUDIT, admin, query_string={
        "action": "user.role_changed", "actor": admin.id}).get_json()["items"]
    assert [(e["actor_id"], e["target_id"], e["details"]) for e in entries] == [
        (admin.id, ann.id, {"from": "user", "to": "analyst"})]


def test_admin_user_update_input_and_unknown_users(api, db):
    admin = make_admin(api, db)
    assert api.request("PATCH", f"{USERS}/{admin.id}", admin,
                       json={"role": "superuser"}).status_code == 422
    assert api.request("PATCH", f"{USERS}/{admin.id}", admin,
                       json={"email": "x@example.com"}).status_code == 422
    assert api.request("PATCH", f"{USERS}/{'0' * 24}", admin,
                       json={"role": "user"}).status_code == 404
    assert api.request("PATCH", f"{USERS}/{admin.id}", admin,
                       json={"is_active": False}).status_code == 409


def test_audit_log_records_logins_and_failures_and_filters(api, db):
    email = unique_email("boss")
    admin = make_admin(api, db, email=email)
    api.client.post("/api/v1/auth/login", json={"email": email, "password": "bad!"})
    everything = api.request("GET", AUDIT, admin).get_json()
    actions = [entry["action"] for entry in everything["items"]]
    assert {"user.registered", "auth.login", "auth.login_failed"} <= set(actions)
    entry = everything["items"][0]
    assert set(entry) == {"id", "actor_id", "action", "target_type", "target_id", "workspace_id",
                          "ip", "at", "details"}
    failed = api.request("GET", AUDIT, admin, query_string={
        "action": "auth.login_failed", "actor": admin.id}).get_json()["items"]
    assert [e["details"]["email"] for e in failed] == [email]
    assert failed[0]["ip"] == "127.0.0.1"
    mine = api.request("GET", f"{AUDIT}?actor={admin.id}", admin).get_json()["items"]
    assert {e["actor_id"] for e in mine} == {admin.id}
    future = (utcnow() + timedelta(hours=1)).isoformat()
    assert api.request("GET", AUDIT, admin, query_string={"from": future}).get_json()["total"] == 0
    assert api.request("GET", AUDIT, admin,
                       query_string={"to": future}).get_json()["total"] == everything["total"]
    assert api.request("GET", AUDIT, admin, query_string={"from": "yesterday"}).status_code == 422
