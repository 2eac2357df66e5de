"""MongoSessionRepository: a session is live for its own user only, and revocation ends it."""
from datetime import timedelta

import pytest

from entities.clock import utcnow
from entities.session import LoginSession
from repositories.sessions import MongoSessionRepository


@pytest.fixture
def sessions(db):
    repository = MongoSessionRepository(db)
    repository.ensure_indexes()
    return repository


def open_session(sessions, user_id: str, ttl: timedelta = timedelta(hours=1)) -> LoginSession:
    now = utcnow()
    return sessions.add(LoginSession(id="", user_id=user_id, refresh_jti="jti",
                                     expires_at=now + ttl, created_at=now, last_used_at=now))


def test_a_session_is_live_for_its_own_user_only(sessions):
    ann = open_session(sessions, "a" * 24)
    assert sessions.is_active(ann.id)
    assert sessions.is_active(ann.id, "a" * 24)
    assert not sessions.is_active(ann.id, "b" * 24)
    assert not sessions.is_active("not-an-id", "a" * 24)


def test_revoked_and_expired_sessions_are_live_for_nobody(sessions):
    revoked = open_session(sessions, "a" * 24)
    sessions.revoke(revoked.id)
    expired = open_session(sessions, "a" * 24, ttl=timedelta(seconds=-1))
    for session in (revoked, expired):
        assert not sessions.is_active(session.id, "a" * 24)
        assert not sessions.is_active(session.id)


def test_the_live_sessions_among_many_come_in_one_query(sessions):
    live, revoked = open_session(sessions, "a" * 24), open_session(sessions, "b" * 24)
    sessions.revoke(revoked.id)
    assert sessions.live_among([live.id, revoked.id, "0" * 24, "junk"]) == {live.id}
    assert sessions.live_among([]) == set()
