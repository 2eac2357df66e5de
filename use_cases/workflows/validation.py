"""What a workflow must satisfy before it is saved; every problem is reported at once.

ValidationFailed details: `{"nodes": {node_id: [...]}, "edges": {"<index>": [...]},
"graph": [...]}` (only the keys that have problems). The rules of the graph follow each node
type's role (nodes/base.py NodeRole); what one type asks of its config beyond the JSON schema is
that type's `config_problems`.
"""
from __future__ import annotations

import re
from collections import defaultdict

from entities.errors import ValidationFailed
from entities.workflow import Graph
from use_cases.workflows.expressions import is_expression, strings_in
from use_cases.workflows.nodes.base import IDENTIFIER, NodeRole
from use_cases.workflows.nodes.registry import NODE_TYPES, NodeRegistry, UnknownNodeType
from use_cases.workflows.ports import JsonQuery, SchemaValidator, TemplateRenderer
from use_cases.workflows.secret_stripping import PLACEHOLDER, SECRET_NAMESPACE, placeholders_in

MAX_NODES = 100
MAX_EDGES = 500


def input_fields(graph: Graph, registry: NodeRegistry = NODE_TYPES) -> list[dict]:
    return [field for node in graph.nodes if registry.role_of(node.type) is NodeRole.INPUT
            for field in node.config.get("fields", []) if isinstance(field, dict)]


def unfilled_secrets(graph: Graph, registry: NodeRegistry = NODE_TYPES) -> list[str]:
    """The `{{ secret.<name> }}` placeholders a published template left in the configs, which
    the workflow's owner must replace by values before it runs (none when `secret` is the name of
    one of its nodes or input fields: then those are references to it)."""
    names = {node.id for node in graph.nodes} | {field.get("name")
                                                  for field in input_fields(graph, registry)}
    if SECRET_NAMESPACE in names:
        return []
    return placeholders_in([node.config for node in graph.nodes])


