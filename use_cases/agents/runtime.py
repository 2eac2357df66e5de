"""An agent at work: its tools ready for a reply (Toolbox), one tool run for an admin's test,
and whole answers for callers that store nothing (`model: "agent/<id>"` on /v1, the workflow
`agent` node).

The tool loop (API.md "Agents and tools"): the model is called with the agent's instructions
as the system message and its tools; each tool call it makes is run server side as the caller
and its result appended (`role: "tool"`), and the model is called again, until it answers
without calling a tool or `max_tool_rounds` rounds have called tools (then it is called once
more without tools, for an answer from what it has). Every round is a metered model call of its
own (access, budget hold and settlement, one usage record) and may be charged against the rate
limit (`charge_round`). A tool that fails gives the model its error text as the result.

Tool runs are bounded per reply, not only per run: one run takes at most `tool_timeout_s`, and
all the runs of one toolbox (one reply, whatever its rounds and calls) take at most
`reply_tool_time_s` together; past it every further call is an error result, so a model that
keeps calling slow tools cannot hold a worker for rounds x calls x `tool_timeout_s`. Listing
what the tools offer (an MCP server's tools, before the first round, in the request's thread)
takes at most `offer_time_s` for all the agent's tools together; a tool not listed by then is
left out of the reply. At most MAX_FUNCTIONS functions are offered (the first tools' first),
since 32 MCP servers of 128 tools each would make a request no provider takes.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from entities.actor import Actor
from entities.agent import (
    AGENT_MODEL_PREFIX,
    MAX_TOOL_CALLS_PER_ROUND,
    TOO_MANY_CALLS,
    Agent,
    Toolbox,
    ToolResult,
    with_unique_ids,
)
from entities.deadline import Deadline
from entities.errors import DomainError, Forbidden, ModelNotFound, NotFound, ValidationFailed
from entities.llm import ChatRequest, ChatResult, StreamChunk, Usage
from entities.workspace import WorkspaceRole
from use_cases.agents.agents import Agents
from use_cases.agents.tools import ToolContext, ToolError, ToolKind, ToolKinds, error_text
from use_cases.gateway.llm_chat import LLMChat

log = logging.getLogger(__name__)

MAX_RESULT_CHARS = 20_000  # what the model reads of one tool result
TOOL_TIMEOUT_S = 60.0  # one tool run at most (the caller's deadline may end it sooner)
REPLY_TOOL_TIME_FACTOR = 2  # a reply's tool runs in all: at most this many runs' worth of time
OFFER_TIME_S = 20.0  # listing the functions of all an agent's tools (MCP servers) at most
MAX_FUNCTIONS = 128  # functions offered to the model in all (OpenAI's limit per request)
ROUNDS_EXHAUSTED = ("The agent reached its limit of tool rounds; answer with what you have, "
                    "without calling tools.")


@dataclass
class ToolEvent:
    """A tool call the loop made (`result` None) or its result, for callers that show them."""

    id: str
    name: str
    arguments: str
    result: ToolResult | None = None


@dataclass
class AgentAnswer:
    result: ChatResult  # the final round's, with `usage` summed over every round
    messages: list[dict[str, Any]] = field(default_factory=list)  # the loop's own messages
    rounds: int = 0
    rounds_exhausted: bool = False


def tool_call_parts(call: dict[str, Any]) -> tuple[str, str, str]:
    """(id, name, arguments text) of an OpenAI tool call dict."""
    function = call.get("function") or {}
    return str(call.get("id") or ""), str(function.get("name") or ""), \
        str(function.get("arguments") or "")


def assistant_turn(calls: list[tuple[str, str, str]], content: str | None) -> dict[str, Any]:
    """The assistant message that made `calls` ((id, name, arguments) each)."""
    return {"role": "assistant", "content": content or None,
            "tool_calls": [{"id": c_id, "type": "function",
                            "function": {"name": name, "arguments": arguments}}
                           for c_id, name, arguments in calls]}


def tool_turn(call_id: str, name: str, result: ToolResult) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "name": name, "content": result.content}


def system_prompt(agent: Agent, extra: str | None = None) -> str | None:
    parts = [p for p in (agent.instructions, extra) if p]
    return "\n\n".join(parts) or None


class AgentRuntime:
    def __init__(self, agents: Agents, kinds: ToolKinds, llm: LLMChat, key_llm: LLMChat,
                 tool_timeout_s: float = TOOL_TIMEOUT_S, reply_tool_time_s: float | None = None,
                 offer_time_s: float = OFFER_TIME_S, clock: Callable[[], float] = time.monotonic):
        self.agents = agents
        self.kinds = kinds
        self.llm = llm  # a user's calls: their membership decides
        self.key_llm = key_llm  # a workspace API key's calls (member rights in its workspace)
        self.tool_timeout_s = tool_timeout_s
        self.reply_tool_time_s = reply_tool_time_s if reply_tool_time_s is not None \
            else REPLY_TOOL_TIME_FACTOR * tool_timeout_s
        self.offer_time_s = offer_time_s
        self.clock = clock

    # --- tools --------------------------------------------------------------------------------

    def for_reply(self, actor: Actor, agent_id: str, workspace_id: str | None = None,
                  talk_id: str | None = None, file_ids: tuple[str, ...] = (),
                  cancelled: Callable[[], bool] | None = None,
                  in_workflow: bool = False) -> tuple[Agent, Toolbox]:
        """The agent (readable by `actor`; in `workspace_id` when given) and its toolbox
        (`in_workflow`: for an `agent` node, whose tools cannot start workflows). NotFound for
        an agent the actor cannot see or of another workspace."""
        if actor.api_key_id is not None:  # a key reads its own workspace's agents only
            found = self.agents.agents.get(agent_id)
            if found is None or found.workspace_id != actor.api_key_workspace_id:
                raise NotFound("Agent not found")
            agent = found
        else:
            agent, _ = self.agents.require(actor.user_id, agent_id)
        if workspace_id is not None and agent.workspace_id != workspace_id:
            raise NotFound("Agent not found")
        return agent, self.toolbox(agent, actor, talk_id, file_ids, cancelled, in_workflow)

    def toolbox(self, agent: Agent, actor: Actor, talk_id: str | None = None,
                file_ids: tuple[str, ...] = (),
                cancelled: Callable[[], bool] | None = None,
                in_workflow: bool = False) -> Toolbox:
        """The agent's functions for one reply, run as `actor` (see ToolContext); its calls
        share `reply_tool_time_s` (module docstring)."""
        spent = [0.0]  # seconds the calls of this toolbox have run

        def context(seconds: float | None = None) -> ToolContext:
            if seconds is None:
                seconds = max(0.0, min(self.tool_timeout_s, self.reply_tool_time_s - spent[0]))
            deadline = Deadline.after(seconds, cancelled) if cancelled else \
                Deadline.after(seconds)
            return ToolContext(actor=actor, workspace_id=agent.workspace_id, agent=agent,
                               deadline=deadline, talk_id=talk_id, file_ids=file_ids,
                               in_workflow=in_workflow)

        functions: dict[str, tuple[ToolKind, dict[str, Any]]] = {}
        specs: list[dict[str, Any]] = []
        offering = context(self.offer_time_s)  # one deadline for every listing
        for stored in agent.tools:
            kind = self.kinds[stored["type"]] if stored.get("type") in self.kinds else None
            if kind is None:
                continue
            try:
                offered = kind.functions(stored, offering)
            except Exception as error:  # the reply goes on without this tool
                log.warning("agent tool %r offers no functions: %s", stored.get("name"),
                            error_text(error))
                continue
            for function in offered:
                if function.name in functions or len(functions) >= MAX_FUNCTIONS:
                    continue
                functions[function.name] = (kind, stored)
                specs.append(function.spec())

        def call(name: str, arguments: str) -> ToolResult:
            found = functions.get(name)
            if found is None:
                return ToolResult.failed(f"no tool is named {name!r}")
            try:
                parsed = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                return ToolResult.failed("the arguments are not valid JSON")
            if not isinstance(parsed, dict):
                return ToolResult.failed("the arguments must be a JSON object")
            kind, stored = found
            if cancelled is not None and cancelled():  # stopped, or the node's run timed out
                return ToolResult.failed("not run: the reply was stopped")
            if spent[0] >= self.reply_tool_time_s:
                return ToolResult.failed("not run: the tools of this reply used all their time")
            started = self.clock()
            try:
                result = kind.call(stored, name, parsed, context())
            except Exception as error:
                if not isinstance(error, DomainError | ToolError):
                    log.exception("agent tool %r crashed", name)
                return ToolResult.failed(error_text(error))
            finally:
                spent[0] += self.clock() - started
            if len(result.content) > MAX_RESULT_CHARS:
                result = replace(result, content=result.content[:MAX_RESULT_CHARS]
                                 + "\n[cut: the result was longer]")
            return result

        return Toolbox(specs=specs, call=call)

    def test_tool(self, actor: Actor, agent_id: str, tool: str,
                  arguments: dict[str, Any]) -> ToolResult:
        """Runs one of the agent's functions (`tool`: its name) as the agent would, as `actor`
        (a workspace admin: Forbidden otherwise)."""
        agent, membership = self.agents.require(actor.user_id, agent_id, WorkspaceRole.MEMBER)
        if not membership.role.at_least(WorkspaceRole.ADMIN):
            raise Forbidden("Only a workspace admin can test an agent's tools")
        toolbox = self.toolbox(agent, actor)
        if not any(spec["function"]["name"] == tool for spec in toolbox.specs):
            raise ValidationFailed(f"The agent has no tool named {tool!r}",
                                   details={"tool": ["Unknown tool."]})
        return toolbox.call(tool, json.dumps(arguments))

    # --- whole answers ------------------------------------------------------------------------

    def request_for(self, agent: Agent, toolbox: Toolbox, messages: list[dict[str, Any]],
                    temperature: float | None = None,
                    max_tokens: int | None = None) -> ChatRequest:
        """The first round's request: the agent's instructions first, its model and settings
        (the caller's temperature/max_tokens win when given), its tools."""
        system = system_prompt(agent)
        prompt = ([{"role": "system", "content": system}] if system else []) + list(messages)
        extra: dict[str, Any] = {"tools": toolbox.specs} if toolbox.specs else {}
        return ChatRequest(messages=prompt, model=agent.model,
                           temperature=temperature if temperature is not None
                           else agent.temperature,
                           max_tokens=max_tokens if max_tokens is not None else agent.max_tokens,
                           extra=extra)

    def answer(self, actor: Actor, agent: Agent, toolbox: Toolbox, request: ChatRequest,
               source: str = "agent", on_tool: Callable[[ToolEvent], None] | None = None,
               charge_round: Callable[[], None] | None = None,
               cancelled: Callable[[], bool] | None = None) -> AgentAnswer:
        """The loop (module docstring) with whole model calls. Raises what a model call raises
        (BudgetExceeded mid-loop included: the rounds done are billed)."""
        messages = list(request.messages)
        own: list[dict[str, Any]] = []
        total = Usage()
        rounds = 0
        while True:
            exhausted = rounds >= agent.max_tool_rounds
            if rounds and charge_round is not None:
                charge_round()
            call_request = replace(request, messages=messages + (
                [{"role": "system", "content": ROUNDS_EXHAUSTED}] if exhausted else []))
            if exhausted:
                call_request.extra = {k: v for k, v in request.extra.items()
                                      if k not in ("tools", "tool_choice")}
            chat = self.key_llm if actor.api_key_id is not None else self.llm
            result = chat.chat(actor.user_id, agent.workspace_id, call_request,
                               api_key_id=actor.api_key_id, source=source)
            total = Usage(total.prompt_tokens + result.usage.prompt_tokens,
                          total.completion_tokens + result.usage.completion_tokens,
                          total.cost_usd + result.usage.cost_usd)
            if not result.tool_calls or exhausted or (cancelled is not None and cancelled()):
                return AgentAnswer(replace(result, usage=total, tool_calls=None), own, rounds,
                                   exhausted)
            rounds += 1
            calls = with_unique_ids([tool_call_parts(call) for call in result.tool_calls])
            turn = assistant_turn(calls, result.content)
            messages.append(turn)
            own.append(turn)
            for index, (call_id, name, arguments) in enumerate(calls):
                if on_tool is not None:
                    on_tool(ToolEvent(call_id, name, arguments))
                outcome = toolbox.call(name, arguments) if index < MAX_TOOL_CALLS_PER_ROUND \
                    else ToolResult.failed(TOO_MANY_CALLS)
                if on_tool is not None:
                    on_tool(ToolEvent(call_id, name, arguments, outcome))
                reply = tool_turn(call_id, name, outcome)
                messages.append(reply)
                own.append(reply)

    # --- /v1: model "agent/<id>" -------------------------------------------------------------

    def openai_complete(self, actor: Actor, workspace_id: str | None, agent_id: str,
                        request: ChatRequest,
                        charge_round: Callable[[], None] | None = None) -> ChatResult:
        """An OpenAI client's chat completion answered by the agent: the client's messages
        after the agent's instructions, the agent's model and tools (run here, as the caller);
        the final answer, its `usage` summed over the rounds, `model` "agent/<id>". A key
        reaches its own workspace's agents, a user those they can read (in `workspace_id` when
        named): any other is ModelNotFound (404 `model_not_found`)."""
        try:
            agent, toolbox = self.for_reply(actor, agent_id, workspace_id)
        except NotFound:
            raise ModelNotFound(
                f"The model '{AGENT_MODEL_PREFIX}{agent_id}' does not exist or you do not have "
                "access to it", {"param": "model"}) from None
        first = self.request_for(agent, toolbox, request.messages, request.temperature,
                                 request.max_tokens)
        answer = self.answer(actor, agent, toolbox, first, source="openai",
                             charge_round=charge_round)
        return replace(answer.result, model=AGENT_MODEL_PREFIX + agent.id)

    def openai_stream(self, actor: Actor, workspace_id: str | None, agent_id: str,
                      request: ChatRequest,
                      charge_round: Callable[[], None] | None = None) -> Iterator[StreamChunk]:
        """openai_complete's answer as stream chunks: the tools run (and errors raise) before
        this returns; then the answer as one delta, and the result."""
        result = self.openai_complete(actor, workspace_id, agent_id, request, charge_round)
        chunks = [StreamChunk(delta=result.content)] if result.content else []
        return iter([*chunks, StreamChunk(result=result)])


def model_agent_id(model: str | None) -> str | None:
    """The agent id of `model: "agent/<id>"`, else None."""
    if model and model.startswith(AGENT_MODEL_PREFIX) and len(model) > len(AGENT_MODEL_PREFIX):
        return model[len(AGENT_MODEL_PREFIX):]
    return None

