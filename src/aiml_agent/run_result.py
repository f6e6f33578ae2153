"""Records of one agent run: token usage and cost summed over model calls, what happened in each step, and the
run's state while it goes.

They are plain data so that a run's outcome can be inspected, logged or serialized without the agent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiml_agent.context import RunContext

if TYPE_CHECKING:  # annotations only: cassette_cmd sums usage with add_usage without loading Haystack
    from haystack.dataclasses import ChatMessage, ToolCall
    from haystack.tools import Tool

_TOKEN_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")
_COST_KEYS = ("credits_used", "usd_spent")


def new_usage() -> dict[str, Any]:
    """An empty usage record: model requests and tokens; ``cost`` is added once a reply reports one."""
    return {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def add_usage(total: dict[str, Any], reply_meta: dict[str, Any]) -> None:
    """Add one model reply's token usage (``meta["usage"]``) and AIMLAPI cost (``meta["cost"]``) to ``total``."""
    total["requests"] += 1
    usage = reply_meta.get("usage") or {}
    for key in _TOKEN_KEYS:
        value = usage.get(key)
        if isinstance(value, (int, float)):
            total[key] += value
    cost = reply_meta.get("cost")
    if isinstance(cost, dict):
        summed = total.setdefault("cost", {key: 0 for key in _COST_KEYS})
        for key in _COST_KEYS:
            value = cost.get(key)
            if isinstance(value, (int, float)):
                summed[key] += value


@dataclass
class ToolCallRecord:
    """One tool call of a step and how it went.

    :param tool_call: The call as the model made it (name, arguments, id; ``extra`` holds raw malformed JSON).
    :param result: The text sent back to the model in the tool message.
    :param error: Whether the call failed (the result then explains why, for the model to act on).
    :param duration: Seconds the tool took (0 when it never ran: unknown tool, malformed arguments).
    :param exception: The exception behind an error, for the caller (never sent to the model as is).
    """

    tool_call: ToolCall
    result: str
    error: bool
    duration: float = 0.0
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def tool_name(self) -> str:
        """The name of the called tool."""
        return self.tool_call.tool_name

    @property
    def arguments(self) -> dict[str, Any]:
        """The arguments the model gave (``{}`` when they were not valid JSON)."""
        return self.tool_call.arguments

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (the exception as its text)."""
        return {
            "tool_call": self.tool_call.to_dict(),
            "result": self.result,
            "error": self.error,
            "duration": self.duration,
            "exception": repr(self.exception) if self.exception is not None else None,
        }


@dataclass
class Step:
    """One step of a run: a model call and the tool calls its reply asked for.

    :param index: 1 for the first model call.
    :param reply: The model's reply.
    :param model_duration: Seconds the model call took.
    :param tool_calls: The reply's tool calls with their results, in call order.
    :param tools_duration: Wall-clock seconds the (concurrent) tool calls took together.
    """

    index: int
    reply: ChatMessage
    model_duration: float
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    tools_duration: float = 0.0

    @property
    def usage(self) -> dict[str, Any]:
        """The token usage the model reported for this step."""
        return dict(self.reply.meta.get("usage") or {})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form."""
        return {
            "index": self.index,
            "reply": self.reply.to_dict(),
            "model_duration": self.model_duration,
            "tool_calls": [record.to_dict() for record in self.tool_calls],
            "tools_duration": self.tools_duration,
        }


@dataclass
class RunState:
    """Everything one agent run accumulates; created per run and never stored on the Agent."""

    messages: list[ChatMessage]
    deps: Any
    generation_kwargs: dict[str, Any]
    max_steps: int
    tools: dict[str, Tool]
    steps: list[Step] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=new_usage)
    exit_reason: str | None = None
    output: Any = None
    output_failures: int = 0

    def contexts_for_step(self) -> Callable[[ToolCall], RunContext[Any]]:
        """Makes the RunContext each tool call of the current step sees.

        The messages are copied once per step, not once per call (a turn may have many calls): the calls of
        one step share that copy, which never changes the run's own conversation.
        """
        messages, step = list(self.messages), len(self.steps)

        def context_for(tool_call: ToolCall) -> RunContext[Any]:
            return RunContext(
                deps=self.deps, messages=messages, step=step, tool_call_id=tool_call.id, tool_name=tool_call.tool_name
            )

        return context_for
