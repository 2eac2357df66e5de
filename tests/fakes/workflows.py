"""Fakes of the workflow ports the engine and its nodes use (use_cases/workflows/ports.py,
RunObserver)."""
from __future__ import annotations

from entities.errors import NotFound
from use_cases.workflows.engine import GO_ON, RunObserver
from use_cases.workflows.ports import FileTexts, WorkflowAgents


class FakeFileTexts(FileTexts):
    """`texts`: (workspace id, file id) -> the file's text; every other file is missing."""

    def __init__(self, texts: dict[tuple[str, str], str] | None = None):
        self.texts = texts or {}

    def text_of(self, workspace_id, file_id, max_chars):
        if (workspace_id, file_id) not in self.texts:
            raise NotFound("File not found")
        return self.texts[(workspace_id, file_id)][:max_chars]


class FakeRunObserver(RunObserver):
    """Keeps the node events and deltas of a run; `verdict(observer)` answers each check."""

    def __init__(self, verdict=lambda observer: GO_ON):
        self.events: list[tuple[str, str]] = []
        self.deltas: list[str] = []
        self.verdict = verdict

    def node_changed(self, run, event):
        self.events.append((event or run.status.value, run.node_id))

    def delta(self, node_id, text):
        self.deltas.append(text)

    def check(self):
        return self.verdict(self)


class NoWorkflowAgents(WorkflowAgents):
    """A world without agents: every `agent` node's agent is unknown."""

    def answer(self, user_id, workspace_id, agent_id, prompt, cancelled):
        raise NotFound("Agent not found")
