"""What the model is sent for a reply: system prompt, the talk's history, attached files.

History is trimmed from the oldest end to fit the model's context window (counted with the
gateway's token counter), keeping room for the reply. A new message that cannot fit on its own
is refused before anything is stored.
"""
from __future__ import annotations

from entities.errors import NotFound, ValidationFailed
from entities.talk import Message, MessageRole, Talk
from use_cases.chat.ports import FileContext, MessageRepository
from use_cases.gateway.ports import LLMGateway

HISTORY_LIMIT = 200  # messages read back at most; the token budget usually stops earlier
REPLY_RESERVE = 1024  # tokens kept free for the reply when max_tokens is not given


class ContextBuilder:
    def __init__(self, messages: MessageRepository, gateway: LLMGateway,
                 file_context: FileContext, history_limit: int = HISTORY_LIMIT):
        self.messages = messages
        self.gateway = gateway
        self.file_context = file_context
        self.history_limit = history_limit

    def file_parts(self, user_id: str, workspace_id: str, file_ids: list[str],
                   vision: bool) -> list[dict]:
        """The content parts of files attached to a new message (NotFound for a bad id)."""
        if not file_ids:
            return []
        return _usable(self.file_context.for_message(user_id, workspace_id, file_ids), vision)

    def build(self, talk: Talk, system_prompt: str | None, model: str, max_tokens: int | None,
              vision: bool, up_to: str | None, new_turn: dict | None,
              history: bool = True) -> list[dict]:
        """`up_to`: the last stored message to include, with the path from the root to it
        (None: the talk's current leaf); `history` False: none (a new first message, or an
        edited one); `new_turn`: a user turn not stored yet, appended last."""
        earlier: list[Message] = []
        if history and (up_to is not None or talk.message_count):
            earlier = self.messages.history(talk, up_to, self.history_limit)
        # an agent's tool calls and results stay out of later prompts: its final answer holds
        # what they gave
        turns = [self._turn(talk, message, vision) for message in earlier
                 if message.role is not MessageRole.TOOL and not message.tool_calls]
        if new_turn is not None:
            turns.append(new_turn)
        system = [{"role": "system", "content": system_prompt}] if system_prompt else []
        return system + self._fit(model, system, turns, max_tokens)

    def _turn(self, talk: Talk, message: Message, vision: bool) -> dict:
        if message.role is MessageRole.USER and message.file_ids:
            try:
                parts = _usable(self.file_context.for_message(
                    talk.user_id, talk.workspace_id, message.file_ids), vision)
            except NotFound:  # a file removed since: the text of the message still counts
                parts = []
            if parts:
                return user_turn(message.content, parts)
        return {"role": message.role.value, "content": message.content}

    def _fit(self, model: str, system: list[dict], turns: list[dict],
             max_tokens: int | None) -> list[dict]:
        window = self.gateway.context_window(model)
        budget = window - min(max_tokens or REPLY_RESERVE, window // 2)
        if self.gateway.count_tokens(model, system + turns) <= budget:
            return turns
        used = self.gateway.count_tokens(model, system) if system else 0
        kept: list[dict] = []
        for turn in reversed(turns):
            cost = self.gateway.count_tokens(model, [turn])
            if used + cost > budget:
                if not kept:
                    raise ValidationFailed(
                        "The message is too long for the model's context window",
                        {"content": [f"About {cost} tokens; {model} accepts {budget - used}."]})
                break
            kept.append(turn)
            used += cost
        kept.reverse()
        while len(kept) > 1 and kept[0]["role"] != MessageRole.USER.value:
            kept.pop(0)  # a conversation the model sees starts with the user speaking
        return kept


def user_turn(text: str, parts: list[dict]) -> dict:
    if not parts:
        return {"role": "user", "content": text}
    return {"role": "user", "content": [{"type": "text", "text": text}, *parts]}


def _usable(parts: list[dict], vision: bool) -> list[dict]:
    return parts if vision else [part for part in parts if part.get("type") != "image_url"]
