"""Single-use tokens mailed to users. Only a SHA-256 of each token is stored, so a copy of the
database cannot be used to reset anyone's password."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from entities.clock import utcnow
from use_cases.identity.ports import OneTimeTokenRepository

PASSWORD_RESET = "password_reset"  # noqa: S105 (a purpose label, not a password)
EMAIL_VERIFICATION = "email_verification"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class OneTimeTokens:
    def __init__(self, tokens: OneTimeTokenRepository):
        self.tokens = tokens

    def issue(self, purpose: str, user_id: str, ttl: timedelta) -> str:
        token = secrets.token_urlsafe(32)
        self.tokens.add(purpose, token_hash(token), user_id, utcnow() + ttl)
        return token

    def peek(self, purpose: str, token: str) -> str | None:
        return self.tokens.find_valid(purpose, token_hash(token))

    def redeem(self, purpose: str, token: str) -> str | None:
        return self.tokens.consume(purpose, token_hash(token))

    def discard_all(self, user_id: str, purpose: str) -> None:
        self.tokens.discard_all(user_id, purpose)
