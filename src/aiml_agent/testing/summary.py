"""`run_summary`: an agent run as plain data that is the same for two runs of the same script.

What differs between two runs that behaved the same is left out or replaced: durations are dropped, ids (tool
call ids, response ids, ``X-Client-Request-Id``, ``x-inference-id``) become placeholders numbered in order of
appearance (``"call-1"``, ``"response-1"``, ...; an id seen twice gets the same placeholder, so a pending
approval still names its call), and cost becomes whether it was reported. So ``assert run_summary(a) ==
run_summary(b)`` compares behaviour, and the summary can be stored as a snapshot: it is JSON data, with keys in
a fixed order::

    summary = run_summary(agent.run("Weather in Paris?"))
    assert summary["exit_reason"] == "text"
    assert summary["steps"][0]["tool_calls"][0]["arguments"] == {"city": "Paris"}
    Path("snapshots/weather.json").write_text(json.dumps(summary, indent=2))
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from haystack.dataclasses import ChatMessage

    from aiml_agent.approval import PendingToolCall
    from aiml_agent.run_result import Step, ToolCallRecord, Usage

__all__ = ["run_summary"]


def run_summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """The run as plain data: exit reason, steps (the model's reply, the tool calls with their arguments, results
    and failure kinds), calls waiting for approval, token usage, and the structured output if any.

    :param result: What ``Agent.run`` / ``run_async`` returned.
    :returns: ``{"exit_reason", "steps": [{"index", "resumed", "reply": {"text", "finish_reason", "model",
        "usage", "response_id", "client_request_id", "inference_id"}, "tool_calls": [{"id", "tool_name",
        "arguments", "result", "failure", "approval", "edited_arguments", "truncated_chars"}]}], "pending":
        [{"id", "tool_name", "arguments"}], "usage": {"requests", "prompt_tokens", "completion_tokens",
        "total_tokens", "cost_reported"}}`` (and ``"output"`` when the agent has an ``output_type``). A reply's
        ``reasoning`` and a malformed call's ``raw_arguments`` appear when there are some.
    :raises TypeError: ``result`` is not an agent run's result.
    """
    missing = [key for key in ("exit_reason", "steps", "usage") if key not in result]
    if missing:
        raise TypeError(f"run_summary() takes the dict Agent.run returns; this one has no {', '.join(missing)}")
    ids = _Placeholders()
    summary: dict[str, Any] = {
        "exit_reason": result["exit_reason"],
        "steps": [_step(step, ids) for step in result["steps"]],
        "pending": [_pending(pending, ids) for pending in result.get("pending") or []],
        "usage": _usage(result["usage"]),
    }
    if "output" in result:
        output = result["output"]
        summary["output"] = output.model_dump(mode="json") if hasattr(output, "model_dump") else output
    return summary


class _Placeholders:
    """Replaces ids by ``<kind>-<n>``, numbered per kind in order of first appearance."""

    def __init__(self) -> None:
        self._given: dict[tuple[str, str], str] = {}
        self._count: Counter[str] = Counter()

    def __call__(self, kind: str, value: Any) -> Any:
        if not value or not isinstance(value, str):
            return value  # no id (None), or the empty id Gemini sends: nothing run-dependent to hide
        key = (kind, value)
        if key not in self._given:
            self._count[kind] += 1
            self._given[key] = f"{kind}-{self._count[kind]}"
        return self._given[key]


def _step(step: Step, ids: _Placeholders) -> dict[str, Any]:
    return {
        "index": step.index,
        "resumed": step.resumed,
        "reply": _reply(step.reply, step.usage, ids),
        "tool_calls": [_record(record, ids) for record in step.tool_calls],
    }


def _reply(reply: ChatMessage, usage: Usage, ids: _Placeholders) -> dict[str, Any]:
    meta = reply.meta
    data: dict[str, Any] = {"text": reply.text}
    if reply.reasoning is not None:
        data["reasoning"] = reply.reasoning.reasoning_text
    data.update(
        finish_reason=meta.get("finish_reason"),
        model=meta.get("model"),
        usage={
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        },
        response_id=ids("response", meta.get("id")),
        client_request_id=ids("request", meta.get("client_request_id")),
        inference_id=ids("inference", meta.get("inference_id")),
    )
    return data


def _record(record: ToolCallRecord, ids: _Placeholders) -> dict[str, Any]:
    call = record.tool_call
    data: dict[str, Any] = {"id": ids("call", call.id), "tool_name": call.tool_name, "arguments": call.arguments}
    raw = (call.extra or {}).get("raw_arguments")
    if raw is not None:
        data["raw_arguments"] = raw
    data.update(
        result=record.result,
        failure=record.failure.kind if record.failure is not None else None,
        approval=record.approval,
        edited_arguments=record.edited_arguments,
        truncated_chars=record.truncated_chars,
    )
    return data


def _pending(pending: PendingToolCall, ids: _Placeholders) -> dict[str, Any]:
    # "#<position>" names a call the model gave no id: a position, not a run-dependent id
    approval_id = pending.id if pending.id.startswith("#") else ids("call", pending.id)
    return {"id": approval_id, "tool_name": pending.tool_name, "arguments": pending.arguments}


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "requests": usage.requests,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cost_reported": usage.cost is not None,
    }
