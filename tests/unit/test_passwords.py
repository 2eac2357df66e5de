from datetime import timedelta

import pytest

from entities.clock import utcnow
from entities.errors import InvalidCredentials, ValidationFailed
from tests.fakes.identity import Identity
from use_cases.identity.auth import ClientInfo
from use_cases.identity.one_time_tokens import PASSWORD_RESET

CLIENT = ClientInfo(ip="10.0.0.1")


@pytest.fixture
def identity():
    return Identity()


def reset_token(identity, email="ann@example.com"):
    identity.passwords.request_reset(email, CLIENT)
    return identity.mailer.sent[-1].token


def test_changing_the_password_keeps_this_session_and_ends_the_others(identity):
    ann = identity.actor("ann@example.com")
    other = identity.accounts.login("ann@example.com", "correct-horse-1", CLIENT).session
    identity.passwords.change(ann, "correct-horse-1", "battery-staple-2")
    assert identity.sessions.is_active(ann.session_id)
    assert not identity.sessions.is_active(other.id)
    assert identity.accounts.login("ann@example.com", "battery-staple-2", CLIENT)


def test_changing_the_password_needs_the_current_one(identity):
    ann = identity.actor("ann@example.com")
    with pytest.raises(ValidationFailed) as refused:
        identity.passwords.change(ann, "wrong-password", "battery-staple-2")
    assert "current_password" in refused.value.details


def test_a_weak_new_password_is_reported_on_its_field(identity):
    ann = identity.actor("ann@example.com")
    with pytest.raises(ValidationFailed) as refused:
        identity.passwords.change(ann, "correct-horse-1", "short")
    assert "new_password" in refused.value.details


def test_reset_for_an_unknown_email_sends_nothing_and_says_nothing(identity):
    identity.passwords.request_reset("nobody@example.com", CLIENT)
    assert identity.mailer.sent == []


def test_reset_token_is_stored_only_as_a_hash(identity):
    identity.actor("ann@example.com")
    token = reset_token(identity)
    assert token not in identity.token_repo.rows


def test_reset_sets_the_password_ends_all_sessions_and_spends_the_token(identity):
    ann = identity.actor("ann@example.com")
    token = reset_token(identity)
    identity.passwords.confirm_reset(token, "battery-staple-2", CLIENT)
    assert not identity.sessions.is_active(ann.session_id)
    assert identity.accounts.login("ann@example.com", "battery-staple-2", CLIENT)
    with pytest.raises(ValidationFailed):
        identity.passwords.confirm_reset(token, "another-pass-3", CLIENT)
    with pytest.raises(InvalidCredentials):
        identity.accounts.login("ann@example.com", "correct-horse-1", CLIENT)


def test_a_weak_password_does_not_spend_the_reset_token(identity):
    identity.actor("ann@example.com")
    token = reset_token(identity)
    with pytest.raises(ValidationFailed):
        identity.passwords.confirm_reset(token, "short", CLIENT)
    identity.passwords.confirm_reset(token, "battery-staple-2", CLIENT)


def test_an_expired_reset_token_is_refused(identity):
    identity.actor("ann@example.com")
    token = reset_token(identity)
    for row in identity.token_repo.rows.values():
        row.expires_at = utcnow() - timedelta(seconds=1)
    with pytest.raises(ValidationFailed):
        identity.passwords.confirm_reset(token, "battery-staple-2", CLIENT)


def test_using_one_reset_token_spends_the_older_ones(identity):
    identity.actor("ann@example.com")
    older = reset_token(identity)
    newer = reset_token(identity)
    identity.passwords.confirm_reset(newer, "battery-staple-2", CLIENT)
    with pytest.raises(ValidationFailed):
        identity.passwords.confirm_reset(older, "another-pass-3", CLIENT)


def test_a_reset_token_valid_for_one_hour(identity):
    identity.actor("ann@example.com")
    reset_token(identity)
    (row,) = [row for row in identity.token_repo.rows.values() if row.purpose == PASSWORD_RESET]
    assert timedelta(minutes=59) < row.expires_at - utcnow() <= timedelta(hours=1)
