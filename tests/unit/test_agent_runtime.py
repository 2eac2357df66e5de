"""AgentRuntime's toolbox on a fake tool kind: what bounds the tool runs of one reply."""
from __future__ import annotations

from entities.actor import Actor
from entities.agent import Agent, ToolResult
from use_cases.agents.runtime import AgentRuntime
from use_cases.agents.tools import BaseToolSchema, ToolFunction, ToolKind, ToolKinds


class SlowKind(ToolKind):
    """Each run takes `seconds` on the runtime's clock and records the time it was given."""

    type = "slow"
    config_schema = BaseToolSchema

    def __init__(self, clock: list[float], seconds: float):
        self.clock = clock
        self.seconds = seconds
        self.given: list[float] = []

    def call(self, stored, function, arguments, ctx):
        self.given.append(round(ctx.deadline.remaining()))
        self.clock[0] += self.seconds
        return ToolResult("done")


def test_the_tool_runs_of_one_reply_share_a_time_budget():
    now = [0.0]
    kind = SlowKind(now, seconds=50)
    runtime = AgentRuntime(None, ToolKinds(kind), None, None,  # type: ignore[arg-type]
                           tool_timeout_s=60, reply_tool_time_s=120, clock=lambda: now[0])
    agent = Agent(id="a1", workspace_id="ws1", name="A", model="m", created_by="u1",
                  tools=[{"type": "slow", "name": "wait"}])
    toolbox = runtime.toolbox(agent, Actor("u1"))
    results = [toolbox.call("wait", "{}") for _ in range(4)]
    assert [r.error for r in results[:3]] == [None, None, None]
    assert kind.given == [60, 60, 20]  # the third run gets what is left of the 120 s
    assert results[3].error and "used all their time" in results[3].error
    assert len(kind.given) == 3
    assert runtime.toolbox(agent, Actor("u1")).call("wait", "{}").error is None  # a new reply


class ListingKind(SlowKind):
    """Offers one function per tool and records the deadline each listing was given."""

    type = "listing"

    def __init__(self):
        super().__init__([0.0], 0)
        self.deadlines: list = []

    def functions(self, stored, ctx):
        self.deadlines.append(ctx.deadline)
        return super().functions(stored, ctx)


def test_listing_every_tools_functions_shares_one_short_deadline():
    """A tarpit MCP server per tool must not hold the request for tools x the run limit."""
    kind = ListingKind()
    runtime = AgentRuntime(None, ToolKinds(kind), None, None,  # type: ignore[arg-type]
                           tool_timeout_s=600, offer_time_s=20)
    agent = Agent(id="a1", workspace_id="ws1", name="A", model="m", created_by="u1",
                  tools=[{"type": "listing", "name": f"t{i}"} for i in range(5)])
    toolbox = runtime.toolbox(agent, Actor("u1"))
    assert len(toolbox.specs) == 5 and len(kind.deadlines) == 5
    assert all(deadline is kind.deadlines[0] for deadline in kind.deadlines)
    assert 0 < kind.deadlines[0].remaining() <= 20


def test_no_tool_starts_once_the_reply_is_stopped():
    now = [0.0]
    kind = SlowKind(now, seconds=1)
    runtime = AgentRuntime(None, ToolKinds(kind), None, None)  # type: ignore[arg-type]
    agent = Agent(id="a1", workspace_id="ws1", name="A", model="m", created_by="u1",
                  tools=[{"type": "slow", "name": "wait"}])
    stopped = [False]
    toolbox = runtime.toolbox(agent, Actor("u1"), cancelled=lambda: stopped[0])
    assert toolbox.call("wait", "{}").error is None
    stopped[0] = True
    result = toolbox.call("wait", "{}")
    assert result.error and "stopped" in result.error and len(kind.given) == 1


class ManyKind(ListingKind):
    """Offers 100 functions per tool, as a large MCP server would."""

    type = "many"

    def functions(self, stored, ctx):
        return [ToolFunction(f"{stored['name']}__f{i}", "one of many") for i in range(100)]


def test_at_most_128_functions_are_offered_to_the_model():
    runtime = AgentRuntime(None, ToolKinds(ManyKind()), None, None)  # type: ignore[arg-type]
    agent = Agent(id="a1", workspace_id="ws1", name="A", model="m", created_by="u1",
                  tools=[{"type": "many", "name": f"t{i}"} for i in range(3)])
    specs = runtime.toolbox(agent, Actor("u1")).specs
    assert len(specs) == 128 and specs[-1]["function"]["name"] == "t1__f27"
