"""Records of one agent run: token usage and cost (:class:`Usage`) summed over model calls, what happened in
each step, and the run's state while it goes.

They are plain data so that a run's outcome can be inspected, logged or serialized without the agent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiml_agent.context import RunContext

if TYPE_CHECKING:  # annotations only: cassette_cmd sums usage without loading Haystack
    from haystack.dataclasses import ChatMessage, ToolCall
    from haystack.tools import Tool


@dataclass(frozen=True)
class Usage:
    """Model requests, tokens and AIMLAPI cost; usages add up with ``+``.

    :param requests: Model calls made.
    :param prompt_tokens: Input tokens the server reported.
    :param completion_tokens: Output tokens the server reported.
    :param total_tokens: Total tokens the server reported.
    :param credits_used: AIMLAPI credits spent, or None when the server reported no cost.
    :param usd_spent: US dollars spent, or None when the server reported no cost.
    """

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    credits_used: float | None = None
    usd_spent: float | None = None

    @classmethod
    def of_reply(cls, meta: Mapping[str, Any]) -> Usage:
        """The usage of one model reply, from its ``meta["usage"]`` (tokens) and ``meta["cost"]`` (AIMLAPI)."""
        raw_tokens, raw_cost = meta.get("usage"), meta.get("cost")
        tokens: Mapping[str, Any] = raw_tokens if isinstance(raw_tokens, Mapping) else {}
        cost: Mapping[str, Any] = raw_cost if isinstance(raw_cost, Mapping) else {}
        return cls(
            requests=1,
            prompt_tokens=_number(tokens.get("prompt_tokens")) or 0,
            completion_tokens=_number(tokens.get("completion_tokens")) or 0,
            total_tokens=_number(tokens.get("total_tokens")) or 0,
            credits_used=_number(cost.get("credits_used")),
            usd_spent=_number(cost.get("usd_spent")),
        )

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            requests=self.requests + other.requests,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            credits_used=_add_optional(self.credits_used, other.credits_used),
            usd_spent=_add_optional(self.usd_spent, other.usd_spent),
        )

    @property
    def cost(self) -> dict[str, float] | None:
        """AIMLAPI's cost as the server spells it (``credits_used``, ``usd_spent``), or None when none was reported."""
        cost = {"credits_used": self.credits_used, "usd_spent": self.usd_spent}
        return {key: value for key, value in cost.items() if value is not None} or None

    def to_dict(self) -> dict[str, Any]:
        """Plain data: the token counts, and ``cost`` when the server reported one."""
        data: dict[str, Any] = {
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.cost is not None:
            data["cost"] = self.cost
        return data


def _number(value: Any) -> Any:
    """A reported number (int, float, or a numeric string such as AIMLAPI's ``"0.001240000"``), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _add_optional(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else a + b


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
    def usage(self) -> Usage:
        """The tokens and cost of this step's model call."""
        return Usage.of_reply(self.reply.meta)

    @property
    def client_request_id(self) -> str | None:
        """The ``X-Client-Request-Id`` this step's model request carried: AIMLAPI's logs list it (with each
        attempt, should it have been retried)."""
        return self.reply.meta.get("client_request_id")

    @property
    def inference_id(self) -> str | None:
        """AIMLAPI's ``x-inference-id`` for this step's answer: the key of its logs and billing records."""
        return self.reply.meta.get("inference_id")

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
    usage: Usage = field(default_factory=Usage)
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
