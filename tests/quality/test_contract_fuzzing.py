"""Contract fuzzing: Schemathesis drives every documented operation of the app's own /openapi.json.

Each operation gets valid and invalid inputs (wrong types, unknown fields, missing fields), sent
with a logged-in global admin's bearer token, and every response must: not be a 5xx, have a
documented status code and content type, match the documented schema, and reject invalid input
with a 4xx. Part of the valid examples aim at the user's real resources (a talk, a file, a
workflow...) instead of random ids, so the handlers behind the 404s run too.

The CI run is bounded and deterministic (FUZZ_MAX_EXAMPLES per operation, fixed seed, no
shrinking); `python -m bench.fuzz` runs the same test with many more examples. Each operation is
a pytest subtest (schemathesis' own `from_fixture` loader needs pytest < 9's node internals).
"""
from __future__ import annotations

import os
from collections import Counter

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
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

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "20"))
SEED = int(os.environ.get("FUZZ_SEED", "20260131"))
# 4xx that reject invalid input; 413 too (an oversized body is refused before it is parsed).
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
# Operations after which the fuzzing user's token may have stopped working (logout, password,
# sessions, admin changing its own role or activity).
SESSION_ENDING_PREFIXES = ("/api/v1/auth", "/api/v1/admin", "/api/login")

app = shared_app(**QUALITY_SETTINGS)


@schemathesis.check
def invalid_input_rejected(ctx, response, case):
    """negative_data_rejection, except for a form field mutated into an empty list: a multipart
    body cannot carry it, so the request that left was valid (a false alarm)."""
    if (case.media_type == "multipart/form-data" and isinstance(case.body, dict)
            and any(value == [] for value in case.body.values())):
        return None
    return negative_data_rejection(ctx, response, case)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, invalid_input_rejected]


def is_websocket(operation) -> bool:
    """WebSocket pseudo-operations: documented only as a 101 upgrade, not HTTP request/response."""
    return "101" in operation.definition.raw.get("responses", {})


@pytest.fixture(scope="module")
def api_schema(app):
    config = schemathesis.Config(seed=SEED)
    # The bearer token is sent by the test, so Schemathesis must not treat the Authorization
    # header as an input of its own to drop or garble.
    project = config.projects.default
    project.generation.update(deterministic=True, no_shrink=True, with_security_parameters=False)
    project.checks.negative_data_rejection.expected_statuses = REJECTIONS
    return schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)


def documented_operations(api_schema) -> list:
    return [result.ok() for result in api_schema.get_all_operations()
            if not is_websocket(result.ok())]


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

    def real_ids(self, operation) -> dict[str, str]:
        names = [p.name for p in operation.path_parameters]
        return {name: self.world[name] for name in names if name in self.world}

    def settle(self, case, response) -> None:
        """Start again with a fresh user or world when an example ended the session or deleted
        one of the world's resources."""
        if case.method.upper() == "GET":
            return
        if case.path.startswith(SESSION_ENDING_PREFIXES):
            if self.api.client.get("/api/v1/auth/me", headers=self.headers).status_code != 200:
                self.renew()
                return
        real = set(self.world.values())
        if (case.method.upper() == "DELETE" and response.status_code < 300
                and real & set(map(str, (case.path_parameters or {}).values()))):
            self.world = seed_world(self.api, self.session)


def cases_for(operation, user: FuzzingUser):
    """Valid requests aimed at real resources, valid requests with generated ids, and invalid
    requests (wrong types, unknown or missing fields)."""
    strategies = [operation.as_strategy(GenerationMode.POSITIVE),
                  operation.as_strategy(GenerationMode.NEGATIVE)]
    real_ids = user.real_ids(operation)
    if real_ids:
        strategies.insert(0, operation.as_strategy(GenerationMode.POSITIVE,
                                                   path_parameters=real_ids))
    return st.one_of(strategies)


def fuzz(operation, user: FuzzingUser) -> int:
    """Run FUZZ_MAX_EXAMPLES examples of one operation; return how many were sent."""
    sent = 0

    @hypothesis.seed(SEED)
    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
              print_blob=False)
    @hypothesis.given(case=cases_for(operation, user))
    def run(case):
        nonlocal sent
        sent += 1
        response = case.call_and_validate(headers=user.headers, checks=CHECKS)
        user.settle(case, response)

    run()
    return sent


@pytest.mark.timeout(1200)  # ~100 operations x 20 examples: minutes, past pytest.ini's 300 s
def test_every_documented_operation_keeps_its_contract(app, api_schema, subtests, request):
    user = FuzzingUser(app)
    operations = documented_operations(api_schema)
    sent: Counter[str] = Counter()
    for operation in operations:
        with subtests.test(operation.label):
            try:
                sent[operation.label] = fuzz(operation, user)
            except hypothesis.errors.Unsatisfiable:
                pytest.fail(f"{operation.label}: no valid example could be generated")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"contract fuzzing: {len(operations)} operations, "
                            f"{sum(sent.values())} examples")
    assert len(operations) > 80  # the spec is loaded, not an empty shell