class WorkflowValidator:
    def __init__(self, schemas: SchemaValidator, renderer: TemplateRenderer, paths: JsonQuery,
                 registry: NodeRegistry = NODE_TYPES):
        self.schemas = schemas
        self.renderer = renderer
        self.paths = paths
        self.registry = registry

    def check(self, graph: Graph) -> None:
        problems = _Problems()
        if not graph.nodes:
            problems.graph("A workflow needs at least one node.")
        if len(graph.nodes) > MAX_NODES:
            problems.graph(f"A workflow can have at most {MAX_NODES} nodes.")
        if len(graph.edges) > MAX_EDGES:
            problems.graph(f"A workflow can have at most {MAX_EDGES} edges.")
        self._check_nodes(graph, problems)
        self._check_edges(graph, problems)
        cycle = graph.find_cycle()
        if cycle:
            problems.graph("The workflow has a cycle: " + " -> ".join(cycle) + ".")
        else:
            self._check_references(graph, problems)
        problems.raise_if_any()

    def _check_nodes(self, graph: Graph, problems: _Problems) -> None:
        seen: set[str] = set()
        role_of = self.registry.role_of
        inputs = [node for node in graph.nodes if role_of(node.type) is NodeRole.INPUT]
        for index, node in enumerate(graph.nodes):
            key = node.id or f"#{index}"
            if not re.match(IDENTIFIER, node.id or ""):
                problems.node(key, "Node ids are letters, digits and _ (not starting with a "
                                   "digit), at most 64 characters.")
            if node.id in seen:
                problems.node(key, "Another node has this id.")
            seen.add(node.id)
            try:
                node_type = self.registry[node.type]
            except UnknownNodeType as unknown:
                problems.node(key, unknown.message)
                continue
            for message in self.schemas.errors(node_type.config_schema, node.config):
                problems.node(key, f"config: {message}")
            for message in node_type.config_problems(node.config, self.paths):
                problems.node(key, message)
        if len(inputs) > 1:
            for node in inputs:
                problems.node(node.id, "A workflow has at most one input node.")
        names = [field.get("name") for field in input_fields(graph, self.registry)]
        for name in {n for n in names if names.count(n) > 1}:
            problems.node(inputs[0].id, f"Two input fields are named {name!r}.")
        for name in set(names) & seen:
            problems.node(inputs[0].id, f"The input field {name!r} has the id of a node.")

    def _check_edges(self, graph: Graph, problems: _Problems) -> None:
        ids = {node.id for node in graph.nodes}
        role_of = self.registry.role_of
        seen: set[tuple[str, str]] = set()
        for index, edge in enumerate(graph.edges):
            key = str(index)
            for end in ("source", "target"):
                if getattr(edge, end) not in ids:
                    problems.edge(key, f"{end} {getattr(edge, end)!r} is not a node of this workflow.")
            if (edge.source, edge.target) in seen:
                problems.edge(key, "The same edge appears twice.")
            seen.add((edge.source, edge.target))
            source, target = graph.node(edge.source), graph.node(edge.target)
            branches = source is not None and role_of(source.type) is NodeRole.BRANCH
            if branches and edge.condition is None:
                problems.edge(key, "Edges leaving a condition node need `condition: true` or "
                                   "`condition: false`.")
            if source is not None and not branches and edge.condition is not None:
                problems.edge(key, "Only edges leaving a condition node carry a condition.")
            if source is not None and role_of(source.type) is NodeRole.OUTPUT:
                problems.edge(key, "An output node cannot lead to other nodes.")
            if target is not None and role_of(target.type) is NodeRole.INPUT:
                problems.edge(key, "Nothing can lead into an input node.")
        for node in graph.nodes:
            if role_of(node.type) is NodeRole.OUTPUT and not graph.incoming(node.id):
                problems.node(node.id, "An output node needs at least one incoming edge.")

    def _check_references(self, graph: Graph, problems: _Problems) -> None:
        fields = {field.get("name") for field in input_fields(graph, self.registry)}
        ids = {node.id for node in graph.nodes}
        for node in graph.nodes:
            node_type = self.registry.find(node.type)
            literal = node_type.literal_keys if node_type is not None else ()
            config = {key: value for key, value in node.config.items() if key not in literal}
            upstream = graph.ancestors(node.id)
            for text in strings_in(config):
                if not is_expression(text):
                    continue
                try:
                    names = self.renderer.variables_of(text)
                except ValueError as error:
                    problems.node(node.id, f"config: {error}")
                    continue
                if SECRET_NAMESPACE in names and SECRET_NAMESPACE not in ids | fields:
                    names = names - {SECRET_NAMESPACE}  # placeholders, refused only at run time
                    if not self._only_placeholders(text):
                        problems.node(node.id, f"Uses {{{{ {SECRET_NAMESPACE} }}}} other than in "
                                               f"placeholders {{{{ {SECRET_NAMESPACE}.<name> }}}}.")
                for name in sorted(names):
                    if name in ids and name not in upstream:
                        problems.node(node.id, f"Uses {{{{ {name}.output }}}} but {name!r} is "
                                               "not upstream of it (add an edge).")
                    elif name not in ids and name not in fields:
                        problems.node(node.id, f"Uses {{{{ {name} }}}}, which is neither an "
                                               "input field nor a node id.")


    def _only_placeholders(self, text: str) -> bool:
        """`secret` appears only in `{{ secret.<name> }}` placeholders (to be filled in)."""
        try:
            return SECRET_NAMESPACE not in self.renderer.variables_of(PLACEHOLDER.sub("", text))
        except ValueError:
            return False


class _Problems:
    def __init__(self) -> None:
        self.nodes: dict[str, list[str]] = defaultdict(list)
        self.edges: dict[str, list[str]] = defaultdict(list)
        self.whole: list[str] = []

    def node(self, key: str, message: str) -> None:
        if message not in self.nodes[key]:
            self.nodes[key].append(message)

    def edge(self, key: str, message: str) -> None:
        self.edges[key].append(message)

    def graph(self, message: str) -> None:
        self.whole.append(message)

    def raise_if_any(self) -> None:
        details: dict = {}
        if self.nodes:
            details["nodes"] = dict(self.nodes)
        if self.edges:
            details["edges"] = dict(self.edges)
        if self.whole:
            details["graph"] = self.whole
        if details:
            raise ValidationFailed("The workflow is not valid", details)


def check_inputs(graph: Graph, inputs: dict) -> dict:
    """The execution's inputs checked against the input node's fields; ValidationFailed."""
    fields = {field["name"]: field for field in input_fields(graph)}
    problems: dict[str, list[str]] = {}
    for name in inputs:
        if name not in fields:
            problems[name] = ["Unknown input field."]
    for name, field in fields.items():
        if name not in inputs or inputs[name] is None:
            if field.get("required"):
                problems[name] = ["Missing data for required field."]
            continue
        if not _has_type(inputs[name], field["type"]):
            problems[name] = [f"Must be a {field['type']}."]
    if problems:
        raise ValidationFailed("The inputs do not match the workflow", {"inputs": problems})
    return dict(inputs)


def _has_type(value: object, kind: str) -> bool:
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, {"string": str, "boolean": bool, "object": dict}[kind])
