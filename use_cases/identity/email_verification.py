"""Proving a user owns their e-mail address with a mailed single-use token."""
from __future__ import annotations

from datetime import timedelta

from entities.errors import NotFound, ValidationFailed
from entities.user import User
from use_cases.identity.mail_text import quoted
from use_cases.identity.one_time_tokens import EMAIL_VERIFICATION, OneTimeTokens
from use_cases.identity.ports import Mailer, UserRepository
from use_cases.shared.ports import AuditLog

VERIFICATION_TTL = timedelta(hours=48)


def invalid_token() -> ValidationFailed:
    return ValidationFailed("Invalid or expired token", {"token": ["Invalid or expired token."]})


class EmailVerification:
    """Mail subjects are fixed; the user's name appears quoted and inert (mail_text), never first."""

    def __init__(self, users: UserRepository, tokens: OneTimeTokens, mailer: Mailer,
                 audit: AuditLog):
        self.users = users
        self.tokens = tokens
        self.mailer = mailer
        self.audit = audit

    def send(self, user: User) -> None:
        if user.email_verified:
            return
        token = self.tokens.issue(EMAIL_VERIFICATION, user.id, VERIFICATION_TTL)
        body = ("Hello,\n\nConfirm your e-mail address for SynapScale with this code (valid for 48 "
                f"hours):\n\n{token}\n\nSend it to POST /api/v1/auth/verify-email.\n\n"
                f"The account was registered with the name {quoted(user.name)}. If you did not "
                "register it, ignore this message: nothing happens without the code.\n")
        self.mailer.send(user.email, "Confirm your e-mail address", body, token=token)

    def resend(self, user_id: str) -> None:
        user = self.users.get(user_id)
        if user is None:
            raise NotFound("User not found")
        self.send(user)

    def verify(self, token: str) -> None:
        user_id = self.tokens.redeem(EMAIL_VERIFICATION, token)
        if user_id is None or self.users.update(user_id, email_verified=True) is None:
            raise invalid_token()
        self.tokens.discard_all(user_id, EMAIL_VERIFICATION)
        self.audit.record("auth.email_verified", user_id, "user", user_id)
