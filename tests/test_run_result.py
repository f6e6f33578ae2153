"""The records of a run (:mod:`aiml_agent.run_result`): Usage adds up, UsageLimits says which limit a usage reached,
ToolCallRecord and Step are built with keywords, never change, and serialize."""

from __future__ import annotations

import dataclasses

import pytest
from haystack.dataclasses import ChatMessage, ToolCall

from aiml_agent import ToolCallRecord, Usage, UsageLimits
from aiml_agent.run_result import Step
from aiml_agent.tool_failure import ToolFailure


def test_usage_adds_up_and_keeps_cost_absent_until_reported() -> None:
    first = Usage.of_reply({"usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})
    second = Usage.of_reply({"usage": {"total_tokens": 4}, "cost": {"credits_used": 7, "usd_spent": "0.000010"}})
    total = first + second
    assert (total.requests, total.prompt_tokens, total.total_tokens) == (2, 3, 9)
    assert first.cost is None and total.credits_used == 7 and total.usd_spent == pytest.approx(0.00001)
    assert total.to_dict()["cost"] == {"credits_used": 7, "usd_spent": pytest.approx(0.00001)}
    assert "cost" not in first.to_dict()


def test_usage_of_a_reply_ignores_what_is_no_number() -> None:
    usage = Usage.of_reply({"usage": {"prompt_tokens": True, "total_tokens": "many"}, "cost": "free"})
    assert usage == Usage(requests=1)
    assert Usage() + Usage.of_reply({}) == Usage(requests=1)
    with pytest.raises(TypeError):
        Usage() + {"requests": 1}  # type: ignore[operator]


@pytest.mark.parametrize(
    ("limits", "usage", "reached"),
    [
        (UsageLimits(max_requests=2), Usage(requests=1), None),
        (UsageLimits(max_requests=2), Usage(requests=2), "2 requests made, max_requests=2"),
        (UsageLimits(max_total_tokens=100), Usage(total_tokens=99), None),
        (UsageLimits(max_total_tokens=100), Usage(total_tokens=120), "120 tokens used, max_total_tokens=100"),
        (UsageLimits(max_cost_usd=0.01), Usage(usd_spent=0.02), "$0.02 spent, max_cost_usd=0.01"),
        (UsageLimits(max_cost_usd=0.01), Usage(requests=5), None),  # no cost reported: the limit cannot apply
    ],
)
def test_usage_limits_name_the_limit_reached(limits: UsageLimits, usage: Usage, reached: str | None) -> None:
    assert limits.reached(usage) == reached


@pytest.mark.parametrize("bad", [{"max_requests": 0}, {"max_total_tokens": -1}, {"max_cost_usd": True}])
def test_usage_limits_must_be_positive_numbers(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=f"UsageLimits {next(iter(bad))} must be a positive number"):
        UsageLimits(**bad)  # type: ignore[arg-type]


def test_a_tool_call_record_is_built_with_keywords_and_tells_its_failure() -> None:
    call = ToolCall(tool_name="get_weather", arguments={"city": "Atlantis"}, id="call_1")
    error = LookupError("Atlantis is not on the map")
    failure = ToolFailure.from_exception(error, tool_name="get_weather", call_id="call_1")
    record = ToolCallRecord(tool_call=call, result="Error: ...", failure=failure, duration=0.5)

    assert record.error and record.exception is error
    assert (record.tool_name, record.arguments, record.truncated) == ("get_weather", {"city": "Atlantis"}, False)
    assert record.to_dict()["failure"]["kind"] == "exception" and record.to_dict()["error"] is True
    assert not ToolCallRecord(tool_call=call, result="Sunny").error
    with pytest.raises(TypeError):
        ToolCallRecord(call, "Sunny")  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.result = "changed"  # type: ignore[misc]


def test_a_step_counts_the_usage_of_its_own_model_call_only() -> None:
    meta = {"usage": {"total_tokens": 12}, "client_request_id": "req-1", "inference_id": "inf-1"}
    reply = ChatMessage.from_assistant("Sunny.", meta=meta)
    step = Step(index=1, reply=reply, model_duration=0.2)
    resumed = Step(index=1, reply=reply, model_duration=0.0, resumed=True)

    assert step.usage == Usage(requests=1, total_tokens=12) and resumed.usage == Usage()
    assert (step.client_request_id, step.inference_id) == ("req-1", "inf-1")
    assert step.to_dict()["reply"] == reply.to_dict() and step.to_dict()["tool_calls"] == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.index = 2  # type: ignore[misc]
