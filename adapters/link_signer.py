"""Signed download links with itsdangerous (HMAC over the payload, URL-safe).

The expiry travels inside the signed payload and is checked by the use case against its clock.
"""
from __future__ import annotations

from itsdangerous import BadData, URLSafeSerializer

from use_cases.files.ports import LinkSigner


class SignedLinks(LinkSigner):
    def __init__(self, secret_key: str, salt: str = "synapscale.file-download"):
        self.serializer = URLSafeSerializer(secret_key, salt=salt)

    def sign(self, payload: dict) -> str:
        return self.serializer.dumps(payload)

    def load(self, token: str) -> dict | None:
        try:
            payload = self.serializer.loads(token)
        except (BadData, ValueError, RecursionError):  # altered, or not a payload `sign` wrote
            return None
        return payload if isinstance(payload, dict) else None
