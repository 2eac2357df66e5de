from __future__ import annotations

from entities.workflow import Execution, ExecutionStatus, Graph, NodeRun, NodeStatus
from tests.fakes.shared import FakeEventBus
from use_cases.workflows.events import ExecutionEvents, node_event, unpack


def finished(status: ExecutionStatus) -> Execution:
    return Execution(id="e1", workflow_id="w1", workflow_version=2, workspace_id="ws1",
                     created_by="u1", graph=Graph(), status=status, outputs={"a": 1})


def test_a_runs_last_events_and_its_end_leave_in_one_message():
    bus = FakeEventBus()
    pending = [node_event("e1", NodeRun("n", NodeStatus.SUCCEEDED, output="x", attempts=1),
                          "node_completed")]
    ExecutionEvents(bus).finished(finished(ExecutionStatus.SUCCEEDED), pending)
    (topic, message), *notifications = bus.published
    assert topic == "execution:e1"
    assert [event["type"] for event in unpack(message)] == ["node_completed",
                                                            "execution_completed"]
    assert [(t, m["type"]) for t, m in notifications] == [
        ("user:u1", "workflow.execution.completed"),
        ("workspace:ws1", "workflow.execution.completed")]
    assert notifications[1][1]["workspace_id"] == "ws1"
    assert notifications[1][1]["outputs"] == {"a": 1}


def test_a_cancelled_run_notifies_no_webhook():
    bus = FakeEventBus()
    ExecutionEvents(bus).finished(finished(ExecutionStatus.CANCELLED))
    assert [topic for topic, _ in bus.published] == ["execution:e1"]


def test_a_large_node_output_is_left_out_of_events():
    big = NodeRun("n", NodeStatus.SUCCEEDED, output="x" * 100_000, attempts=1)
    event = node_event("e1", big, "node_completed")
    assert event["output"] is None and event["output_truncated"] is True
    small = node_event("e1", NodeRun("n", NodeStatus.SUCCEEDED, output="ok"), "node_completed")
    assert small["output"] == "ok" and "output_truncated" not in small
