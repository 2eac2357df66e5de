from datetime import timedelta

import pytest

from entities.clock import utcnow
from entities.errors import (
    Conflict,
    InvalidCredentials,
    NotFound,
    ServiceUnavailable,
    TokenRevoked,
    ValidationFailed,
)
from entities.user import GlobalRole
from entities.workspace import WorkspaceRole
from tests.fakes.identity import Identity
from use_cases.identity.auth import ClientInfo

CLIENT = ClientInfo(ip="10.0.0.1", user_agent="pytest")


@pytest.fixture
def identity():
    return Identity()


def test_registration_creates_a_personal_workspace_owned_by_the_user(identity):
    result = identity.register("Ann@Example.com")
    assert result.user.email == "ann@example.com"
    workspace = identity.workspace_repo.get_personal(result.user.id)
    assert workspace.is_personal
    assert identity.memberships.get(workspace.id, result.user.id).role == WorkspaceRole.OWNER


def test_registration_mails_a_verification_token(identity):
    identity.register("ann@example.com")
    assert identity.mailer.last_token("ann@example.com")


def test_registration_survives_a_mail_outage(identity):
    identity.mailer.error = ServiceUnavailable("smtp down")
    assert identity.register("ann@example.com").user.id


def test_duplicate_email_in_another_case_conflicts(identity):
    identity.register("ann@example.com")
    with pytest.raises(Conflict):
        identity.register("ANN@example.com")


@pytest.mark.parametrize("password", ["short", "ann@example.com"])
def test_weak_passwords_are_refused(identity, password):
    with pytest.raises(ValidationFailed) as refused:
        identity.register("ann@example.com", password=password)
    assert "password" in refused.value.details


def test_unknown_email_and_wrong_password_fail_the_same_way(identity):
    identity.register("ann@example.com")
    with pytest.raises(InvalidCredentials):
        identity.accounts.login("nobody@example.com", "correct-horse-1", CLIENT)
    with pytest.raises(InvalidCredentials):
        identity.accounts.login("ann@example.com", "wrong-password", CLIENT)
    assert identity.audit.actions().count("auth.login_failed") == 2


def test_deactivated_user_cannot_log_in(identity):
    user = identity.register("ann@example.com").user
    identity.users.update(user.id, is_active=False)
    with pytest.raises(InvalidCredentials):
        identity.accounts.login("ann@example.com", "correct-horse-1", CLIENT)


def test_a_spent_refresh_token_revokes_its_session(identity):
    session = identity.register("ann@example.com").session
    identity.accounts.refresh(session.id, session.refresh_jti)
    with pytest.raises(TokenRevoked):
        identity.accounts.refresh(session.id, session.refresh_jti)
    assert not identity.sessions.is_active(session.id)


def test_logout_ends_the_session_and_the_one_of_a_handed_in_refresh_token(identity):
    ann = identity.actor("ann@example.com")
    other = identity.accounts.login("ann@example.com", "correct-horse-1", CLIENT).session
    identity.accounts.logout(ann, other.id)
    assert not identity.sessions.is_active(ann.session_id)
    assert not identity.sessions.is_active(other.id)


def test_logout_ignores_a_refresh_token_of_someone_else(identity):
    ann = identity.actor("ann@example.com")
    bob = identity.actor("bob@example.com")
    identity.accounts.logout(ann, bob.session_id)
    assert identity.sessions.is_active(bob.session_id)


def test_logout_all_ends_every_session(identity):
    ann = identity.actor("ann@example.com")
    identity.accounts.login("ann@example.com", "correct-horse-1", CLIENT)
    identity.accounts.logout_all(ann)
    assert identity.sessions.list_for(ann.user_id) == []


def test_a_user_can_revoke_only_their_own_sessions(identity):
    ann = identity.actor("ann@example.com")
    bob = identity.actor("bob@example.com")
    with pytest.raises(NotFound):
        identity.sessions.revoke_own(ann.user_id, bob.session_id)
    identity.sessions.revoke_own(ann.user_id, ann.session_id)
    with pytest.raises(NotFound):
        identity.sessions.revoke_own(ann.user_id, ann.session_id)


def test_expired_sessions_are_not_active(identity):
    ann = identity.actor("ann@example.com")
    row = identity.session_repo.rows[ann.session_id]
    identity.session_repo.rows[ann.session_id] = type(row)(
        **{**vars(row), "expires_at": utcnow() - timedelta(seconds=1)})
    assert not identity.sessions.is_active(ann.session_id)


def test_profile_update_changes_only_the_name(identity):
    ann = identity.actor("ann@example.com")
    user = identity.accounts.update_profile(ann, name="  Ann B. ")
    assert (user.name, user.role, user.email) == ("Ann B.", GlobalRole.USER, "ann@example.com")


def test_demo_accounts_may_bypass_the_password_rule(identity):
    user = identity.accounts.create_account("joao@example.com", "user123", "João",
                                            email_verified=True, enforce_password_rule=False)
    assert user.email_verified
    assert identity.accounts.login("joao@example.com", "user123", CLIENT).user.id == user.id


def test_email_verification_token_works_once(identity):
    ann = identity.actor("ann@example.com")
    token = identity.mailer.last_token("ann@example.com")
    identity.email_verification.verify(token)
    assert identity.accounts.me(ann.user_id).email_verified
    with pytest.raises(ValidationFailed):
        identity.email_verification.verify(token)


def test_resending_verification_to_a_verified_user_sends_nothing(identity):
    ann = identity.actor("ann@example.com")
    identity.email_verification.verify(identity.mailer.last_token("ann@example.com"))
    sent = len(identity.mailer.sent)
    identity.email_verification.resend(ann.user_id)
    assert len(identity.mailer.sent) == sent
