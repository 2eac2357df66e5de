"""How controllers reach the use cases that create_app wired."""
from __future__ import annotations

from typing import Any

from flask import current_app


def use_cases() -> Any:
    return current_app.extensions["synapscale"]


def settings() -> Any:
    return current_app.extensions["synapscale"].settings
