"""Changing a password, and resetting a forgotten one through a mailed single-use token."""
from __future__ import annotations

import logging
from datetime import timedelta

from entities.actor import Actor
from entities.errors import NotFound, ServiceUnavailable, ValidationFailed
from entities.user import normalise_email
from use_cases.identity.auth import ClientInfo, Sessions, check_password_strength
from use_cases.identity.email_verification import invalid_token
from use_cases.identity.mail_text import quoted
from use_cases.identity.one_time_tokens import PASSWORD_RESET, OneTimeTokens
from use_cases.identity.ports import Mailer, PasswordHasher, UserRepository
from use_cases.shared.ports import AuditLog

log = logging.getLogger(__name__)

RESET_TTL = timedelta(hours=1)


class Passwords:
    def __init__(self, users: UserRepository, hasher: PasswordHasher, sessions: Sessions,
                 tokens: OneTimeTokens, mailer: Mailer, audit: AuditLog):
        self.users = users
        self.hasher = hasher
        self.sessions = sessions
        self.tokens = tokens
        self.mailer = mailer
        self.audit = audit

    def change(self, actor: Actor, current_password: str, new_password: str) -> None:
        """Every other login session ends; the one making the change stays signed in."""
        user = self.users.get(actor.user_id)
        if user is None:
            raise NotFound("User not found")
        if not self.hasher.verify(current_password, user.password_hash):
            self.audit.record("auth.password_change_failed", user.id, "user", user.id, ip=actor.ip)
            raise ValidationFailed("Current password is incorrect",
                                   {"current_password": ["Incorrect password."]})
        check_password_strength(new_password, user.email, field="new_password")
        self.users.update(user.id, password_hash=self.hasher.hash(new_password))
        self.sessions.revoke_all(user.id, except_session=actor.session_id)
        self.audit.record("auth.password_changed", user.id, "user", user.id, ip=actor.ip)

    def request_reset(self, email: str, client: ClientInfo) -> None:
        """Same outcome whether or not the account exists, so it reveals nothing."""
        user = self.users.get_by_email(normalise_email(email))
        if user is None or not user.is_active:
            return
        token = self.tokens.issue(PASSWORD_RESET, user.id, RESET_TTL)
        body = ("Hello,\n\nSomeone asked to reset the password of the SynapScale account "
                f"{quoted(user.name)} of this address. If it was you, use this code within one "
                f"hour:\n\n{token}\n\nSend it with your new password to POST "
                "/api/v1/auth/password-reset/confirm. If it was not you, ignore this message.\n")
        try:
            self.mailer.send(user.email, "Reset your password", body, token=token)
        except ServiceUnavailable:
            log.warning("password reset mail not sent", extra={"fields": {"user_id": user.id}})
        self.audit.record("auth.password_reset_requested", user.id, "user", user.id, ip=client.ip)

    def confirm_reset(self, token: str, new_password: str, client: ClientInfo) -> None:
        """Spends the token, sets the password, ends every login session of the account."""
        user_id = self.tokens.peek(PASSWORD_RESET, token)
        user = self.users.get(user_id) if user_id else None
        if user is None or not user.is_active:
            raise invalid_token()
        # checked before spending the token, so a weak choice does not cost the user their link
        check_password_strength(new_password, user.email, field="new_password")
        if self.tokens.redeem(PASSWORD_RESET, token) != user.id:
            raise invalid_token()
        # receiving the mail proves the address, so it counts as verified too
        self.users.update(user.id, password_hash=self.hasher.hash(new_password), email_verified=True)
        self.tokens.discard_all(user.id, PASSWORD_RESET)
        self.sessions.revoke_all(user.id)
        self.audit.record("auth.password_reset", user.id, "user", user.id, ip=client.ip)
