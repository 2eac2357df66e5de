from datetime import timedelta

import pytest
from bson import ObjectId

from entities.clock import utcnow
from tests.support.identity import bearer, outbox_token, shared_app, unique_email

app = shared_app()

ME = "/api/v1/auth/me"


@pytest.fixture
def email() -> str:
    return unique_email("ann")


def test_unknown_email_and_wrong_password_get_the_same_401(api, client, email):
    api.register(email=email)
    unknown = client.post("/api/v1/auth/login",
                          json={"email": "nobody@example.com", "password": "correct-horse-1"})
    wrong = client.post("/api/v1/auth/login",
                        json={"email": email, "password": "wrong-password"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_json() == wrong.get_json()
    assert wrong.get_json()["error"]["code"] == "invalid_credentials"


def test_weak_password_and_bad_email_are_422(client, email):
    weak = client.post("/api/v1/auth/register",
                       json={"email": email, "password": "short", "name": "A"})
    bad = client.post("/api/v1/auth/register",
                      json={"email": "not-an-email", "password": "correct-horse-1", "name": "A"})
    assert weak.status_code == bad.status_code == 422
    assert "password" in weak.get_json()["error"]["details"]
    assert "email" in bad.get_json()["error"]["details"]


def test_refresh_rotates_the_pair_and_an_access_token_cannot_refresh(api, client):
    session = api.register()
    assert client.post("/api/v1/auth/refresh", headers=session.headers).status_code == 401
    pair = client.post("/api/v1/auth/refresh", headers=bearer(session.refresh_token)).get_json()
    assert pair["refresh_token"] != session.refresh_token and pair["token_type"] == "bearer"
    assert client.get(ME, headers=bearer(pair["access_token"])).status_code == 200
    again = client.post("/api/v1/auth/refresh", headers=bearer(pair["refresh_token"]))
    assert again.status_code == 200


def test_logout_makes_the_access_token_fail_at_once(api, client):
    session = api.register()
    assert client.post("/api/v1/auth/logout", headers=session.headers).status_code == 204
    response = client.get(ME, headers=session.headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_revoked"
    refresh = client.post("/api/v1/auth/refresh", headers=bearer(session.refresh_token))
    assert refresh.status_code == 401


def test_logout_with_a_refresh_token_revokes_that_session_too(api, client, email):
    first = api.register(email=email)
    second = api.login(email, "correct-horse-1")
    response = client.post("/api/v1/auth/logout", headers=first.headers,
                           json={"refresh_token": second.refresh_token})
    assert response.status_code == 204
    assert client.get(ME, headers=second.headers).status_code == 401


def test_logout_all_revokes_every_session(api, client, email):
    first = api.register(email=email)
    second = api.login(email, "correct-horse-1")
    assert client.post("/api/v1/auth/logout-all", headers=second.headers).status_code == 204
    assert client.get(ME, headers=first.headers).status_code == 401
    assert client.get(ME, headers=second.headers).status_code == 401


def test_me_never_shows_the_password_hash_and_patch_changes_only_the_name(api, client):
    session = api.register(name="Ann")
    body = client.patch(ME, headers=session.headers, json={"name": "Ann B."}).get_json()
    assert body["name"] == "Ann B." and "password_hash" not in body
    assert set(body) == {"id", "email", "name", "role", "is_active", "email_verified",
                         "created_at", "updated_at"}
    for field, value in (("role", "admin"), ("email", "x@example.com"), ("is_active", False)):
        response = client.patch(ME, headers=session.headers, json={field: value})
        assert response.status_code == 422
        assert field in response.get_json()["error"]["details"]
    assert client.get(ME, headers=session.headers).get_json()["role"] == "user"


def test_changing_the_password_keeps_this_session_and_revokes_the_others(api, client, email):
    current = api.register(email=email)
    other = api.login(email, "correct-horse-1")
    wrong = client.post("/api/v1/auth/password", headers=current.headers,
                        json={"current_password": "nope-nope-nope", "new_password": "new-pass-123"})
    assert wrong.status_code == 422
    response = client.post("/api/v1/auth/password", headers=current.headers,
                           json={"current_password": "correct-horse-1",
                                 "new_password": "new-pass-123"})
    assert response.status_code == 204
    assert client.get(ME, headers=current.headers).status_code == 200
    assert client.get(ME, headers=other.headers).status_code == 401
    api.login(email, "new-pass-123")


def test_password_reset_request_is_202_whether_or_not_the_account_exists(api, client, db, email):
    api.register(email=email)
    for address in (email, "nobody@example.com"):
        response = client.post("/api/v1/auth/password-reset", json={"email": address})
        assert response.status_code == 202
    assert db.outbox.count_documents({"to": "nobody@example.com"}) == 0
    assert outbox_token(db, email, "Reset")


def test_password_reset_token_is_single_use_hashed_and_revokes_all_sessions(api, client, db, email):
    session = api.register(email=email)
    client.post("/api/v1/auth/password-reset", json={"email": email})
    token = outbox_token(db, email, "Reset")
    stored = db.one_time_tokens.find_one({"purpose": "password_reset", "user_id": ObjectId(session.id)})
    assert token not in str(stored)
    confirm = {"token": token, "new_password": "new-pass-123"}
    assert client.post("/api/v1/auth/password-reset/confirm", json=confirm).status_code == 204
    assert client.get(ME, headers=session.headers).status_code == 401
    api.login(email, "new-pass-123")
    reuse = client.post("/api/v1/auth/password-reset/confirm",
                        json={"token": token, "new_password": "other-pass-456"})
    assert reuse.status_code == 422
    assert "token" in reuse.get_json()["error"]["details"]


def test_password_reset_token_expires(api, client, db, email):
    session = api.register(email=email)
    client.post("/api/v1/auth/password-reset", json={"email": email})
    token = outbox_token(db, email, "Reset")
    stored = db.one_time_tokens.find_one({"purpose": "password_reset", "user_id": ObjectId(session.id)})
    assert timedelta(minutes=59) < stored["expires_at"] - utcnow() <= timedelta(hours=1)
    db.one_time_tokens.update_one({"_id": stored["_id"]},
                                  {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}})
    response = client.post("/api/v1/auth/password-reset/confirm",
                           json={"token": token, "new_password": "new-pass-123"})
    assert response.status_code == 422
    api.login(email, "correct-horse-1")


def test_email_verification_with_the_mailed_token(api, client, db, email):
    session = api.register(email=email)
    assert session.user["email_verified"] is False
    assert client.post("/api/v1/auth/verify-email/resend",
                       headers=session.headers).status_code == 202
    assert db.outbox.count_documents({"to": email, "subject": {"$regex": "Confirm"}}) == 2
    token = outbox_token(db, email, "Confirm")
    assert client.post("/api/v1/auth/verify-email", json={"token": token}).status_code == 204
    assert client.get(ME, headers=session.headers).get_json()["email_verified"] is True
    again = client.post("/api/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 422


PHISHING_NAME = "Your account is locked.\nVisit http://evil.example/unlock <now> \u202eand pay"


@pytest.mark.parametrize("mail", ["Confirm", "Reset"])
def test_a_name_the_caller_chose_is_quoted_plain_and_inert_in_mail(api, client, db, email, mail):
    """Issue 16 #4: the mail opened with a `name` the caller chose, so a phishing line fit."""
    api.register(email=email, name=PHISHING_NAME)
    if mail == "Reset":
        client.post("/api/v1/auth/password-reset", json={"email": email})
    sent = db.outbox.find_one({"to": email, "subject": {"$regex": mail}},
                              sort=[("created_at", -1), ("_id", -1)])
    assert sent["subject"] in ("Confirm your e-mail address", "Reset your password")
    body = sent["body"]
    assert body.startswith("Hello,\n")
    assert "Your account is locked" not in body.split("\n\n", 1)[0]
    # one quoted line, links defanged, cut at 60 characters
    assert '"Your account is locked. Visit http[:]//evil[.]example/unlock (n…"' in body
    for fragment in ("evil.example", "http://", "\u202e", "locked.\nVisit"):
        assert fragment not in body


def test_outbox_mail_is_logged_without_its_token(api, client, db, caplog, email):
    caplog.set_level("DEBUG")
    api.register(email=email)
    token = outbox_token(db, email, "Confirm")
    assert any("outbox" in record.getMessage() for record in caplog.records)
    assert token not in caplog.text
    assert all(token not in str(getattr(record, "fields", "")) for record in caplog.records)


def test_sessions_are_listed_and_only_your_own_can_be_revoked(api, client, email):
    first = api.register(email=email)
    second = api.login(email, "correct-horse-1")
    stranger = api.register(email=unique_email("bob"))
    sessions = client.get("/api/v1/auth/sessions", headers=first.headers).get_json()
    assert len(sessions) == 2
    assert {tuple(sorted(s)) for s in sessions} == {
        ("created_at", "current", "id", "ip", "last_used_at", "user_agent")}
    (mine,) = [s for s in sessions if s["current"]]
    (other,) = [s for s in sessions if not s["current"]]
    theirs = client.get("/api/v1/auth/sessions", headers=stranger.headers).get_json()[0]["id"]
    path = "/api/v1/auth/sessions/"
    assert client.delete(path + theirs, headers=first.headers).status_code == 404
    assert client.delete(path + "not-an-id", headers=first.headers).status_code == 404
    assert client.delete(path + other["id"], headers=first.headers).status_code == 204
    assert client.get(ME, headers=second.headers).status_code == 401
    assert client.delete(path + other["id"], headers=first.headers).status_code == 404
    assert client.get(ME, headers=stranger.headers).status_code == 200
    assert mine["id"] != other["id"]


def test_auth_routes_need_a_token(client):
    for method, path in (("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/auth/logout-all"),
                         ("PATCH", ME), ("POST", "/api/v1/auth/password"),
                         ("POST", "/api/v1/auth/verify-email/resend"),
                         ("GET", "/api/v1/auth/sessions")):
        response = client.open(path, method=method, json={})
        assert response.status_code == 401, (method, path)
        assert response.get_json()["error"]["code"] == "unauthorized"
