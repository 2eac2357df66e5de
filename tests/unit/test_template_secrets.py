"""Publishing a workflow as a template (issue 16 #8): every string read for what it is and passed
through detect-secrets (behind the SecretDetector port) plus the header-name rules; what goes
becomes a named placeholder, which installs and saves, but keeps the workflow from running."""
from __future__ import annotations

import json

import pytest

from adapters.jinja_sandbox import SandboxedTemplates
from adapters.json_query import JsonPathQuery
from adapters.json_schema import JsonSchemaValidator
from adapters.sandbox import ProcessSandbox
from adapters.secret_detector import DetectSecretsDetector
from entities.errors import LimitExceeded, ValidationFailed
from entities.workflow import Edge, Graph, Node
from tests.support.sandbox import SANDBOX
from use_cases.workflows.secret_stripping import (
    SecretStripper,
    expression_spans,
    is_secret_header,
    placeholders_in,
    without_expressions,
)
from use_cases.workflows.template_sanitizer import strip_secrets
from use_cases.workflows.validation import WorkflowValidator, unfilled_secrets

GITHUB_TOKEN = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
SLACK_WEBHOOK = "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/" + "abcDEF123ghiJKL456mnoPQR7"
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"


@pytest.fixture(scope="module")
def detector():
    return DetectSecretsDetector(SANDBOX)


def http(node_id="call", **config) -> Node:
    return Node(node_id, "http_request", config={"method": "POST", "url": "https://x.example/",
                                                 **config})


def published(detector, *nodes: Node) -> dict[str, dict]:
    graph = strip_secrets(Graph(list(nodes), []), detector, "ws1")
    return {node.id: node.config for node in graph.nodes}


def test_the_issues_examples_all_become_placeholders(detector):
    config = published(detector, http(
        url=SLACK_WEBHOOK,
        headers={"Ocp-Apim-Subscription-Key": "k", "X-Build-Thing": GITHUB_TOKEN,
                 "Accept": "application/json"},
        body='{"password": "hunter2", "user": "ada"}'))["call"]
    assert config["headers"] == {
        "Ocp-Apim-Subscription-Key": "{{ secret.header_ocp_apim_subscription_key }}",
        "X-Build-Thing": "{{ secret.header_x_build_thing }}", "Accept": "application/json"}
    assert json.loads(config["body"]) == {"password": "{{ secret.body_password }}", "user": "ada"}
    assert config["url"] == "{{ secret.url }}"


@pytest.mark.parametrize("name", ["Authorization", "X-Api-Key", "Ocp-Apim-Subscription-Key",
                                  "X-Functions-Key", "x-goog-api-key", "X-Auth-Token",
                                  "X-Client-Secret", "Proxy-Password", "Cookie", "PRIVATE-TOKEN"])
def test_header_names_that_say_credential(name):
    assert is_secret_header(name)


@pytest.mark.parametrize("name", ["Accept", "Content-Type", "User-Agent", "X-Request-ID"])
def test_ordinary_header_names(name):
    assert not is_secret_header(name)


def test_values_the_detector_knows_go_whatever_their_name(detector):
    config = published(detector, http(
        url=f"https://x.example/v1?page=2&sig_v={AWS_KEY}&q=cats",
        headers={"X-Trace": GITHUB_TOKEN, "X-Other": AWS_KEY},
        body={"note": f"token {GITHUB_TOKEN}", "nested": {"pwd": "hunter2"}, "n": 3}))["call"]
    assert config["headers"] == {"X-Trace": "{{ secret.header_x_trace }}",
                                 "X-Other": "{{ secret.header_x_other }}"}
    assert config["url"] == "https://x.example/v1?page=2&sig_v={{ secret.header_x_other }}&q=cats"
    assert config["body"] == {"note": "{{ secret.body_note }}",  # a value holding one goes whole
                              "nested": {"pwd": "{{ secret.body_nested_pwd }}"}, "n": 3}


def test_form_bodies_url_credentials_and_template_text(detector):
    configs = published(
        detector,
        http(url="https://ada:hunter2@x.example/login",
             body="grant_type=password&client_secret=abc123&scope=read"),
        Node("note", "template", config={"template": f"curl -H 'X: {GITHUB_TOKEN}' {{{{ name }}}}"}),
        Node("ask", "llm", config={"model": "m", "prompt": "key sk-abcdefghijklmnopqrstu please"}))
    assert configs["call"]["url"] == "https://ada:{{ secret.url_password }}@x.example/login"
    assert configs["call"]["body"] == \
        "grant_type=password&client_secret={{ secret.body_client_secret }}&scope=read"
    assert configs["note"]["template"] == "curl -H 'X: {{ secret.note_template }}' {{ name }}"
    assert configs["ask"]["prompt"] == "key {{ secret.ask_prompt }} please"


