from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from use_cases.shared.ports import Encryptor


class FernetEncryptor(Encryptor):
    """Fernet (AES-128-CBC + HMAC-SHA256) under ENCRYPTION_KEY.

    ENCRYPTION_KEY may list several keys separated by commas: the first encrypts, all decrypt, so
    a key can be rotated without losing what was stored under the previous one."""

    def __init__(self, keys: str):
        try:
            self.fernet = MultiFernet([Fernet(key.strip().encode()) for key in keys.split(",")
                                       if key.strip()])
        except ValueError:  # not 32 url-safe base64-encoded bytes, or no key at all
            raise ValueError(
                "ENCRYPTION_KEY must be one or more Fernet keys separated by commas; generate one "
                "with: python -c \"from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())\"") from None

    def encrypt(self, plaintext: str) -> str:
        return self.fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self.fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise ValueError("ciphertext not made with a configured key") from None
