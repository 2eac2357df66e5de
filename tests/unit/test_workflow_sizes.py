"""The JSON size of run values is measured without building more than its limit of JSON."""
from __future__ import annotations

import json

import pytest

from entities.errors import LimitExceeded
from use_cases.workflows.sizes import SizeBudget, json_size


@pytest.mark.parametrize("value", [None, "é\"\n", 3.5, [1, {"a": [True, None]}], {"k": "v"}])
def test_the_size_is_that_of_json_dumps_below_the_limit(value):
    assert json_size(value, 10_000) == len(json.dumps(value, default=str))


def test_one_object_repeated_is_not_expanded_past_the_limit():
    """A million references to one 1 MB string: its JSON would be a terabyte."""
    big = "x" * 1_000_000
    assert json_size([big] * 1_000_000, 5_000_000) > 5_000_000


def test_a_value_nested_deeper_than_python_recurses_is_over_the_limit():
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    assert json_size(deep, 1_000_000) > 1_000_000


def test_a_budget_refuses_once_spent():
    budget = SizeBudget(10)
    budget.spend("abc")  # 5 bytes as JSON
    with pytest.raises(LimitExceeded) as spent:
        budget.spend("abcd")
    assert spent.value.code == "output_too_large"
