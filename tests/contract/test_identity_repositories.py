"""Users, login sessions, one-time tokens, provider keys and the audit log: the same results on
mongomock (as unit tests run them) and on the wire server."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest

from entities.clock import utcnow
from entities.errors import Conflict
from entities.pagination import PageRequest
from entities.provider_key import StoredProviderKey
from entities.session import LoginSession
from entities.user import GlobalRole, User
from repositories.audit import MongoAuditLog
from repositories.one_time_tokens import MongoOneTimeTokenRepository
from repositories.provider_keys import MongoProviderKeyRepository
from repositories.sessions import MongoSessionRepository
from repositories.users import MongoUserRepository
from tests.contract.conftest import repository
from tests.fakes.identity import MongomockOneTimeTokenRepository, MongomockSessionRepository
from tests.fakes.shared import MongomockAuditLog

# --- users --------------------------------------------------------------------------------------


@pytest.fixture
def users(backend, db):
    return repository(backend, db, MongoUserRepository, MongoUserRepository)


def user(email: str, name: str = "Ann", age_s: int = 0) -> User:
    created = utcnow() - timedelta(seconds=age_s)
    return User(id="", email=email, name=name, password_hash="plain:x", created_at=created,
                updated_at=created)


def test_a_user_is_stored_with_an_id_and_found_by_it_and_by_email(users):
    ann = users.add(user("ann@example.com"))
    assert ann.id and users.get(ann.id).email == "ann@example.com"
    assert users.get_by_email("ann@example.com").id == ann.id
    assert users.get_by_email("ANN@example.com") is None
    assert users.get("f" * 24) is None and users.get("not-an-id") is None


def test_a_second_user_with_the_same_email_conflicts(users):
    users.add(user("ann@example.com"))
    with pytest.raises(Conflict):
        users.add(user("ann@example.com", name="Other"))


def test_users_are_found_many_at_once_ignoring_unknown_ids(users):
    ann, bob = users.add(user("ann@example.com")), users.add(user("bob@example.com"))
    found = users.get_many([ann.id, "f" * 24, "junk", bob.id])
    assert sorted(u.email for u in found) == ["ann@example.com", "bob@example.com"]


def test_an_update_changes_the_fields_given_and_stores_roles_by_value(users):
    ann = users.add(user("ann@example.com"))
    updated = users.update(ann.id, role=GlobalRole.ADMIN, is_active=False)
    assert (updated.role, updated.is_active, updated.name) == (GlobalRole.ADMIN, False, "Ann")
    assert users.get(ann.id).role is GlobalRole.ADMIN
    assert users.update("f" * 24, name="x") is None


def test_search_matches_email_or_name_case_insensitively_newest_first(users):
    for age_s, (email, name) in enumerate([("carol@example.org", "Carol"),
                                           ("bob@example.com", "Robert (Bob)"),
                                           ("ann@example.com", "Ann")]):
        users.add(user(email, name, age_s))
    assert [u.email for u in users.search("EXAMPLE.COM", PageRequest()).items] == [
        "bob@example.com", "ann@example.com"]
    assert [u.name for u in users.search("(bob)", PageRequest()).items] == ["Robert (Bob)"]
    page = users.search(None, PageRequest(page=2, size=2))
    assert (page.total, [u.email for u in page.items]) == (3, ["ann@example.com"])


# --- login sessions -----------------------------------------------------------------------------


@pytest.fixture
def sessions(backend, db):
    return repository(backend, db, MongomockSessionRepository, MongoSessionRepository)


def session(user_id: str = "u1", jti: str = "j1", ttl_s: int = 3600,
            age_s: int = 0) -> LoginSession:
    now = utcnow()
    return LoginSession(id="", user_id=user_id, refresh_jti=jti,
                        expires_at=now + timedelta(seconds=ttl_s),
                        created_at=now - timedelta(seconds=age_s), ip="10.0.0.1")


def test_a_session_is_active_until_revoked(sessions):
    stored = sessions.add(session())
    assert sessions.get(stored.id).refresh_jti == "j1" and sessions.is_active(stored.id)
    sessions.revoke(stored.id)
    assert not sessions.is_active(stored.id) and sessions.get(stored.id).revoked_at is not None
    assert not sessions.is_active("f" * 24) and not sessions.is_active("junk")


def test_an_expired_session_is_not_active(sessions):
    stored = sessions.add(session(ttl_s=-1))
    assert not sessions.is_active(stored.id) and sessions.list_active("u1") == []


def test_a_refresh_token_rotates_once(sessions):
    stored = sessions.add(session())
    assert sessions.rotate(stored.id, "j1", "j2")
    assert not sessions.rotate(stored.id, "j1", "j3")
    assert sessions.get(stored.id).refresh_jti == "j2"


def test_revoking_all_keeps_the_one_excepted_and_other_users(sessions):
    keep, drop = sessions.add(session(jti="a")), sessions.add(session(jti="b"))
    other = sessions.add(session(user_id="u2"))
    sessions.revoke_all("u1", except_session=keep.id)
    assert [s.id for s in sessions.list_active("u1")] == [keep.id]
    assert not sessions.is_active(drop.id) and sessions.is_active(other.id)


def test_active_sessions_are_listed_newest_first(sessions):
    first = sessions.add(session(jti="a", age_s=60))
    second = sessions.add(session(jti="b"))
    assert [s.id for s in sessions.list_active("u1")] == [second.id, first.id]


# --- one-time tokens ----------------------------------------------------------------------------


@pytest.fixture
def tokens(backend, db):
    return repository(backend, db, MongomockOneTimeTokenRepository, MongoOneTimeTokenRepository)


def test_a_token_is_found_until_consumed_once(tokens):
    tokens.add("reset", "h1", "u1", utcnow() + timedelta(hours=1))
    assert tokens.find_valid("reset", "h1") == "u1"
    assert tokens.find_valid("verify", "h1") is None
    assert tokens.consume("reset", "h1") == "u1"
    assert tokens.consume("reset", "h1") is None and tokens.find_valid("reset", "h1") is None


def test_an_expired_token_is_neither_found_nor_consumed(tokens):
    tokens.add("reset", "h1", "u1", utcnow() - timedelta(seconds=1))
    assert tokens.find_valid("reset", "h1") is None and tokens.consume("reset", "h1") is None


def test_discarding_spends_only_that_users_tokens_of_that_purpose(tokens):
    later = utcnow() + timedelta(hours=1)
    tokens.add("reset", "h1", "u1", later)
    tokens.add("verify", "h2", "u1", later)
    tokens.add("reset", "h3", "u2", later)
    tokens.discard_all("u1", "reset")
    assert [tokens.find_valid(p, h) for p, h in [("reset", "h1"), ("verify", "h2"),
                                                 ("reset", "h3")]] == [None, "u1", "u2"]


# --- provider keys ------------------------------------------------------------------------------


@pytest.fixture
def provider_keys(backend, db):
    return repository(backend, db, MongoProviderKeyRepository, MongoProviderKeyRepository)


def key(provider: str, ciphertext: str, workspace: str = "ws1") -> StoredProviderKey:
    return StoredProviderKey(workspace, provider, ciphertext, "sk-...abcd", updated_by="u1")


def test_a_provider_key_is_replaced_not_duplicated_and_listed_by_provider(provider_keys):
    provider_keys.put(key("openai", "enc:1"))
    provider_keys.put(key("anthropic", "enc:2"))
    stored = provider_keys.put(key("openai", "enc:3"))
    provider_keys.put(key("openai", "enc:4", workspace="ws2"))
    assert stored.encrypted_key == "enc:3" and stored.updated_at is not None
    assert [(k.provider, k.encrypted_key) for k in provider_keys.list("ws1")] == [
        ("anthropic", "enc:2"), ("openai", "enc:3")]


def test_a_provider_key_is_deleted_once(provider_keys):
    provider_keys.put(key("openai", "enc:1"))
    assert provider_keys.delete("ws1", "openai") and not provider_keys.delete("ws1", "openai")
    assert provider_keys.list("ws1") == []


# --- audit log ----------------------------------------------------------------------------------


@pytest.fixture
def audit(backend, db):
    return repository(backend, db, MongomockAuditLog, MongoAuditLog)


def test_the_audit_log_is_searched_newest_first_by_actor_action_and_time(audit):
    before = utcnow() - timedelta(seconds=1)
    audit.record("auth.login", "u1", ip="10.0.0.1")
    time.sleep(0.002)  # entries are ordered by their time, stored to the millisecond
    audit.record("auth.login_failed", None, details={"email": "x@example.com"})
    time.sleep(0.002)
    audit.record("auth.login", "u2", target_type="user", target_id="u2")
    found = audit.search(None, "auth.login", before, None, PageRequest())
    assert [(e["action"], e["actor_id"]) for e in found.items] == [("auth.login", "u2"),
                                                                   ("auth.login", "u1")]
    assert found.items[0]["id"] and found.items[1]["ip"] == "10.0.0.1"
    assert [e["details"] for e in audit.search(None, "auth.login_failed", None, None,
                                               PageRequest()).items] == [{"email": "x@example.com"}]
    assert audit.search("u1", None, None, None, PageRequest()).total == 1
    assert audit.search(None, None, None, before, PageRequest()).total == 0
    assert audit.search(None, None, None, None, PageRequest(page=2, size=2)).total == 3
