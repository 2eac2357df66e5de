"""Sending a message in a talk and getting the model's reply, whole or streamed.

Nothing the user typed is lost: their message is stored before the model is called, and a
reply that fails is stored too, with status `failed` and its error. Checks that can refuse a
request (access, budget, model, attached files, context size) all run before anything is
stored.

One reply at a time per talk: before anything is stored, a send or a regeneration claims the
talk for its reply (atomically, so of concurrent requests one wins and the others get a
Conflict naming the reply being generated), and the claim ends when the reply does, however it
ends. A claim whose worker died expires after STALE_AFTER, like its abandoned streaming reply.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from entities.agent import (
    MAX_TOOL_CALLS_PER_ROUND,
    TOO_MANY_CALLS,
    AgentSetup,
    ToolResult,
    with_unique_ids,
)
from entities.clock import utcnow
from entities.errors import (
    Conflict,
    DomainError,
    NotFound,
    ReplyTooLarge,
    UpstreamError,
    ValidationFailed,
)
from entities.llm import ChatRequest, ChatResult, UsageRecord
from entities.talk import Message, MessageRole, MessageStatus, MessageUsage, Talk
from use_cases.chat.context import HISTORY_LIMIT, ContextBuilder, user_turn
from use_cases.chat.generations import (
    STALE_AFTER,
    Feed,
    Generation,
    Generations,
    Progress,
    StoredFeed,
    message_topic,
    settle_if_abandoned,
    terminal_event,
)
from use_cases.chat.ports import MessageRepository, TalkAgents
from use_cases.chat.talks import WRITE, Talks
from use_cases.gateway.metered_call import MeteredCall, ModelCallMeter
from use_cases.gateway.ports import LLMGateway, ProviderCredentials
from use_cases.shared.ports import EventBus
from use_cases.workspaces.ports import WorkspaceRepository

log = logging.getLogger(__name__)
T = TypeVar("T")

STOP_WAIT_S = 5.0
ROUNDS_EXHAUSTED = ("You reached the limit of tool rounds for this reply: answer now with what "
                    "you have, without calling tools.")


@dataclass(frozen=True)
class ReplyOptions:
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    # an agent's rounds after the first: counted against the caller's rate limit (RateLimited
    # ends the reply); the first is counted by the route
    charge_round: Callable[[], None] | None = None


@dataclass(frozen=True)
class Exchange:
    user_message: Message
    assistant_message: Message


@dataclass
class _Job:
    """A reply to produce, everything about it decided."""

    talk: Talk
    user_id: str
    model: str
    request: ChatRequest
    call: MeteredCall  # its budget reservation and usage record
    reply_id: str  # the reply's id, taken before it is stored: the talk's claim names it
    turn_id: str | None = None  # the new user message's id, taken before the reply's
    parent: Message | None = None
    prompt: list[dict] = field(default_factory=list)
    unannounced: list[Message] = field(default_factory=list)  # message.created still to send
    agent: AgentSetup | None = None  # the talk's agent: its tools may be called (the loop)
    rounds: int = 0  # the agent's rounds that called tools so far
    charge_round: Callable[[], None] | None = None
    stop: threading.Event = field(default_factory=threading.Event)  # ends a running tool early


class Chat:
    def __init__(self, talks: Talks, messages: MessageRepository,
                 workspaces: WorkspaceRepository, gateway: LLMGateway, context: ContextBuilder,
                 meter: ModelCallMeter, generations: Generations, events: EventBus,
                 credentials: ProviderCredentials, agents: TalkAgents,
                 flush_interval: float = 0.25):
        self.talks = talks
        self.messages = messages
        self.workspaces = workspaces
        self.gateway = gateway
        self.context = context
        self.meter = meter
        self.generations = generations
        self.bus = events
        self.events = talks.events
        self.credentials = credentials
        self.agents = agents
        self.flush_interval = flush_interval

    # --- sending ----------------------------------------------------------------------------

    def send(self, user_id: str, talk_id: str, content: str, options: ReplyOptions = ReplyOptions(),
             file_ids: list[str] | None = None) -> Exchange:
        """The reply in full. A failed reply is stored, then its error is raised (details carry
        both message ids). The message follows the talk's current leaf, and the reply becomes
        the new current leaf."""
        talk = self._writable(user_id, talk_id)
        job, user_message = self._new_exchange(user_id, talk, content, options, file_ids,
                                               parent_id=talk.current_leaf_id)
        return Exchange(user_message, self._complete(job))

    def send_streaming(self, user_id: str, talk_id: str, content: str,
                       options: ReplyOptions = ReplyOptions(),
                       file_ids: list[str] | None = None) -> tuple[Message, Generation]:
        talk = self._writable(user_id, talk_id)
        job, user_message = self._new_exchange(user_id, talk, content, options, file_ids,
                                               parent_id=talk.current_leaf_id, announce=False)
        return user_message, self._start(job)

    def edit(self, user_id: str, talk_id: str, message_id: str, content: str,
             options: ReplyOptions = ReplyOptions(), file_ids: list[str] | None = None,
             stream: bool = False):
        """Edits the user message `message_id`: stores the new text as its sibling (same
        parent; the original and everything after it stay, on their own branch) and generates a
        reply to it from the history before it; the reply becomes the current leaf. `file_ids`
        None keeps the original's attachments. An Exchange (a failed reply raises, as `send`),
        or (user message, Generation) when streaming.

        NotFound for an unknown message; ValidationFailed (422) for a message that is not the
        user's turn, or blank content; Conflict while another reply of the talk is generated."""
        talk = self._writable(user_id, talk_id)
        original = self.messages.get(message_id, talk.id)
        if original is None:
            raise NotFound("Message not found")
        if original.role is not MessageRole.USER:
            raise ValidationFailed("Only a user message can be edited",
                                   {"message_id": ["Not a user message."]})
        files = original.file_ids if file_ids is None else file_ids
        job, user_message = self._new_exchange(
            user_id, talk, content, options, files, parent_id=original.parent_id,
            announce=not stream)
        if stream:
            return user_message, self._start(job)
        return Exchange(user_message, self._complete(job))

    def regenerate(self, user_id: str, talk_id: str, message_id: str,
                   options: ReplyOptions = ReplyOptions(), stream: bool = False):
        """A new reply to the user message `message_id` answered, stored as a sibling of the
        old reply (an agent's: of its first tool call, the whole turn again) and made the
        current leaf; the old reply (and anything after it) stays on its branch, marked
        `superseded`. An Exchange, or (user message, Generation) when streaming."""
        talk = self._writable(user_id, talk_id)
        old = self.messages.get(message_id, talk.id)
        if old is None:
            raise NotFound("Message not found")
        if old.role is not MessageRole.ASSISTANT or not old.parent_id:
            raise ValidationFailed("Only an assistant reply can be regenerated",
                                   {"message_id": ["Not an assistant reply."]})
        parent = self._answered(talk, old)
        job = self._job(user_id, talk, options, file_ids=[], new_turn=None, up_to=parent.id)
        job.parent = parent
        self._releasing_on_error(job, lambda: self.messages.update(
            old.id, status=MessageStatus.SUPERSEDED))
        if stream:
            return parent, self._start(job)
        return Exchange(parent, self._complete(job))

    def _answered(self, talk: Talk, reply: Message) -> Message:
        """The user message `reply` answered: its parent, or for an agent's reply (after its
        tool calls and results) the user message that started the agent's turn, so that the
        new reply is a whole new turn of the agent, its model sent what it is stored after.
        NotFound when that message no longer exists."""
        parent = self.messages.get(reply.parent_id, talk.id) if reply.parent_id else None
        seen = {reply.id}
        while parent is not None and parent.id not in seen and (
                parent.role is MessageRole.TOOL or parent.tool_calls):
            seen.add(parent.id)
            parent = self.messages.get(parent.parent_id, talk.id) if parent.parent_id else None
        if parent is None or parent.role is not MessageRole.USER:
            raise NotFound("The message this reply answered no longer exists")
        return parent

    # --- stopping and following -------------------------------------------------------------

    def stop(self, user_id: str, talk_id: str, wait: bool = True) -> list[Message]:
        """Asks the talk's streaming replies to stop (whichever process generates them) and,
        with `wait`, returns them once stored as `stopped`."""
        self.talks.visible(user_id, talk_id, WRITE)
        ids = self.messages.request_stop(talk_id)
        for message_id in ids:
            generation = self.generations.get(message_id)
            if generation is not None:
                generation.stop_requested.set()
        if not wait:
            return []
        deadline = time.monotonic() + STOP_WAIT_S
        finals = [self._wait_final(talk_id, message_id, deadline) for message_id in ids]
        return [message for message in finals if message is not None]  # None: deleted meanwhile

    def follow(self, user_id: str, talk_id: str, message_id: str, after: int = -1) -> Feed:
        """Replays a reply after its event `after` (-1: from its start) and follows it live
        until it ends; `exhausted` when it has ended and nothing comes after `after`."""
        self.talks.visible(user_id, talk_id)
        message = self.messages.get(message_id, talk_id)
        if message is None:
            raise NotFound("Message not found")
        generation = self.generations.get(message_id)
        if generation is not None:
            return generation.follow(after)
        return StoredFeed(self.messages, self.bus, message, after)

    def message(self, user_id: str, talk_id: str, message_id: str) -> Message:
        """One live message of a talk of the user's (NotFound otherwise)."""
        self.talks.visible(user_id, talk_id)
        message = self.messages.get(message_id, talk_id)
        if message is None:
            raise NotFound("Message not found")
        return message

    # --- preparing --------------------------------------------------------------------------

    def _writable(self, user_id: str, talk_id: str) -> Talk:
        """The talk, for a member, as a tree (a talk stored before trees is linked first)."""
        return self.talks.linked(self.talks.visible(user_id, talk_id, WRITE))

    def _new_exchange(self, user_id: str, talk: Talk, content: str, options: ReplyOptions,
                      file_ids: list[str] | None, parent_id: str | None,
                      announce: bool = True) -> tuple[_Job, Message]:
        """A user message following `parent_id` (None: a first message) and the job of its
        reply; the model sees the path up to `parent_id`. `announce` False: the user message's
        event waits for the reply's first text, so that publishing it does not delay the
        reply."""
        if not content or not content.strip():
            raise ValidationFailed("The message is empty", {"content": ["Must not be blank."]})
        file_ids = list(dict.fromkeys(file_ids or []))
        job = self._job(user_id, talk, options, file_ids, new_turn=content, up_to=parent_id,
                        history=parent_id is not None)

        def store_turn() -> Message:
            stored = self._add(Message(
                id=job.turn_id or "", talk_id=talk.id, workspace_id=talk.workspace_id,
                user_id=user_id, role=MessageRole.USER, content=content, file_ids=file_ids,
                parent_id=parent_id), announce=announce)
            self.talks.name_if_unnamed(talk, content)
            return stored

        user_message = self._releasing_on_error(job, store_turn)
        job.parent = user_message
        if not announce:
            job.unannounced.append(user_message)
        return job, user_message

    def _job(self, user_id: str, talk: Talk, options: ReplyOptions, file_ids: list[str],
             new_turn: str | None, up_to: str | None, history: bool = True) -> _Job:
        turn_id = self.messages.new_id() if new_turn is not None else None
        reply_id = self.messages.new_id()
        self._claim(talk, reply_id)
        try:
            return self._prepare(user_id, talk, options, file_ids, new_turn, up_to, turn_id,
                                 reply_id, history)
        except BaseException:
            self.talks.talks.release_reply(talk.id, reply_id)
            raise

    def _prepare(self, user_id: str, talk: Talk, options: ReplyOptions, file_ids: list[str],
                 new_turn: str | None, up_to: str | None, turn_id: str | None,
                 reply_id: str, history: bool = True) -> _Job:
        self._ensure_idle(talk)
        workspace = self.workspaces.get(talk.workspace_id)
        if workspace is None:
            raise NotFound("Talk not found")
        credentials = self.credentials.for_workspace(talk.workspace_id)
        stop = threading.Event()
        setup = None
        if talk.agent_id:
            setup = self.agents.for_reply(user_id, talk.workspace_id, talk.agent_id, talk.id,
                                          cancelled=stop.is_set,
                                          file_ids=self._attached(talk, up_to, file_ids))
            agent = setup.agent
            options = replace(options, model=agent.model,
                              temperature=_first(options.temperature, agent.temperature),
                              max_tokens=_first(options.max_tokens, agent.max_tokens))
        model = (options.model or talk.model or workspace.settings.default_model
                 or self.gateway.default_model(credentials))
        known = {info.id: info for info in self.gateway.models(credentials)}
        if model not in known:
            raise ValidationFailed(f"Unknown model '{model}'", {"model": ["Unknown model."]})
        vision = known[model].supports_vision
        turn = None
        if new_turn is not None:
            parts = self.context.file_parts(user_id, talk.workspace_id, file_ids, vision)
            turn = user_turn(new_turn, parts)
        instructions = setup.agent.instructions if setup else None
        system = "\n\n".join(p for p in (workspace.settings.system_prompt, talk.system_prompt,
                                         instructions) if p)
        prompt = self.context.build(talk, system or None, model, options.max_tokens, vision,
                                    up_to, turn, history=history)
        request = ChatRequest(messages=prompt, model=model, temperature=options.temperature,
                              max_tokens=options.max_tokens, credentials=credentials)
        if setup is not None and setup.toolbox.specs:
            request.extra = {"tools": setup.toolbox.specs}
        call = self.meter.start(request, UsageRecord(
            workspace_id=talk.workspace_id, user_id=user_id, model=model,
            provider=model.split("/", 1)[0], status="success", source="talk", talk_id=talk.id))
        return _Job(talk, user_id, model, request, call, reply_id=reply_id, turn_id=turn_id,
                    prompt=prompt, agent=setup, charge_round=options.charge_round, stop=stop)

    def _claim(self, talk: Talk, reply_id: str) -> None:
        """Claims the talk for the reply `reply_id`, or raises Conflict naming the one it has."""
        holder = self.talks.talks.claim_reply(talk.id, reply_id, utcnow() + STALE_AFTER)
        if holder is not None:
            raise Conflict("A reply is still being generated in this talk; stop it first",
                           {"message_id": holder or None})

    def _release(self, job: _Job) -> None:
        try:
            self.talks.talks.release_reply(job.talk.id, job.reply_id)
        except Exception:  # the claim then expires with its lease
            log.exception("could not release a talk's reply claim")

    def _releasing_on_error(self, job: _Job, step: Callable[[], T]) -> T:
        try:
            return step()
        except BaseException:
            self._release(job)
            raise

    def _attached(self, talk: Talk, up_to: str | None, new: list[str]) -> tuple[str, ...]:
        """The files attached to the messages a reply answers (its history and its new turn),
        once each, newest last: what an agent's file_search tools search besides its own."""
        earlier = [file_id for message in self.messages.history(talk, up_to, HISTORY_LIMIT)
                   for file_id in message.file_ids]
        return tuple(dict.fromkeys([*earlier, *new]))

    def _ensure_idle(self, talk: Talk) -> None:
        """A streaming reply older than the claims (its claim's lease over while it still
        streams, or stored before claims existed) holds the talk too, until it is abandoned."""
        for message in self.messages.streaming(talk.id):
            if settle_if_abandoned(self.messages, message).status is MessageStatus.STREAMING:
                raise Conflict("A reply is still being generated in this talk; stop it first",
                               {"message_id": message.id})

    # --- producing a reply ------------------------------------------------------------------

    def _complete(self, job: _Job) -> Message:
        try:
            return self._complete_claimed(job)
        finally:
            self._release(job)

    def _complete_claimed(self, job: _Job) -> Message:
        user_message_id = job.parent.id if job.parent else None
        while True:
            try:
                result = self.gateway.complete(job.request)
            except Exception as raised:
                exc = _as_domain_error(raised)
                job.call.failed(exc, exc.usage if isinstance(exc, ReplyTooLarge) else None)
                raise self._failed_reply(job, exc, user_message_id) from (
                    None if exc is raised else raised)
            job.call.succeeded(result)
            if not self._calls_tools(job, result):
                return self._add(self._reply(job, MessageStatus.COMPLETE, result=result))
            self._run_tools(job, result, None)
            try:
                self._next_round(job)
            except DomainError as exc:  # budget or rate limit: what the loop did is kept
                raise self._failed_reply(job, exc, user_message_id) from None

    def _failed_reply(self, job: _Job, exc: DomainError,
                      user_message_id: str | None) -> DomainError:
        failed = self._add(self._reply(job, MessageStatus.FAILED, error=exc))
        exc.details = {**exc.details, "user_message_id": user_message_id,
                       "assistant_message_id": failed.id}
        return exc

    # --- an agent's tool loop ---------------------------------------------------------------

    def _calls_tools(self, job: _Job, result: ChatResult) -> bool:
        """Whether this round's answer calls tools the loop should run."""
        return (job.agent is not None and bool(result.tool_calls)
                and job.rounds < job.agent.agent.max_tool_rounds)

    def _run_tools(self, job: _Job, result: ChatResult, generation: Generation | None) -> None:
        """Stores the assistant message calling tools, runs each call as the talk's user and
        stores its result (a `tool` message); each is chained to the one before (`parent_id`)
        and appended to the next round's prompt. Streams `tool_call` and `tool_result`."""
        assert job.agent is not None
        self._announce(job)
        calls = with_unique_ids([_call_parts(call) for call in result.tool_calls or []])
        usage = MessageUsage(result.usage.prompt_tokens, result.usage.completion_tokens,
                             result.usage.cost_usd)
        parent = self._add(Message(
            id="", talk_id=job.talk.id, workspace_id=job.talk.workspace_id, user_id=job.user_id,
            role=MessageRole.ASSISTANT, content=result.content or "", model=result.model,
            parent_id=job.parent.id if job.parent else None, usage=usage,
            latency_ms=result.latency_ms,
            tool_calls=[{"id": c_id, "name": name, "arguments": args}
                        for c_id, name, args in calls]))
        job.request.messages.append({
            "role": "assistant", "content": result.content or None,
            "tool_calls": [{"id": c_id, "type": "function",
                            "function": {"name": name, "arguments": args}}
                           for c_id, name, args in calls]})
        for index, (call_id, name, arguments) in enumerate(calls):
            if generation is not None:
                generation.add_event("tool_call", {"id": call_id, "name": name,
                                                   "arguments": arguments})
            if job.stop.is_set():
                outcome = ToolResult.failed("the user stopped the reply")
            elif index >= MAX_TOOL_CALLS_PER_ROUND:
                outcome = ToolResult.failed(TOO_MANY_CALLS)
            else:
                outcome = job.agent.toolbox.call(name, arguments)
            parent = self._add(Message(
                id="", talk_id=job.talk.id, workspace_id=job.talk.workspace_id,
                user_id=job.user_id, role=MessageRole.TOOL, content=outcome.content,
                parent_id=parent.id, error=outcome.error, tool_call_id=call_id, name=name))
            if generation is not None:
                event = {"id": call_id, "name": name, "content": outcome.content}
                if outcome.error is not None:
                    event["error"] = outcome.error
                generation.add_event("tool_result", event)
            job.request.messages.append({"role": "tool", "tool_call_id": call_id, "name": name,
                                         "content": outcome.content})
        job.parent = parent
        job.rounds += 1

    def _next_round(self, job: _Job) -> None:
        """The next model call of the loop: rate limit and budget (the worst case reserved, as
        for any call: BudgetExceeded, RateLimited). Once `max_tool_rounds` rounds have called
        tools, the model is asked to answer without them."""
        assert job.agent is not None
        if job.charge_round is not None:
            job.charge_round()
        request = job.request
        if job.rounds >= job.agent.agent.max_tool_rounds:
            request.extra = {k: v for k, v in request.extra.items()
                             if k not in ("tools", "tool_choice")}
            request.messages.append({"role": "system", "content": ROUNDS_EXHAUSTED})
        job.call = self.meter.start(request, replace(job.call.record))

    def _start(self, job: _Job) -> Generation:
        placeholder = self._releasing_on_error(
            job, lambda: self._add(self._reply(job, MessageStatus.STREAMING), announce=False))
        generation = Generation(placeholder)
        generation.stop_requested = job.stop  # one flag: a stop also ends a running tool
        try:
            self.generations.start(generation, lambda g: self._generate(job, g))
        except DomainError as exc:
            job.call.abandon()
            self._finish(job, generation, MessageStatus.FAILED, error=exc)  # releases the claim
            raise
        except BaseException:
            self._release(job)
            raise
        return generation

    def _generate(self, job: _Job, generation: Generation) -> None:
        """Runs in the pool: streams the reply, saving progress, until it ends or is stopped;
        an agent's rounds one after the other, its tools run between them."""
        progress = Progress(self.messages, self.bus, generation.message.id, self.flush_interval)
        while True:
            result = self._stream_round(job, generation, progress)
            if result is None or not self._calls_tools(job, result):
                return
            job.call.succeeded(result)
            self._run_tools(job, result, generation)
            if progress.update(generation, force=True) or generation.stop_requested.is_set():
                self._finish(job, generation, MessageStatus.STOPPED)
                return
            try:
                self._next_round(job)
            except DomainError as exc:  # budget or rate limit: what the loop did is kept
                self._finish(job, generation, MessageStatus.FAILED, error=exc)
                return

    def _stream_round(self, job: _Job, generation: Generation,
                      progress: Progress) -> ChatResult | None:
        """One model call streamed. The result when it calls tools the loop runs (the caller
        goes on); otherwise the reply is finished here and None returned."""
        result: ChatResult | None = None
        stopped = False
        try:
            chunks = self.gateway.stream(job.request)
            try:
                for chunk in chunks:
                    if chunk.result is not None:
                        result = chunk.result
                    elif chunk.delta:
                        generation.add_delta(chunk.delta)
                        self._announce(job)
                        stop_asked = progress.update(generation)
                        if stop_asked or generation.stop_requested.is_set():
                            stopped = True
                            break
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()  # a stopped reply: hang up on the provider
        except Exception as raised:
            error = _as_domain_error(raised)
            self._finish(job, generation, MessageStatus.FAILED, error=error)
            return None
        if stopped:
            self._finish(job, generation, MessageStatus.STOPPED)
        elif result is None:
            error = UpstreamError("The model provider ended the reply without finishing it")
            self._finish(job, generation, MessageStatus.FAILED, error=error)
        elif self._calls_tools(job, result):
            return result
        else:
            self._finish(job, generation, MessageStatus.COMPLETE, result=result)
        return None

    def _finish(self, job: _Job, generation: Generation, status: MessageStatus,
                result: ChatResult | None = None, error: DomainError | None = None) -> None:
        """Records the reply's usage and settles its budget, then stores its end and tells every
        follower (so a reply reported complete has its usage stored)."""
        reply = self._reply(job, status, result=result, error=error)
        content = result.content if result is not None else generation.content
        if job.agent is not None:  # every round's text, as streamed (and as `delta_ends` say)
            content = generation.content
        usage = reply.usage
        if result is not None:
            job.call.succeeded(result)
        elif status is MessageStatus.STOPPED or content:
            # stopped, failed midway or cut at the size cap: the provider was paid for the
            # prompt and what it wrote until then
            spent = job.call.cut_short(content, "error" if error else "success",
                                       error.code if error else None)
            usage = MessageUsage(spent.prompt_tokens, spent.completion_tokens, spent.cost_usd)
        elif error is not None:
            job.call.failed(error)
        changes: dict = dict(content=content, status=status, model=reply.model, usage=usage,
                             parent_id=reply.parent_id,
                             latency_ms=reply.latency_ms, error=reply.error,
                             error_code=reply.error_code, delta_ends=generation.snapshot()[1])
        final = replace(generation.message, **changes)
        try:
            final = self.messages.update(generation.message.id, **changes) or final
            if job.rounds:  # stored before its tool messages, which each became the leaf
                self.talks.talks.set_current_leaf(job.talk.id, final.id)
        except Exception:
            log.exception("could not store the end of a streaming reply")
        self._release(job)  # before anyone learns the reply ended: their next send may start
        try:
            self.bus.publish(message_topic(final.id), {"type": "done", "status": status.value})
        except Exception:
            log.exception("could not publish the end of a streaming reply")
        generation.finish(terminal_event(final))
        self._announce(job)
        self.events.message_created(final)

    # --- helpers ----------------------------------------------------------------------------

    def _reply(self, job: _Job, status: MessageStatus, result: ChatResult | None = None,
               error: DomainError | None = None) -> Message:
        usage = None
        if result is not None:
            usage = MessageUsage(result.usage.prompt_tokens, result.usage.completion_tokens,
                                 result.usage.cost_usd)
        return Message(
            id=job.reply_id, talk_id=job.talk.id, workspace_id=job.talk.workspace_id,
            user_id=job.user_id,
            role=MessageRole.ASSISTANT, content=result.content if result else "", status=status,
            model=result.model if result else job.model,
            parent_id=job.parent.id if job.parent else None, usage=usage,
            latency_ms=result.latency_ms if result else None,
            error=error.message if error else None, error_code=error.code if error else None)

    def _add(self, message: Message, announce: bool = True) -> Message:
        stored = self.messages.add(message)
        if announce:
            self.events.message_created(stored)
        return stored

    def _announce(self, job: _Job) -> None:
        while job.unannounced:
            self.events.message_created(job.unannounced.pop(0))

    def _wait_final(self, talk_id: str, message_id: str, deadline: float) -> Message | None:
        generation = self.generations.get(message_id)
        if generation is not None:
            generation.finished.wait(max(0.0, deadline - time.monotonic()))
        while True:
            message = self.messages.get(message_id, talk_id)
            if message is None or message.status.is_final or time.monotonic() >= deadline:
                return message
            time.sleep(0.1)


def _first(*values: T | None) -> T | None:
    return next((value for value in values if value is not None), None)


def _call_parts(call: dict) -> tuple[str, str, str]:
    """(id, name, arguments JSON text) of an OpenAI tool call."""
    function = call.get("function") or {}
    return (str(call.get("id") or ""), str(function.get("name") or ""),
            str(function.get("arguments") or ""))


def _as_domain_error(error: Exception) -> DomainError:
    """The gateway raises domain errors; anything else is a provider failure, never a 500."""
    if isinstance(error, DomainError):
        return error
    log.error("unexpected error from the model gateway", exc_info=error)
    return UpstreamError("The model provider failed")
