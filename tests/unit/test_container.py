"""The container is the union of the platform and the areas' use cases, under flat names."""
from dataclasses import dataclass, fields

import pytest

from bootstrap.container import Container, Platform


def test_each_name_of_the_container_is_provided_by_one_part_only():
    parts = [base for base in Container.__mro__[1:] if base is not object]
    names = [field.name for part in parts for field in fields(part)]
    assert Platform in parts and len(parts) == 9
    assert len(names) == len(set(names)) == len(fields(Container))


def test_parts_that_provide_the_same_name_are_refused():
    @dataclass(frozen=True)
    class Talking:
        talks: object

    with pytest.raises(TypeError, match="two parts of the container provide 'talks'"):
        Container.of(Talking(1), Talking(2))
