import bcrypt

from use_cases.identity.ports import PasswordHasher


class BcryptHasher(PasswordHasher):
    def __init__(self, rounds: int = 12):
        self.rounds = rounds

    def hash(self, password: str) -> str:
        # bcrypt reads at most 72 bytes; longer inputs are refused by bcrypt 5, so cut explicitly.
        return bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(self.rounds)).decode()

    def verify(self, password: str, hashed: str) -> bool:
        try:
            return bcrypt.checkpw(password.encode()[:72], hashed.encode())
        except ValueError:
            return False
