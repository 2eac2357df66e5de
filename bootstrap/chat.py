"""Talks and chat: conversations, and the model's replies, whole or streamed."""
from __future__ import annotations

from dataclasses import dataclass

from use_cases.chat.branches import Branches
from use_cases.chat.chat import Chat
from use_cases.chat.context import ContextBuilder
from use_cases.chat.events import TalkEvents
from use_cases.chat.generations import Generations
from use_cases.chat.ports import (
    FileContext,
    MessageRepository,
    ShareRepository,
    TalkAgents,
    TalkRepository,
    TalkRepresentation,
)
from use_cases.chat.shares import Shares
from use_cases.chat.talks import Talks
from use_cases.gateway.metered_call import ModelCallMeter
from use_cases.gateway.ports import LLMGateway, ProviderCredentials
from use_cases.shared.ports import EventBus
from use_cases.workspaces.access import WorkspaceAccess
from use_cases.workspaces.ports import WorkspaceRepository


@dataclass(frozen=True)
class ChatLimits:
    max_generations: int  # replies generated at once per process (as many more may queue)
    flush_interval_s: float  # how often a streaming reply's text is stored


@dataclass(frozen=True)
class ChatUseCases:
    talks: Talks
    generations: Generations  # the pool of streaming replies: close() stops them
    chat: Chat
    branches: Branches  # the tree: its shape, switching branches, forks
    shares: Shares


def build_chat(*, talk_repo: TalkRepository, message_repo: MessageRepository,
               workspace_repo: WorkspaceRepository, access: WorkspaceAccess, events: EventBus,
               llm: LLMGateway, credentials: ProviderCredentials, file_context: FileContext,
               meter: ModelCallMeter, representation: TalkRepresentation,
               agents: TalkAgents, limits: ChatLimits,
               share_repo: ShareRepository) -> ChatUseCases:
    """`agents`: the agents talks may be bound to (bootstrap.agents.AgentsForTalks)."""
    talks = Talks(talk_repo, message_repo, workspace_repo, access,
                  TalkEvents(events, representation),
                  model_ids=lambda: [model.id for model in llm.models({})],
                  agents=agents, file_context=file_context)
    generations = Generations(max_running=limits.max_generations)
    chat = Chat(talks, message_repo, workspace_repo, llm,
                ContextBuilder(message_repo, llm, file_context), meter, generations,
                events=events, credentials=credentials, agents=agents,
                flush_interval=limits.flush_interval_s)
    return ChatUseCases(talks=talks, generations=generations, chat=chat,
                        branches=Branches(talks, message_repo),
                        shares=Shares(talks, message_repo, share_repo))
