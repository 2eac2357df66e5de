"""The node types a workflow may use: one explicit list, in catalogue order.

To add a node type, write its module (one NodeType subclass, see base.py) and add its class to
NODE_TYPES. Nothing is discovered: a type not listed here does not exist.
"""
from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from entities.errors import ValidationFailed
from use_cases.workflows.nodes.agent import AgentNode
from use_cases.workflows.nodes.base import NodeRole, NodeServices, NodeType
from use_cases.workflows.nodes.condition import ConditionNode
from use_cases.workflows.nodes.file_text import FileTextNode
from use_cases.workflows.nodes.http_request import HttpRequestNode
from use_cases.workflows.nodes.input import InputNode
from use_cases.workflows.nodes.json_extract import JsonExtractNode
from use_cases.workflows.nodes.llm import LlmNode
from use_cases.workflows.nodes.output import OutputNode
from use_cases.workflows.nodes.template import TemplateNode

DECLARED = ("type", "title", "description", "output", "config_schema", "role", "renders_itself",
            "literal_keys")


class UnknownNodeType(ValidationFailed):
    def __init__(self, name: str):
        super().__init__(f"Unknown node type {name!r}.")
        self.name = name


class NodeRegistry:
    """Node type classes by type name. Registering refuses a class that leaves a part of its
    declaration out (see base.NodeType) and a second class with the same type name."""

    def __init__(self, *classes: type[NodeType]):
        self._classes: dict[str, type[NodeType]] = {}
        for cls in classes:
            self.register(cls)

    def register(self, cls: type[NodeType]) -> type[NodeType]:
        if not (inspect.isclass(cls) and issubclass(cls, NodeType)):
            raise TypeError(f"{cls!r} is not a NodeType")
        missing = [name for name in DECLARED if not hasattr(cls, name)]
        missing += sorted(getattr(cls, "__abstractmethods__", ()))
        if missing:
            raise TypeError(f"{cls.__name__} does not declare {', '.join(missing)}")
        if not isinstance(cls.type, str) or not cls.type:
            raise TypeError(f"{cls.__name__}.type must be a non-empty string")
        existing = self._classes.get(cls.type)
        if existing is not None:
            raise ValueError(f"Two node types are named {cls.type!r}: {existing.__name__} and "
                             f"{cls.__name__}")
        self._classes[cls.type] = cls
        return cls

    def __getitem__(self, name: str) -> type[NodeType]:
        """The class of the type `name`; UnknownNodeType if there is none."""
        cls = self._classes.get(name)
        if cls is None:
            raise UnknownNodeType(name)
        return cls

    def find(self, name: str) -> type[NodeType] | None:
        return self._classes.get(name)

    def role_of(self, name: str) -> NodeRole | None:
        cls = self._classes.get(name)
        return cls.role if cls is not None else None

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def classes(self) -> tuple[type[NodeType], ...]:
        return tuple(self._classes.values())


NODE_TYPES = NodeRegistry(
    InputNode,
    LlmNode,
    TemplateNode,
    ConditionNode,
    HttpRequestNode,
    JsonExtractNode,
    FileTextNode,
    AgentNode,
    OutputNode,
)


def catalogue(registry: NodeRegistry = NODE_TYPES) -> list[dict[str, Any]]:
    """Every node type with the JSON schema of its config (GET /api/v1/workflows/node-types)."""
    return [cls.catalogue_entry() for cls in registry.classes()]


@dataclass
class NodeHandlers(NodeServices):
    """Every type of `registry`, built once with the services it takes: what runs nodes."""
    registry: NodeRegistry = field(default=NODE_TYPES, repr=False)

    def __post_init__(self) -> None:
        self._built: dict[str, NodeType] = {cls.type: cls.build(self)
                                            for cls in self.registry.classes()}

    def node(self, node_type: str) -> NodeType:
        """The built node type that runs nodes of `node_type`; UnknownNodeType if there is none."""
        built = self._built.get(node_type)
        if built is None:
            raise UnknownNodeType(node_type)
        return built
