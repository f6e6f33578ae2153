"""Human approval through the Agent against ScriptedServer: pause, resume from plain (serialized) messages with
True / Deny / Edit, approval handlers (sync and async), plain Haystack Tools, streaming, concurrent runs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from conftest import generator_for
from haystack.dataclasses import ChatMessage, StreamingChunk
from haystack.tools import Tool

from aiml_agent import (
    Agent,
    ApprovalError,
    Deny,
    Edit,
    PendingToolCall,
    RunContext,
    ToolArgumentsError,
    ToolControls,
    tool,
)
from aiml_agent.approval import unanswered_tool_calls
from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply

REFUNDS: list[tuple[str, float]] = []


@pytest.fixture(autouse=True)
def _no_refunds_yet() -> None:
    REFUNDS.clear()


def over_fifty(arguments: dict[str, Any], ctx: RunContext[Any]) -> bool:
    return float(arguments.get("amount", 0)) > 50


@tool(requires_approval=over_fifty)
def refund(order_id: str, amount: float) -> str:
    """Refund part of an order.

    :param order_id: The order.
    :param amount: Euros to refund.
    """
    REFUNDS.append((order_id, amount))
    return f"Refunded {amount:g} EUR on {order_id}"


@tool
def lookup(order_id: str) -> str:
    """Look an order up.

    :param order_id: The order.
    """
    return f"{order_id}: 2 items, 250 EUR"


def paused_script() -> list[Any]:
    """One turn: a lookup (no approval needed) and a refund over the limit (waits)."""
    calls = [
        ToolCallReply("lookup", {"order_id": "A-1"}, id="c_lookup"),
        ToolCallReply("refund", {"order_id": "A-1", "amount": 250}, id="c_refund"),
    ]
    return [Reply(tool_calls=calls)]


def serialized(messages: list[ChatMessage]) -> list[ChatMessage]:
    """The messages after a trip through JSON, as another process would get them."""
    return [ChatMessage.from_dict(data) for data in json.loads(json.dumps([m.to_dict() for m in messages]))]


def tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "tool"]


@pytest.mark.parametrize("mode", ["run", "run_async"])
async def test_a_call_over_the_limit_waits_and_the_others_run(mode: str) -> None:
    with ScriptedServer(paused_script()) as server:
        agent = Agent(generator_for(server), [lookup, refund])
        result = agent.run("Refund A-1") if mode == "run" else await agent.run_async("Refund A-1")
        assert len(server.requests) == 1
    assert result["exit_reason"] == "approval_required"
    assert result["pending"] == [PendingToolCall("c_refund", "refund", {"order_id": "A-1", "amount": 250})]
    assert REFUNDS == []  # never ran without its yes
    assert [m.role.value for m in result["messages"]] == ["user", "assistant", "tool"]
    assert result["messages"][-1].tool_call_result.origin.id == "c_lookup"
    (step,) = result["steps"]
    assert [record.tool_name for record in step.tool_calls] == ["lookup"]
    assert unanswered_tool_calls(result["messages"])[0].id == "c_refund"


@pytest.mark.parametrize("mode", ["run", "run_async"])
async def test_resume_from_serialized_messages_with_an_edit_validated_again(mode: str) -> None:
    with ScriptedServer(paused_script()) as server:
        paused = Agent(generator_for(server), [lookup, refund]).run("Refund A-1")
    messages = serialized(paused["messages"])
    pending_id = paused["pending"][0].id
    with ScriptedServer(["I refunded 50 EUR on A-1."]) as server:
        agent = Agent(generator_for(server), [lookup, refund])  # a new agent, as in another process
        approvals = {pending_id: Edit({"order_id": "A-1", "amount": "50"})}
        if mode == "run":
            result = agent.run(messages, approvals=approvals)
        else:
            result = await agent.run_async(messages, approvals=approvals)
        (request,) = server.requests
    assert REFUNDS == [("A-1", 50.0)]  # validated: "50" became 50.0
    assert result["exit_reason"] == "text" and result["pending"] == []
    sent = tool_messages(request.body)
    assert [m["tool_call_id"] for m in sent] == ["c_lookup", "c_refund"]  # call order
    assert sent[1]["content"].startswith(
        'Note: the user changed the arguments of this call before it ran, to {"amount"'
    )
    assert sent[1]["content"].endswith("Refunded 50 EUR on A-1")
    resumed, answer = result["steps"]
    assert resumed.resumed and resumed.model_duration == 0.0 and resumed.usage.requests == 0
    (record,) = resumed.tool_calls
    assert (record.approval, record.edited_arguments, record.arguments) == (
        "edited",
        {"order_id": "A-1", "amount": "50"},
        {"order_id": "A-1", "amount": 250},  # what the model asked for stays on record
    )
    assert result["usage"].requests == 1 and answer.index == 2


def test_a_denial_reaches_the_model_as_the_calls_result() -> None:
    with ScriptedServer(paused_script()) as server:
        paused = Agent(generator_for(server), [lookup, refund]).run("Refund A-1")
    with ScriptedServer(["I cannot refund that much."]) as server:
        agent = Agent(generator_for(server), [lookup, refund])
        result = agent.run(serialized(paused["messages"]), approvals={"c_refund": Deny("Over 200 EUR needs a manager")})
        sent = tool_messages(server.requests[0].body)
    assert REFUNDS == []
    assert sent[1] == {
        "role": "tool",
        "tool_call_id": "c_refund",
        "content": "Error: the call to tool 'refund' was not approved, so it did not run. "
        "Reason: Over 200 EUR needs a manager",
    }
    record = result["steps"][0].tool_calls[0]
    assert record.approval == "denied" and record.failure is not None and record.failure.kind == "denied"
    assert record.duration == 0.0 and result["exit_reason"] == "text"


def test_resuming_without_a_decision_pauses_again_without_a_request() -> None:
    with ScriptedServer(paused_script()) as server:
        agent = Agent(generator_for(server), [lookup, refund])
        paused = agent.run("Refund A-1")
        again = agent.run(paused["messages"])
        assert len(server.requests) == 1
    assert again["exit_reason"] == "approval_required" and again["pending"] == paused["pending"]
    assert again["messages"] == paused["messages"] and REFUNDS == []


def test_approve_with_true_and_the_decision_recorded() -> None:
    with ScriptedServer([*paused_script(), "Refunded."]) as server:
        agent = Agent(generator_for(server), [lookup, refund])
        paused = agent.run("Refund A-1")
        result = agent.run(paused["messages"], approvals={"c_refund": True})
    assert REFUNDS == [("A-1", 250.0)]
    assert result["steps"][0].tool_calls[0].approval == "approved"
    assert result["steps"][0].tool_calls[0].result == "Refunded 250 EUR on A-1"


def test_a_call_under_the_limit_runs_without_asking() -> None:
    script = [Reply(tool_calls=[ToolCallReply("refund", {"order_id": "B-2", "amount": 20})]), "Done."]
    with ScriptedServer(script) as server:
        result = Agent(generator_for(server), [refund]).run("Refund B-2")
    assert REFUNDS == [("B-2", 20.0)] and result["exit_reason"] == "text"
    assert result["steps"][0].tool_calls[0].approval is None


def test_invalid_arguments_on_a_call_that_needs_approval_go_back_without_asking() -> None:
    script = [Reply(tool_calls=[ToolCallReply("refund", {"order_id": "A-1", "amount": "lots"})]), "Sorry."]
    asked: list[PendingToolCall] = []
    with ScriptedServer(script) as server:
        result = Agent(generator_for(server), [refund], approval_handler=asked.append).run("Refund")
        sent = tool_messages(server.requests[1].body)[0]["content"]
    assert asked == [] and REFUNDS == []
    assert sent.startswith("Error: Invalid arguments for tool 'refund':\n- amount: Input should be a valid number")
    assert result["steps"][0].tool_calls[0].failure.kind == "invalid_arguments"


@pytest.mark.parametrize(
    ("approvals", "error", "match"),
    [
        ({"c_nope": True}, ApprovalError, r"not waiting for an answer: \['c_nope'\]; waiting: \['c_refund'\]"),
        ({"c_refund": "yes"}, ApprovalError, "must be True, False, Deny"),
        ({"c_refund": Edit({"order_id": "A-1"})}, ToolArgumentsError, "(?s)c_refund.*- amount: required, but missing"),
        ({"c_refund": Edit({"order_id": "A-1", "amount": 1, "note": "x"})}, ToolArgumentsError, "- note: unexpected"),
    ],
)
def test_wrong_approvals_raise_before_anything_runs(approvals: dict[str, Any], error: type, match: str) -> None:
    with ScriptedServer(paused_script()) as server:
        agent = Agent(generator_for(server), [lookup, refund])
        paused = agent.run("Refund A-1")
        with pytest.raises(error, match=match):
            agent.run(paused["messages"], approvals=approvals)
        assert len(server.requests) == 1
    assert REFUNDS == []


def test_approvals_for_a_conversation_with_nothing_waiting_are_refused() -> None:
    with ScriptedServer(["never sent"]) as server:
        with pytest.raises(ApprovalError, match="waiting: none"):
            Agent(generator_for(server), [refund]).run("Hi", approvals={"c1": True})
        assert server.requests == []


def test_sync_handler_decides_each_waiting_call_in_the_run() -> None:
    asked: list[PendingToolCall] = []

    def decide(pending: PendingToolCall) -> Any:
        asked.append(pending)
        return Edit({**pending.arguments, "amount": 40}) if pending.arguments["order_id"] == "A-1" else False

    calls = [
        ToolCallReply("refund", {"order_id": "A-1", "amount": 90}, id="a"),
        ToolCallReply("refund", {"order_id": "B-2", "amount": 95}, id="b"),
        ToolCallReply("refund", {"order_id": "C-3", "amount": 10}, id="c"),
    ]
    with ScriptedServer([Reply(tool_calls=calls), "Done."]) as server:
        result = Agent(generator_for(server), [refund], approval_handler=decide).run("Refund them")
        sent = tool_messages(server.requests[1].body)
    assert [p.id for p in asked] == ["a", "b"]  # c needs no approval
    assert sorted(REFUNDS) == [("A-1", 40.0), ("C-3", 10.0)]
    assert [m["tool_call_id"] for m in sent] == ["a", "b", "c"]
    assert "not approved" in sent[1]["content"] and "Reason" not in sent[1]["content"]
    assert [r.approval for r in result["steps"][0].tool_calls] == ["edited", "denied", None]
    assert result["exit_reason"] == "text" and result["pending"] == []


@pytest.mark.parametrize("mode", ["run", "run_async"])
async def test_async_handler_works_in_sync_and_async_runs(mode: str) -> None:
    async def approve(pending: PendingToolCall) -> bool:
        await asyncio.sleep(0)
        return True

    with ScriptedServer([*paused_script(), "Refunded."]) as server:
        agent = Agent(generator_for(server), [lookup, refund], approval_handler=approve)
        result = agent.run("Refund A-1") if mode == "run" else await agent.run_async("Refund A-1")
    assert REFUNDS == [("A-1", 250.0)] and result["exit_reason"] == "text"


def test_plain_haystack_tool_needs_approval_through_agent_tool_controls() -> None:
    deleted: list[str] = []
    delete = Tool(
        name="delete_file",
        description="Delete a file.",
        parameters={"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
        function=lambda path: deleted.append(path) or f"deleted {path}",
    )
    script = [Reply(tool_calls=[ToolCallReply("delete_file", {"path": "/tmp/x"}, id="d")]), "Deleted."]
    with ScriptedServer(script) as server:
        agent = Agent(generator_for(server), [delete], tool_controls={"delete_file": {"requires_approval": True}})
        paused = agent.run("Delete /tmp/x")
        assert deleted == [] and paused["exit_reason"] == "approval_required"
        with pytest.raises(ToolArgumentsError, match=r"- path: expected string; got 3"):
            agent.run(paused["messages"], approvals={"d": Edit({"path": 3})})  # checked against the JSON schema
        result = agent.run(paused["messages"], approvals={"d": Edit({"path": "/tmp/y"})})
    assert deleted == ["/tmp/y"] and result["exit_reason"] == "text"


def test_tool_controls_for_a_name_that_is_no_tool_is_refused() -> None:
    with ScriptedServer(["never sent"]) as server:
        agent = Agent(generator_for(server), [refund], tool_controls={"refnud": ToolControls(requires_approval=True)})
        with pytest.raises(ValueError, match=r"tool_controls name tools that this run does not have: \['refnud'\]"):
            agent.run("go")


def test_agent_tool_controls_win_over_the_tools_own() -> None:
    script = [Reply(tool_calls=[ToolCallReply("refund", {"order_id": "A-1", "amount": 5})]), "ok"]
    with ScriptedServer(script) as server:
        agent = Agent(generator_for(server), [refund], tool_controls={"refund": ToolControls(requires_approval=True)})
        result = agent.run("go")
    assert result["exit_reason"] == "approval_required" and REFUNDS == []


def test_a_rule_that_raises_means_the_call_waits() -> None:
    def broken_rule(arguments: dict[str, Any], ctx: RunContext[Any]) -> bool:
        raise KeyError("amount")

    script = [Reply(tool_calls=[ToolCallReply("lookup", {"order_id": "A-1"}, id="x")])]
    with ScriptedServer(script) as server:
        agent = Agent(generator_for(server), [lookup], tool_controls={"lookup": {"requires_approval": broken_rule}})
        result = agent.run("go")
    assert result["exit_reason"] == "approval_required" and result["pending"][0].id == "x"


@pytest.mark.parametrize("mode", ["run", "run_async"])
async def test_streaming_shows_the_pause_as_a_tool_result_chunk(mode: str) -> None:
    chunks: list[StreamingChunk] = []
    with ScriptedServer(paused_script()) as server:
        agent = Agent(generator_for(server), [lookup, refund], streaming_callback=chunks.append)
        result = agent.run("Refund A-1") if mode == "run" else await agent.run_async("Refund A-1")
    results = [c for c in chunks if c.tool_call_result is not None]
    assert [c.tool_call_result.origin.id for c in results] == ["c_lookup", "c_refund"]
    assert results[1].meta["pending_approval"] is True and results[1].meta["approval_id"] == "c_refund"
    assert results[1].tool_call_result.result == "Waiting for approval (id c_refund)"
    assert "pending_approval" not in results[0].meta
    assert result["exit_reason"] == "approval_required"


def pausing_script(body: dict[str, Any]) -> Reply:
    """Even-numbered users ask for a big refund (waits), odd ones a small one (runs); then an answer."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    results = tool_messages(body)
    if results:
        return Reply(text=f"{user}: {results[-1]['content']}")
    number = int(user.split()[-1])
    amount = 500 if number % 2 == 0 else 5
    return Reply(tool_calls=[ToolCallReply("refund", {"order_id": f"O-{number}", "amount": amount}, id=f"r{number}")])


