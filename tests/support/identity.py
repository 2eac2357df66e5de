"""Helpers for e2e tests of accounts, roles and workspaces."""
from __future__ import annotations

from bson import ObjectId


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def outbox_token(db, email: str, subject: str) -> str:
    """The token of the newest mail to `email` whose subject contains `subject`."""
    mail = db.outbox.find_one({"to": email.lower(), "subject": {"$regex": subject}},
                              sort=[("created_at", -1), ("_id", -1)])
    assert mail is not None, f"no '{subject}' mail to {email}"
    return mail["token"]


def set_global_role(db, user_id: str, role: str) -> None:
    db.users.update_one({"_id": ObjectId(user_id)}, {"$set": {"role": role}})


def make_admin(api, db, **register):
    """A registered user promoted to global admin, logged in again so the token says so."""
    session = api.register(**register)
    set_global_role(db, session.id, "admin")
    return api.login(session.user["email"], register.get("password", "correct-horse-1"))


def add_member(api, owner, workspace_id: str, member, role: str):
    response = api.request("POST", f"/api/v1/workspaces/{workspace_id}/members", owner,
                           json={"email": member.user["email"], "role": role})
    assert response.status_code == 201, response.get_json()
    return response.get_json()
