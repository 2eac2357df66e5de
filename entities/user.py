from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class GlobalRole(str, Enum):
    ADMIN = "admin"
    ANALYST = "analyst"
    USER = "user"


@dataclass
class User:
    id: str
    email: str
    name: str
    password_hash: str
    role: GlobalRole = GlobalRole.USER
    is_active: bool = True
    email_verified: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == GlobalRole.ADMIN


def normalise_email(email: str) -> str:
    return email.strip().lower()
