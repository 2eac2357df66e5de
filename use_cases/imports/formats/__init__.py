"""The import formats, one module each, registered here (the order is the detection order:
the most specific marker first)."""
from __future__ import annotations

from use_cases.imports.formats.base import ConversationFormat
from use_cases.imports.formats.chatgpt import ChatGPTFormat
from use_cases.imports.formats.claude import ClaudeFormat
from use_cases.imports.formats.librechat import LibreChatFormat
from use_cases.imports.formats.openwebui import OpenWebUIFormat
from use_cases.imports.formats.synapscale import SynapScaleFormat

FORMATS: dict[str, ConversationFormat] = {
    fmt.name: fmt for fmt in (SynapScaleFormat(), ChatGPTFormat(), ClaudeFormat(),
                              OpenWebUIFormat(), LibreChatFormat())
}


def detect(raw: dict) -> ConversationFormat | None:
    """The format whose marker this conversation object carries."""
    return next((fmt for fmt in FORMATS.values() if fmt.detects(raw)), None)