async def test_concurrent_runs_with_approvals_pending_in_some_only() -> None:
    with ScriptedServer(pausing_script) as server:
        agent = Agent(generator_for(server), [refund])
        results = await asyncio.gather(*(agent.run_async(f"user {i}") for i in range(12)))
        paused = {i: r for i, r in enumerate(results) if r["exit_reason"] == "approval_required"}
        assert sorted(paused) == list(range(0, 12, 2))
        assert sorted(REFUNDS) == sorted((f"O-{i}", 5.0) for i in range(1, 12, 2))
        for i, result in enumerate(results):
            if i % 2:
                assert result["last_message"].text == f"user {i}: Refunded 5 EUR on O-{i}"
            else:
                assert [p.id for p in result["pending"]] == [f"r{i}"]
        resumed = await asyncio.gather(
            *(agent.run_async(serialized(r["messages"]), approvals={f"r{i}": i != 4}) for i, r in paused.items())
        )
    for i, result in zip(paused, resumed):
        text = result["last_message"].text
        assert text.startswith(f"user {i}: ") and (("not approved" in text) == (i == 4))
    assert ("O-4", 500.0) not in REFUNDS and len(REFUNDS) == 6 + 5


def test_raise_mode_does_not_raise_for_a_denial() -> None:
    """A denial is a person's decision, not a tool failure: it goes to the model even in raise mode."""
    with ScriptedServer([*paused_script(), "Understood."]) as server:
        agent = Agent(
            generator_for(server), [lookup, refund], raise_on_tool_error=True, approval_handler=lambda p: False
        )
        result = agent.run("Refund A-1")
    assert result["exit_reason"] == "text" and REFUNDS == []
    assert result["steps"][0].tool_calls[1].approval == "denied"
