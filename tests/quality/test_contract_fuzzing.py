"""Contract fuzzing: Schemathesis drives every documented operation of the app's own /openapi.json.

Each operation gets valid and invalid inputs (wrong types, unknown fields, missing fields), sent
with a logged-in global admin's bearer token, and every response must: not be a 5xx, have a
documented status code and content type, match the documented schema, and reject invalid input
with a 4xx. Every other example aims at the user's real resources (a talk, a file, a workflow...)
instead of random ids, so the handlers behind the 404s run too.

The CI run is bounded and deterministic (FUZZ_MAX_EXAMPLES per operation, fixed seed, no
shrinking); `python -m bench.fuzz` runs the same test with many more examples.
"""
from __future__ import annotations

import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.quality.world import QUALITY_SETTINGS, seed_world
from tests.support.api import ApiClient
from tests.support.identity import make_admin, shared_app

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
SEED = int(os.environ.get("FUZZ_SEED", "20260131"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]
# Operations after which the fuzzing user's token may have stopped working (logout, password,
# sessions, admin changing its own role or activity).
SESSION_ENDING_PREFIXES = ("/api/v1/auth", "/api/v1/admin", "/api/login")

app = shared_app(**QUALITY_SETTINGS)
examples: Counter[str] = Counter()


def is_websocket(ctx) -> bool:
    """WebSocket pseudo-operations: documented only as a 101 upgrade, not HTTP request/response."""
    return "101" in ctx.operation.definition.raw.get("responses", {})


@pytest.fixture(scope="module")
def api_schema(app):
    config = schemathesis.Config(seed=SEED)
    project = config.projects.get_default()
    project.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                              max_examples=MAX_EXAMPLES, deterministic=True, no_shrink=True)
    project.phases.update(phases=["examples", "fuzzing"])
    return schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)


class FuzzingUser:
    """A global admin (admin routes run, not just 403) with a world of resources to aim at."""

    def __init__(self, app):
        self.api = ApiClient(app.test_client())
        self.db = app.extensions["synapscale"].db
        self.renew()

    def renew(self) -> None:
        self.session = make_admin(self.api, self.db)
        self.world = seed_world(self.api, self.session)

    @property
    def headers(self) -> dict:
        return self.session.headers

    def aim(self, case) -> bool:
        """Every other valid example uses the user's real ids for the path parameters."""
        examples[case.operation.label] += 1
        positive = case.meta is None or case.meta.generation.mode is GenerationMode.POSITIVE
        if not (positive and examples[case.operation.label] % 2) or not case.path_parameters:
            return False
        for name in case.path_parameters:
            if name in self.world:
                case.path_parameters[name] = self.world[name]
        return True

    def settle(self, case, response, aimed: bool) -> None:
        """Start again with a fresh user or world when an example ended the session or deleted
        one of the world's resources."""
        if case.method.upper() == "GET":
            return
        if case.path.startswith(SESSION_ENDING_PREFIXES):
            if self.api.client.get("/api/v1/auth/me", headers=self.headers).status_code != 200:
                self.renew()
                return
        if aimed and case.method.upper() == "DELETE" and response.status_code < 300:
            self.world = seed_world(self.api, self.session)


@pytest.fixture(scope="module")
def fuzzing_user(app, request):
    user = FuzzingUser(app)
    yield user
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"contract fuzzing: {len(examples)} operations, "
                            f"{sum(examples.values())} examples")


schema = schemathesis.pytest.from_fixture("api_schema").exclude(is_websocket)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), print_blob=False)
def test_every_documented_operation_keeps_its_contract(case, fuzzing_user):
    aimed = fuzzing_user.aim(case)
    response = case.call_and_validate(headers=fuzzing_user.headers, checks=CHECKS)
    fuzzing_user.settle(case, response, aimed)