def test_expressions_and_ordinary_values_are_kept_as_written(detector):
    config = published(detector, http(
        url="https://x.example/items?page={{ page }}&q=hello+world",
        headers={"Authorization": "Bearer {{ token }}", "Accept": "application/json"},
        body='{"query": "cats", "limit": 3}'))["call"]
    assert config["url"] == "https://x.example/items?page={{ page }}&q=hello+world"
    assert config["headers"] == {"Authorization": "Bearer {{ token }}",
                                 "Accept": "application/json"}
    assert config["body"] == '{"query": "cats", "limit": 3}'


def test_two_different_secrets_never_share_a_name(detector):
    configs = published(detector, http("a", headers={"X-Api-Key": "one"}),
                        http("b", headers={"X-Api-Key": "two"}),
                        http("c", headers={"X-Api-Key": "one"}))
    assert [configs[n]["headers"]["X-Api-Key"] for n in "abc"] == [
        "{{ secret.header_x_api_key }}", "{{ secret.header_x_api_key_2 }}",
        "{{ secret.header_x_api_key }}"]


def test_stripping_twice_changes_nothing_more(detector):
    once = strip_secrets(Graph([http(headers={"X-Api-Key": "k"}, body={"password": "p"})], []),
                         detector, "ws1")
    again = strip_secrets(once, detector, "ws1")
    assert again.nodes[0].config == once.nodes[0].config


def test_placeholders_save_but_the_workflow_does_not_run_until_filled_in(detector):
    graph = strip_secrets(Graph([
        Node("start", "input", config={"fields": [{"name": "q", "type": "string"}]}),
        http(url="https://x.example/?q={{ q }}", headers={"X-Api-Key": "k"}),
        Node("done", "output", config={})], [Edge("start", "call"), Edge("call", "done")]),
        detector, "ws1")
    WorkflowValidator(JsonSchemaValidator(), SandboxedTemplates(SANDBOX),
                      JsonPathQuery(SANDBOX)).check(graph)
    assert unfilled_secrets(graph) == ["header_x_api_key"]
    graph.nodes[1].config["headers"]["X-Api-Key"] = "mine"
    assert unfilled_secrets(graph) == []


def test_secret_is_only_a_placeholder_namespace(detector):
    validator = WorkflowValidator(JsonSchemaValidator(), SandboxedTemplates(SANDBOX), JsonPathQuery(SANDBOX))
    graph = Graph([Node("t", "template", config={"template": "{{ secret }} {{ secret.a }}"})], [])
    with pytest.raises(ValidationFailed) as raised:
        validator.check(graph)
    assert "placeholders" in str(raised.value.details)


def test_placeholders_are_found_anywhere_in_a_config():
    stripper = SecretStripper(DetectSecretsDetector(SANDBOX), "ws1")
    value = {"a": [stripper.placeholder("x", "1"), {"b": stripper.placeholder("y", "2")}]}
    assert placeholders_in(value) == ["x", "y"]


def test_expression_spans_are_found_in_linear_time_even_when_nothing_closes():
    """A published template is user text: 100,000 `{{` used to cost a quadratic regex 25 s."""
    hostile = "{{" * 50_000 + "{%" * 50_000 + "}}"
    assert expression_spans(hostile) == [(0, len(hostile))]
    assert expression_spans("a {{ b }} c {% if d %} e {{ f") == [(2, 9), (12, 22)]
    assert without_expressions("Bearer {{ token }}") == "Bearer "


def test_a_body_nested_deeper_than_python_parses_is_read_as_text():
    stripper = SecretStripper(DetectSecretsDetector(SANDBOX), "ws1")
    deep = "[" * 5000 + "]" * 5000
    assert stripper.body(deep) == deep


@pytest.mark.parametrize("text", [
    "AKIA" * 25_000,
    ("ghp_" + "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8") * 2_500,
], ids=["glued AWS key ids", "glued GitHub tokens"])
def test_a_text_of_glued_tokens_is_read_once(detector, text):
    """Each finding used to be widened by walking its token, once per finding and occurrence:
    `AKIA` * 2,000 took 83 s, so these 100,000 characters would hold a publish for days. Now
    the whole token is one secret, found once."""
    assert detector.find(text, "ws1") == [(0, len(text))]
    cleaned = SecretStripper(detector, "ws1").text("{{ a }} " * 10_000 + text, "prompt")
    assert cleaned.endswith("{{ secret.prompt }}")


def test_a_scan_too_costly_for_the_sandbox_is_stopped_not_run_in_the_api_process():
    """Some detect-secrets rules are quadratic on glued tokens: the scan meets the sandbox's
    limit (here 1 s) and publishing fails with LimitExceeded, a 422, instead of holding a core."""
    sandbox = ProcessSandbox(workers=1, timeout_s=1)
    try:
        with pytest.raises(LimitExceeded):
            DetectSecretsDetector(sandbox).find(("sk-" + "A" * 12) * 100_000, "ws1")
    finally:
        sandbox.close()
