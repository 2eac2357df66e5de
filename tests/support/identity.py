"""Helpers for e2e tests of accounts, roles and workspaces."""
from __future__ import annotations

import uuid

import pytest
from bson import ObjectId

from app import create_app, shutdown
from tests.conftest import make_settings
from tests.support.databases import drop_database


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


def unique_email(name: str = "user") -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}@example.com"


FILE_STORAGES = ("gridfs", "s3")


def shared_app(storages: tuple[str, ...] = ("gridfs",), **overrides):
    """A module-scoped `app` fixture: one app and database for all tests of a module, whose tests
    then keep apart by using their own users. Creating an app costs ~1.5 s (indexes, OpenAPI), so
    modules of many small tests use `app = shared_app()` instead of conftest's per-test app.

    `storages=FILE_STORAGES` runs the module's tests once per file storage (FILE_STORAGE): GridFS,
    then S3 on the tests' S3 server, in a bucket of the app's own."""

    @pytest.fixture(scope="module", params=storages if len(storages) > 1 else None)
    def app(mongo_uri, request):
        chosen = getattr(request, "param", storages[0])
        storage = request.getfixturevalue("s3_server").settings() if chosen == "s3" else {}
        settings = make_settings(mongo_uri, **{**storage, **overrides})
        application = create_app(settings)
        yield application
        container = application.extensions["synapscale"]
        shutdown(container)
        drop_database(container.client, settings.mongodb_database)

    return app
