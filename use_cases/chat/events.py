"""`talk.created`, `message.created` and `talk.branch_switched` on the event bus.

The owner's topic (`user:{id}`, their WebSocket feed) gets the whole message; the workspace topic
(`workspace:{id}`, read by webhooks) gets only ids and states, because talks are private to their
owner even from the workspace's admins. An event that cannot be published is logged, never a
reason to fail a request whose data is already stored.
"""
from __future__ import annotations

import logging

from entities.talk import Message, Talk
from use_cases.chat.ports import TalkRepresentation
from use_cases.shared.ports import EventBus

log = logging.getLogger(__name__)


class TalkEvents:
    def __init__(self, bus: EventBus, representation: TalkRepresentation):
        self.bus = bus
        self.representation = representation

    def talk_created(self, talk: Talk) -> None:
        self._publish(talk.user_id, talk.workspace_id,
                      {"type": "talk.created", "talk": self.representation.talk(talk)},
                      {"type": "talk.created", "talk_id": talk.id, "user_id": talk.user_id})

    def message_created(self, message: Message) -> None:
        self._publish(message.user_id, message.workspace_id,
                      {"type": "message.created", "talk_id": message.talk_id,
                       "message": self.representation.message(message)},
                      {"type": "message.created", "talk_id": message.talk_id,
                       "message_id": message.id, "user_id": message.user_id,
                       "role": message.role.value, "status": message.status.value,
                       "model": message.model})

    def branch_switched(self, talk: Talk) -> None:
        """The owner's other devices follow a branch switch (their topic only: the workspace's
        webhooks learn of new messages, not of what one user views)."""
        try:
            self.bus.publish(f"user:{talk.user_id}", {
                "type": "talk.branch_switched", "talk_id": talk.id,
                "current_leaf_id": talk.current_leaf_id})
        except Exception:
            log.exception("could not publish talk.branch_switched")

    def _publish(self, user_id: str, workspace_id: str, private: dict, shared: dict) -> None:
        try:
            self.bus.publish(f"user:{user_id}", private)
            self.bus.publish(f"workspace:{workspace_id}", {**shared, "workspace_id": workspace_id})
        except Exception:  # the data is stored; a lost notification must not fail the request
            log.exception("could not publish %s", private.get("type"))
