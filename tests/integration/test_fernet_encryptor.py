import pytest
from cryptography.fernet import Fernet

from adapters.encryption import FernetEncryptor


def test_round_trip_and_rotation_to_a_new_key():
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = FernetEncryptor(old_key).encrypt("sk-secret")
    rotated = FernetEncryptor(f"{new_key},{old_key}")
    assert rotated.decrypt(stored) == "sk-secret"
    assert FernetEncryptor(new_key).decrypt(rotated.encrypt("sk-secret")) == "sk-secret"


def test_a_foreign_ciphertext_is_a_value_error():
    with pytest.raises(ValueError):
        FernetEncryptor(Fernet.generate_key().decode()).decrypt("not-a-token")


def test_a_malformed_key_is_refused_with_instructions():
    with pytest.raises(ValueError, match="generate one"):
        FernetEncryptor("change-me")
