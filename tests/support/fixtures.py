"""Fixtures for the mock model provider (loaded by tests/conftest.py as a pytest plugin).

One mock server per test session. `make_settings` points every app at it through
`mock_catalogue_path()`, so no test reaches the internet or the slow local model.
conftest imports this module before pytest loads it as a plugin: PYTEST_DONT_REWRITE.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support.mock_provider import FALLBACK, PRIMARY, MockProvider

MOCK_DEFAULT_MODEL = f"openai/{PRIMARY}"
MOCK_FALLBACK_MODEL = f"openai/{FALLBACK}"

_shared: dict = {}


def shared_mock_provider() -> MockProvider:
    if "server" not in _shared:
        _shared["server"] = MockProvider()
    return _shared["server"]


def mock_catalogue_path() -> Path:
    """models.yaml for the shared server: primary -> fallback, 5 s timeout, no retries."""
    if "catalogue" not in _shared:
        _shared["dir"] = Path(tempfile.mkdtemp(prefix="synapscale-models-"))
        _shared["catalogue"] = shared_mock_provider().write_catalogue(
            _shared["dir"] / "models.yaml", timeout=5.0, num_retries=0)
    return _shared["catalogue"]


@pytest.fixture(scope="session")
def mock_provider_server():
    yield shared_mock_provider()
    _shared.pop("server").close()
    shutil.rmtree(_shared.pop("dir", ""), ignore_errors=True)
    _shared.pop("catalogue", None)


@pytest.fixture
def mock_provider(mock_provider_server) -> MockProvider:
    """The shared mock, with default behaviour and no recorded requests."""
    mock_provider_server.reset()
    yield mock_provider_server
    mock_provider_server.reset()


@pytest.fixture
def models_yaml(mock_provider_server) -> Path:
    return mock_catalogue_path()
