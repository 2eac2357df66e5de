from __future__ import annotations

import inspect
from typing import Any

import pytest

from adapters.jinja_sandbox import SandboxedTemplates
from adapters.json_query import JsonPathQuery
from adapters.secret_detector import DetectSecretsDetector
from entities.errors import ValidationFailed
from tests.fakes.gateway import llm_chat_without_models
from tests.fakes.shared import FakeOutboundHttp
from tests.fakes.workflows import FakeFileTexts, NoWorkflowAgents
from tests.support.sandbox import SANDBOX
from use_cases.workflows.nodes.base import NodeContext, NodeRole, NodeType, strict_schema
from use_cases.workflows.nodes.input import InputNode
from use_cases.workflows.nodes.output import OutputNode
from use_cases.workflows.nodes.registry import (
    NODE_TYPES,
    NodeHandlers,
    NodeRegistry,
    UnknownNodeType,
    catalogue,
)
from use_cases.workflows.ports import JsonQuery
from use_cases.workflows.secret_stripping import SecretStripper


class EchoNode(NodeType):
    type = "echo"
    title = "Echo"
    description = "Its config."
    output = "the config"
    config_schema = strict_schema({})
    role = NodeRole.STEP
    renders_itself = ()
    literal_keys = ()

    @classmethod
    def config_problems(cls, config: dict[str, Any], paths: JsonQuery) -> list[str]:
        return []

    @classmethod
    def publish(cls, config: dict[str, Any], secrets: SecretStripper) -> dict[str, Any]:
        return config

    def run(self, ctx: NodeContext) -> Any:
        return ctx.config


def handlers_with_fakes() -> NodeHandlers:
    return NodeHandlers(SandboxedTemplates(SANDBOX), JsonPathQuery(SANDBOX),
                        llm=llm_chat_without_models(),
                        http=FakeOutboundHttp(), files=FakeFileTexts(),
                        agents=NoWorkflowAgents())


def test_every_type_of_the_public_catalogue_has_a_class_that_runs_and_publishes():
    handlers = handlers_with_fakes()
    listed = [entry["type"] for entry in catalogue()]
    assert listed == list(NODE_TYPES)
    for name in listed:
        cls = NODE_TYPES[name]
        assert cls.type == name
        assert not inspect.isabstract(cls)
        assert cls.run is not NodeType.run
        assert cls.publish.__func__ is not NodeType.publish.__func__
        assert isinstance(cls.publish({}, SecretStripper(DetectSecretsDetector(SANDBOX), "ws1")), dict)
        assert isinstance(handlers.node(name), cls)


def test_the_registry_refuses_a_type_it_does_not_know():
    with pytest.raises(UnknownNodeType) as raised:
        NODE_TYPES["teleport"]
    assert isinstance(raised.value, ValidationFailed)
    assert raised.value.message == "Unknown node type 'teleport'."
    assert "teleport" not in NODE_TYPES
    with pytest.raises(UnknownNodeType):
        handlers_with_fakes().node("teleport")


def test_registering_two_classes_with_the_same_type_name_fails():
    class OtherInput(EchoNode):
        type = "input"

    with pytest.raises(ValueError, match="Two node types are named 'input'"):
        NodeRegistry(InputNode, OtherInput)
    registry = NodeRegistry(EchoNode)
    with pytest.raises(ValueError, match="'echo'"):
        registry.register(EchoNode)


def test_a_type_without_a_publish_rule_cannot_be_registered():
    class Leaky(NodeType):
        type = "leaky"
        title = description = output = "Leaky"
        config_schema = strict_schema({})
        role = NodeRole.STEP
        renders_itself = literal_keys = ()

        @classmethod
        def config_problems(cls, config, paths):
            return []

        def run(self, ctx):
            return None

    with pytest.raises(TypeError, match="Leaky does not declare publish"):
        NodeRegistry(Leaky)


def test_a_type_missing_part_of_its_declaration_cannot_be_registered():
    class Untitled(NodeType):
        type = "untitled"
        description = output = "Untitled"
        config_schema = strict_schema({})
        role = NodeRole.STEP
        renders_itself = literal_keys = ()
        config_problems = EchoNode.config_problems
        publish = EchoNode.publish
        run = EchoNode.run

    with pytest.raises(TypeError, match="Untitled does not declare title"):
        NodeRegistry(Untitled)


def test_a_registry_lists_its_types_in_the_order_they_were_registered():
    registry = NodeRegistry(OutputNode, EchoNode)
    assert list(registry) == ["output", "echo"]
    assert [entry["type"] for entry in catalogue(registry)] == ["output", "echo"]
    assert registry.role_of("output") is NodeRole.OUTPUT
    assert registry.role_of("teleport") is None
