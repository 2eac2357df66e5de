"""Tool kind `file_search`: the best passages of the agent's files and of the files attached to
the talk, for a query the model writes (use_cases/agents/file_search.py ranks them).

Config: `max_results?` (1..10, default 5). The function takes `{query}` and returns JSON
`{passages: [{file_id, filename, position: {start, end, page?}, score, text}], searched_files,
skipped_files: [{file_id, filename?, reason}]}`. Files are read as the talk's user: a file they
cannot read is skipped as not found.
"""
from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from entities.agent import ToolResult
from use_cases.agents.file_search import FileSearch
from use_cases.agents.tools import BaseToolSchema, ToolContext, ToolKind

DEFAULT_RESULTS = 5
MAX_RESULTS = 10


class FileSearchToolSchema(BaseToolSchema):
    type = fields.String(required=True, validate=validate.Equal("file_search"))
    max_results = fields.Integer(load_default=DEFAULT_RESULTS,
                                 validate=validate.Range(min=1, max=MAX_RESULTS))


class FileSearchToolKind(ToolKind):
    type = "file_search"
    config_schema = FileSearchToolSchema

    def __init__(self, search: FileSearch):
        self.search = search

    def parameters(self, stored: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        return {"type": "object", "properties": {"query": {
            "type": "string",
            "description": "Words to look for in the files (names, terms, a question)"}},
            "required": ["query"]}

    def call(self, stored: dict[str, Any], function: str, arguments: dict[str, Any],
             ctx: ToolContext) -> ToolResult:
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            return ToolResult.failed("`query` (a non-empty string) is required")
        file_ids = [*ctx.agent.file_ids, *ctx.file_ids]
        if not file_ids:
            return ToolResult.failed("there are no files to search: the agent has none and "
                                     "none is attached to the talk")
        outcome = self.search.search(ctx.actor.user_id, ctx.workspace_id, file_ids, query,
                                     int(stored.get("max_results", DEFAULT_RESULTS)))
        return ToolResult.ok(outcome.as_dict())
