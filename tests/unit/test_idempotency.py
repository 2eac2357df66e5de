"""Idempotent requests (use_cases/shared/idempotency.py) on the repository's fake."""
from __future__ import annotations

import pytest

from entities.idempotency import IdempotencyConflict, StoredResponse
from tests.fakes.database import on_mongomock
from tests.fakes.shared import MongomockIdempotencyRepository
from use_cases.shared.idempotency import Claim, IdempotentRequests, fingerprint, keeps

USER = "6560f0f0f0f0f0f0f0f0f0f0"


@pytest.fixture
def requests_():
    sleeps: list[float] = []
    service = IdempotentRequests(on_mongomock(MongomockIdempotencyRepository), wait_s=0.3,
                                 poll_s=0.05, sleep=sleeps.append)
    service.sleeps = sleeps  # type: ignore[attr-defined]
    return service


def test_the_fingerprint_ignores_field_order_and_sees_every_value():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    assert fingerprint({"a": "1"}) != fingerprint({"a": 1})


def test_a_repeat_gets_the_first_answer_and_runs_nothing(requests_):
    claim = requests_.begin(USER, "POST /x", "k", fingerprint({"a": 1}))
    assert isinstance(claim, Claim)
    claim.finish(StoredResponse(201, {"id": "1"}))
    assert requests_.begin(USER, "POST /x", "k", fingerprint({"a": 1})) == StoredResponse(
        201, {"id": "1"})


def test_the_same_key_with_another_body_is_an_idempotency_conflict(requests_):
    requests_.begin(USER, "POST /x", "k", fingerprint({"a": 1})).finish(StoredResponse(201, {}))
    with pytest.raises(IdempotencyConflict) as raised:
        requests_.begin(USER, "POST /x", "k", fingerprint({"a": 2}))
    assert raised.value.code == "idempotency_conflict"


def test_a_repeat_while_the_first_runs_waits_then_is_a_conflict(requests_):
    requests_.begin(USER, "POST /x", "k", "f")
    with pytest.raises(IdempotencyConflict, match="still being processed"):
        requests_.begin(USER, "POST /x", "k", "f")
    assert requests_.sleeps  # it waited for the first before giving up


def test_a_request_that_changed_nothing_releases_its_key(requests_):
    requests_.begin(USER, "POST /x", "k", "f").finish(StoredResponse(422, {}))
    assert isinstance(requests_.begin(USER, "POST /x", "k", "f"), Claim)


def test_which_answers_are_kept():
    assert [status for status in (200, 201, 202, 204, 400, 402, 404, 409, 422, 429, 500, 502,
                                  503, 504) if keeps(status)] == [200, 201, 202, 204, 502, 504]
