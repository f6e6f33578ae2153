"""Records of one agent run: token usage and cost (:class:`Usage`) summed over model calls and the limits on
them (:class:`UsageLimits`), what happened in each step, and the run's state while it goes.

They are plain data so that a run's outcome can be inspected, logged or serialized without the agent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from aiml_agent.context import RunContext

if TYPE_CHECKING:  # annotations only: importing Usage loads no Haystack (the CLI parser imports it)
    from haystack.dataclasses import ChatMessage, ToolCall
    from haystack.tools import Tool

    from aiml_agent.approval import ApprovalDecision, PendingToolCall
    from aiml_agent.tool_controls import ToolControls
    from aiml_agent.tool_failure import ToolFailure


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
            prompt_tokens=reported_number(tokens.get("prompt_tokens")) or 0,
            completion_tokens=reported_number(tokens.get("completion_tokens")) or 0,
            total_tokens=reported_number(tokens.get("total_tokens")) or 0,
            credits_used=reported_number(cost.get("credits_used")),
            usd_spent=reported_number(cost.get("usd_spent")),
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


def reported_number(value: Any) -> Any:
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


@dataclass(frozen=True, kw_only=True)
class UsageLimits:
    """Limits on what one agent run may spend; a run that reaches one ends with ``exit_reason="usage_limit"``.

    Checked before every model request: no request is made once ``max_requests`` were, or once the tokens or
    the cost so far passed their limit (so the reply that passes a token or cost limit is the run's last one;
    its tool calls still run). Each ``run``/``run_async`` call counts from zero, a resumed run too.

    :param max_requests: Model requests per run.
    :param max_total_tokens: Total tokens (prompt + completion, as the server reports them) per run.
    :param max_cost_usd: US dollars per run, from the cost AIMLAPI reports with each reply (``Usage.usd_spent``);
        when the server reports no cost this limit cannot apply, and a warning says so once per run.
    :raises ValueError: A limit is not positive.
    """

    max_requests: int | None = None
    max_total_tokens: int | None = None
    max_cost_usd: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_requests", "max_total_tokens", "max_cost_usd"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"UsageLimits {name} must be a positive number, got {value!r}")

    def reached(self, usage: Usage) -> str | None:
        """Which limit ``usage`` has reached, in words (None when another request is allowed)."""
        if self.max_requests is not None and usage.requests >= self.max_requests:
            return f"{usage.requests} requests made, max_requests={self.max_requests}"
        if self.max_total_tokens is not None and usage.total_tokens >= self.max_total_tokens:
            return f"{usage.total_tokens} tokens used, max_total_tokens={self.max_total_tokens}"
        if self.max_cost_usd is not None and usage.usd_spent is not None and usage.usd_spent >= self.max_cost_usd:
            return f"${usage.usd_spent:g} spent, max_cost_usd={self.max_cost_usd:g}"
        return None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the three limits)."""
        return {
            "max_requests": self.max_requests,
            "max_total_tokens": self.max_total_tokens,
            "max_cost_usd": self.max_cost_usd,
        }


ApprovalStatus = Literal["approved", "edited", "denied"]


@dataclass(frozen=True, kw_only=True)
class ToolCallRecord:
    """One tool call of a step and how it went.

    :param tool_call: The call as the model made it (name, arguments, id; ``extra`` holds raw malformed JSON).
    :param result: The text sent back to the model in the tool message (cut when it was too long).
    :param failure: What went wrong, as data; None when the call succeeded. The text the model got for it
        is ``result``.
    :param duration: Seconds the tool took (0 when it never ran: unknown tool, malformed arguments, denied;
        the timeout when it timed out).
    :param truncated_chars: How many characters of the result were cut to fit ``max_output_chars`` (0: none).
    :param approval: ``"approved"``, ``"edited"`` or ``"denied"`` for a call that needed a person's decision;
        None for one that needed none.
    :param edited_arguments: The arguments the call ran with, when an ``Edit`` replaced the model's.
    """

    tool_call: ToolCall
    result: str
    failure: ToolFailure | None = None
    duration: float = 0.0
    truncated_chars: int = 0
    approval: ApprovalStatus | None = None
    edited_arguments: dict[str, Any] | None = None

    @property
    def error(self) -> bool:
        """Whether the call failed (then ``result`` explains why, for the model to act on)."""
        return self.failure is not None

    @property
    def exception(self) -> BaseException | None:
        """The exception behind a failure, for the caller (never sent to the model as it is)."""
        return self.failure.exception if self.failure is not None else None

    @property
    def truncated(self) -> bool:
        """Whether the result was cut to fit the tool's ``max_output_chars``."""
        return self.truncated_chars > 0

    @property
    def tool_name(self) -> str:
        """The name of the called tool."""
        return self.tool_call.tool_name

    @property
    def arguments(self) -> dict[str, Any]:
        """The arguments the model gave (``{}`` when they were not valid JSON); see also ``edited_arguments``."""
        return self.tool_call.arguments

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (the failure as plain data, its exception as text)."""
        return {
            "tool_call": self.tool_call.to_dict(),
            "result": self.result,
            "error": self.error,
            "failure": self.failure.to_dict() if self.failure is not None else None,
            "duration": self.duration,
            "truncated_chars": self.truncated_chars,
            "approval": self.approval,
            "edited_arguments": self.edited_arguments,
        }


@dataclass(frozen=True, kw_only=True)
class Step:
    """One step of a run: a model reply and the tool calls it asked for, built once its calls are answered.

    :param index: 1 for the run's first step.
    :param reply: The model's reply.
    :param model_duration: Seconds the model call took (0 for a resumed step).
    :param tool_calls: The reply's tool calls that were answered in this run, in call order (a call still
        waiting for approval is in the result's ``pending`` instead).
    :param tools_duration: Wall-clock seconds the (concurrent) tool calls took together.
    :param resumed: True when the reply came with the run's messages (a run resumed after an approval pause):
        this run made no model call for it.
    """

    index: int
    reply: ChatMessage
    model_duration: float
    tool_calls: tuple[ToolCallRecord, ...] = ()
    tools_duration: float = 0.0
    resumed: bool = False

    @property
    def usage(self) -> Usage:
        """The tokens and cost of this step's model call (none for a resumed step)."""
        return Usage() if self.resumed else Usage.of_reply(self.reply.meta)

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
            "resumed": self.resumed,
        }


@dataclass
class RunState:
    """Everything one agent run accumulates; created per run and never stored on the Agent."""

    messages: list[ChatMessage]
    deps: Any
    generation_kwargs: dict[str, Any]
    max_steps: int
    tools: dict[str, Tool]
    controls: dict[str, ToolControls]
    approvals: dict[str, ApprovalDecision] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    exit_reason: str | None = None
    output: Any = None
    output_failures: int = 0
    tool_failures: Counter[str] = field(default_factory=Counter)
    pending: list[PendingToolCall] = field(default_factory=list)

    def contexts_for_step(self) -> Callable[[ToolCall], RunContext[Any]]:
        """Makes the RunContext each tool call of the step being built sees.

        The messages are copied once per step, not once per call (a turn may have many calls): the calls of
        one step share that copy, which never changes the run's own conversation.
        """
        messages, step = list(self.messages), len(self.steps) + 1

        def context_for(tool_call: ToolCall) -> RunContext[Any]:
            return RunContext(
                deps=self.deps, messages=messages, step=step, tool_call_id=tool_call.id, tool_name=tool_call.tool_name
            )

        return context_for
