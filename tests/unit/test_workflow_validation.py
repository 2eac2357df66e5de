from __future__ import annotations

import pytest

from adapters.jinja_sandbox import SandboxedTemplates
from adapters.json_query import JsonPathQuery
from adapters.json_schema import JsonSchemaValidator
from entities.errors import ValidationFailed
from entities.workflow import Edge, Graph, Node
from tests.support.sandbox import SANDBOX
from use_cases.workflows.nodes.registry import NODE_TYPES, catalogue
from use_cases.workflows.validation import WorkflowValidator, check_inputs


@pytest.fixture(scope="module")
def validator():
    return WorkflowValidator(JsonSchemaValidator(), SandboxedTemplates(SANDBOX), JsonPathQuery(SANDBOX))


def start(*names):
    return Node("start", "input", config={"fields": [{"name": n, "type": "string"} for n in names]})


def problems(validator, graph) -> dict:
    with pytest.raises(ValidationFailed) as raised:
        validator.check(graph)
    return raised.value.details


def test_a_well_formed_workflow_passes(validator):
    graph = Graph([start("topic"),
                   Node("draft", "llm", config={"model": "openai/x", "prompt": "About {{ topic }}",
                                               "retry": {"max_attempts": 3, "backoff_s": 1},
                                               "timeout_s": 20}),
                   Node("check", "condition", config={"value": "{{ draft.output }}",
                                                     "operator": "not_empty"}),
                   Node("done", "output", config={"outputs": {"text": "{{ draft.output }}"}})],
                  [Edge("start", "draft"), Edge("draft", "check"), Edge("check", "done", True)])
    validator.check(graph)


def test_duplicate_node_ids_are_reported_on_that_node(validator):
    graph = Graph([start(), Node("start", "template", config={"template": "x"})])
    assert "Another node has this id." in problems(validator, graph)["nodes"]["start"]


def test_an_edge_to_a_missing_node_is_reported_by_its_index(validator):
    graph = Graph([start(), Node("t", "template", config={"template": "x"})],
                  [Edge("start", "t"), Edge("t", "ghost")])
    details = problems(validator, graph)
    assert details["edges"] == {"1": ["target 'ghost' is not a node of this workflow."]}


def test_a_cycle_is_reported_with_its_path(validator):
    graph = Graph([Node(n, "template", config={"template": "x"}) for n in "abc"],
                  [Edge("a", "b"), Edge("b", "c"), Edge("c", "a")])
    (message,) = problems(validator, graph)["graph"]
    assert "cycle" in message and "a -> b -> c -> a" in message


def test_config_is_checked_against_the_node_types_schema_and_unknown_keys_are_refused(validator):
    graph = Graph([Node("ask", "llm", config={"prompt": "hi", "temprature": 0.5,
                                               "retry": {"max_attempts": 0}})])
    messages = problems(validator, graph)["nodes"]["ask"]
    assert any("'model' is a required property" in m for m in messages)
    assert any("'temprature' was unexpected" in m for m in messages)
    assert any(m.startswith("config: retry.max_attempts") for m in messages)


def test_an_unknown_node_type_is_refused(validator):
    details = problems(validator, Graph([Node("x", "shell", config={})]))
    assert details["nodes"]["x"] == ["Unknown node type 'shell'."]


def test_a_reference_to_a_node_that_is_not_upstream_is_refused(validator):
    graph = Graph([start("q"), Node("a", "template", config={"template": "{{ b.output }}"}),
                   Node("b", "template", config={"template": "{{ q }}"})],
                  [Edge("start", "a"), Edge("start", "b")])
    assert any("'b' is not upstream" in m for m in problems(validator, graph)["nodes"]["a"])


def test_a_reference_to_an_undeclared_input_is_refused(validator):
    graph = Graph([start("q"), Node("a", "template", config={"template": "{{ question }}"})],
                  [Edge("start", "a")])
    assert any("neither an input field nor a node id" in m
               for m in problems(validator, graph)["nodes"]["a"])


def test_a_broken_template_is_refused_before_it_is_saved(validator):
    graph = Graph([Node("a", "template", config={"template": "{{ oops"})])
    assert any("syntax" in m for m in problems(validator, graph)["nodes"]["a"])


def test_condition_edges_must_say_which_branch_they_are(validator):
    graph = Graph([Node("c", "condition", config={"value": 1, "operator": "gt", "compare_to": 0}),
                   Node("t", "template", config={"template": "x"})], [Edge("c", "t")])
    assert "condition: true" in problems(validator, graph)["edges"]["0"][0]


def test_a_comparison_needs_something_to_compare_to(validator):
    graph = Graph([Node("c", "condition", config={"value": 1, "operator": "gt"})])
    assert any("compare_to" in m for m in problems(validator, graph)["nodes"]["c"])


def test_an_output_node_needs_an_incoming_edge_and_an_input_node_none(validator):
    graph = Graph([start(), Node("t", "template", config={"template": "x"}),
                   Node("done", "output", config={})], [Edge("t", "start")])
    details = problems(validator, graph)
    assert "An output node needs at least one incoming edge." in details["nodes"]["done"]
    assert "Nothing can lead into an input node." in details["edges"]["0"]


def test_a_malformed_jsonpath_is_refused(validator):
    graph = Graph([Node("x", "json_extract", config={"source": "{}", "path": "$..[[["})])
    assert any("JSONPath" in m for m in problems(validator, graph)["nodes"]["x"])


def test_every_node_type_publishes_a_strict_config_schema():
    types = {entry["type"]: entry for entry in catalogue()}
    assert set(types) == {"input", "llm", "template", "condition", "http_request",
                          "json_extract", "file_text", "agent", "output"}
    for entry in types.values():
        schema = entry["config_schema"]
        assert schema["additionalProperties"] is False
        assert {"timeout_s", "retry"} <= set(schema["properties"])
    assert NODE_TYPES["llm"].config_schema["required"] == ["model", "prompt"]


def test_inputs_are_checked_against_the_input_fields():
    graph = Graph([Node("start", "input", config={"fields": [
        {"name": "n", "type": "number", "required": True},
        {"name": "tag", "type": "string"}]})])
    assert check_inputs(graph, {"n": 2}) == {"n": 2}
    with pytest.raises(ValidationFailed) as raised:
        check_inputs(graph, {"n": "two", "extra": 1})
    assert raised.value.details == {"inputs": {"n": ["Must be a number."],
                                               "extra": ["Unknown input field."]}}
    with pytest.raises(ValidationFailed):
        check_inputs(graph, {"tag": "x"})
