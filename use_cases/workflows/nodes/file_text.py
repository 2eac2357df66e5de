"""`file_text`: the text of a file of the workflow's workspace. Published as a template, it
forgets the file (whoever installs the template picks their own)."""
from __future__ import annotations

from typing import Any, Self

from use_cases.workflows.nodes.base import (
    NodeContext,
    NodeError,
    NodeRole,
    NodeServices,
    NodeType,
    as_text,
    strict_schema,
)
from use_cases.workflows.ports import FileTexts, JsonQuery
from use_cases.workflows.secret_stripping import SecretStripper


class FileTextNode(NodeType):
    type = "file_text"
    title = "File text"
    description = "The text of a file of the workflow's workspace."
    output = "the file's text"
    config_schema = strict_schema({"file_id": {"type": "string", "maxLength": 200}}, ("file_id",))
    role = NodeRole.STEP
    renders_itself = ()
    literal_keys = ()

    def __init__(self, files: FileTexts, max_chars: int):
        self.files = files
        self.max_chars = max_chars

    @classmethod
    def build(cls, services: NodeServices) -> Self:
        return cls(services.files, services.limits.file_max_chars)

    @classmethod
    def config_problems(cls, config: dict[str, Any], paths: JsonQuery) -> list[str]:
        return []  # an empty file_id is allowed (an installed template), refused when run

    @classmethod
    def publish(cls, config: dict[str, Any], secrets: SecretStripper) -> dict[str, Any]:
        config["file_id"] = ""  # a file of the author's workspace
        return config

    def run(self, ctx: NodeContext) -> str:
        file_id = as_text(ctx.config.get("file_id")).strip()
        if not file_id:
            raise NodeError("Choose the file this node reads (config.file_id)")
        return self.files.text_of(ctx.execution.workspace_id, file_id, self.max_chars)
