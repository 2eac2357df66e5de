"""Every operation in /openapi.json says what it is (`summary`) and what it does (`description`),
including those documented by hand (the WebSocket and SSE helpers)."""
from __future__ import annotations

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def operations(spec: dict) -> dict[str, dict]:
    return {f"{method.upper()} {path}": operation for path, item in spec["paths"].items()
            for method, operation in item.items() if method in METHODS}


def test_every_operation_has_a_summary_and_a_description(client):
    spec = client.get("/openapi.json").get_json()
    documented = operations(spec)
    assert len(documented) > 50
    no_summary = sorted(name for name, op in documented.items() if not op.get("summary", "").strip())
    no_description = sorted(name for name, op in documented.items()
                            if not op.get("description", "").strip())
    assert no_summary == [], "operations without a summary"
    assert no_description == [], "operations without a description"


def test_summaries_are_one_short_line(client):
    spec = client.get("/openapi.json").get_json()
    long_or_multiline = sorted(name for name, op in operations(spec).items()
                               if "\n" in op.get("summary", "") or len(op.get("summary", "")) > 80)
    assert long_or_multiline == []
