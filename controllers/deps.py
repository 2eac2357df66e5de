"""How controllers reach what create_app built: the typed container of bootstrap/."""
from __future__ import annotations

from flask import current_app

from bootstrap.container import Container
from config.settings import Settings


def use_cases() -> Container:
    return current_app.extensions["synapscale"]


def settings() -> Settings:
    return use_cases().settings
