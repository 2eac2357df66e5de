"""The project's flask-smorest Blueprint.

webargs builds a new Schema from a Schema class on every request, deep-copying each of its
fields (6% of a `/v1/chat/completions` call's CPU, py-spy under bench.gateway_overhead); given an
instance it reuses it. marshmallow 4 schemas keep no per-load state, so one instance per route
serves every request thread.
"""
from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint as SmorestBlueprint


class Blueprint(SmorestBlueprint):
    def arguments(self, schema: Any, **options: Any) -> Any:
        """flask-smorest's `arguments`, with a Schema class made into one instance here."""
        return super().arguments(schema() if isinstance(schema, type) else schema, **options)
