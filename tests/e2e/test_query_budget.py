"""MongoDB commands per authenticated request, counted with pymongo command monitoring.

The app's own database work (token revocation check + the route's data) must stay within 2
commands; the rate limiter's counter commands are reported apart."""
import threading
from collections import Counter

import pytest
from pymongo import monitoring

from app import create_app, shutdown
from tests.conftest import make_settings
from tests.support.api import ApiClient

RATE_LIMIT_COLLECTIONS = {"ratelimit_counters", "ratelimit_windows"}


class CommandCounter(monitoring.CommandListener):
    """Counts commands started by the thread that is recording (the test client's)."""

    def __init__(self):
        self.thread: int | None = None
        self.commands: list[tuple[str, str]] = []

    def started(self, event):
        if threading.get_ident() == self.thread:
            target = event.command.get(event.command_name)
            self.commands.append((event.command_name, target if isinstance(target, str) else ""))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass

    def measure(self, call):
        self.commands, self.thread = [], threading.get_ident()
        try:
            response = call()
        finally:
            self.thread = None
        assert response.status_code == 200, response.get_json()
        app = [c for c in self.commands if c[1] not in RATE_LIMIT_COLLECTIONS]
        limiter = [c for c in self.commands if c[1] in RATE_LIMIT_COLLECTIONS]
        return app, limiter


@pytest.fixture
def counted(mongo_uri):
    counter = CommandCounter()
    settings = make_settings(mongo_uri)
    app = create_app(settings, mongo_listeners=[counter])
    yield ApiClient(app.test_client()), counter
    shutdown(app.extensions["synapscale"])
    app.extensions["synapscale"].client.drop_database(settings.mongodb_database)


@pytest.mark.parametrize("path", ["/api/v1/auth/me", "/api/v1/workspaces"])
def test_an_authenticated_read_costs_at_most_two_database_commands(counted, path, capsys):
    api, counter = counted
    session = api.register()
    api.request("GET", path, session)  # warm-up: the limiter creates its indexes once
    app, limiter = counter.measure(lambda: api.request("GET", path, session))
    assert len(app) <= 2, app
    assert len(limiter) <= 1, limiter
    with capsys.disabled():
        print(f"\n{path}: {len(app)} app commands {Counter(app)}; "
              f"{len(limiter)} rate-limit commands {Counter(limiter)}")
