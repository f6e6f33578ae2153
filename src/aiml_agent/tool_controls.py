"""Limits and approval for tool calls: how long a call may run, how often a tool may fail in a run, how much of
its result the model gets, and whether a person must say yes before it runs.

A :class:`ToolControls` comes from three places, the first that sets a field wins:

1. the Agent, per tool name: ``Agent(tool_controls={"delete_file": ToolControls(requires_approval=True)})``
   (works for any Haystack Tool, MCP tools included);
2. the tool itself: ``@tool(timeout=10, requires_approval=True)``, or any Tool with a ``controls`` attribute
   holding a ``ToolControls``;
3. the Agent-wide defaults: ``Agent(tool_timeout=..., tool_retries=..., max_tool_output_chars=...)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from aiml_agent.context import RunContext

if TYPE_CHECKING:
    from haystack.tools import Tool

__all__ = ["MIN_OUTPUT_CHARS", "ApprovalRule", "ToolControls", "controls_of"]

logger = logging.getLogger(__name__)

#: The smallest ``max_output_chars``: room for the head, the tail and the marker between them.
MIN_OUTPUT_CHARS = 100

ApprovalRule = Callable[[dict[str, Any], RunContext[Any]], bool]
"""``(arguments, ctx) -> bool``: whether this call needs a person's yes (arguments as the model sent them)."""


@dataclass(frozen=True, kw_only=True)
class ToolControls:
    """Settings for the calls of one tool; ``None`` means "not set here" (the next place decides).

    :param timeout: Seconds a call may run. An async tool is cancelled; a sync tool's thread is left to finish
        on its own (Python cannot stop a thread) while the run goes on. The model is told it timed out.
    :param retries: How many failed calls of this tool a run tolerates; one more ends the run with
        ``exit_reason="tool_retries"``. Failures are exceptions, invalid or malformed arguments, timeouts,
        ``ToolRetry`` and results that cannot become text; denials and unknown tool names are not.
    :param max_output_chars: A longer result (or error text) keeps its head and tail around a marker saying
        how many characters were cut. At least ``MIN_OUTPUT_CHARS``.
    :param requires_approval: ``True`` (always), ``False`` (never), or ``(arguments, ctx) -> bool`` deciding
        per call. A rule that raises counts as "needs approval".
    :raises ValueError: A limit is not positive, or ``max_output_chars`` is below ``MIN_OUTPUT_CHARS``.
    :raises TypeError: ``requires_approval`` is neither a bool nor a callable.
    """

    timeout: float | None = None
    retries: int | None = None
    max_output_chars: int | None = None
    requires_approval: bool | ApprovalRule | None = None

    def __post_init__(self) -> None:
        if self.timeout is not None and not (_is_number(self.timeout) and self.timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        if self.retries is not None and not (_is_number(self.retries, int) and self.retries >= 0):
            raise ValueError(f"retries must be a whole number of at least 0, got {self.retries!r}")
        if self.max_output_chars is not None and not (
            _is_number(self.max_output_chars, int) and self.max_output_chars >= MIN_OUTPUT_CHARS
        ):
            raise ValueError(f"max_output_chars must be at least {MIN_OUTPUT_CHARS}, got {self.max_output_chars!r}")
        rule = self.requires_approval
        if rule is not None and not isinstance(rule, bool) and not callable(rule):
            raise TypeError(f"requires_approval must be a bool or a callable (arguments, ctx) -> bool, got {rule!r}")

    def over(self, fallback: ToolControls) -> ToolControls:
        """These controls, with each field that is not set taken from ``fallback``."""
        if self is NO_CONTROLS:
            return fallback
        if fallback is NO_CONTROLS:
            return self
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return ToolControls(**{k: v if v is not None else getattr(fallback, k) for k, v in values.items()})

    def needs_approval(self, arguments: dict[str, Any], context: RunContext[Any]) -> bool:
        """Whether a call with these ``arguments`` must wait for a person's yes."""
        rule = self.requires_approval
        if rule is None or isinstance(rule, bool):
            return bool(rule)
        try:
            return bool(rule(arguments, context))
        except Exception:
            logger.warning(
                "The requires_approval rule of tool '%s' raised; the call waits for approval.",
                context.tool_name,
                exc_info=True,
            )
            return True

    def to_dict(self) -> dict[str, Any]:
        """Plain data; a ``requires_approval`` rule by its import path."""
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        if callable(self.requires_approval):
            from haystack.utils.callable_serialization import serialize_callable

            data["requires_approval"] = serialize_callable(self.requires_approval)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, what: str = "a tool") -> ToolControls:
        """Rebuild from :meth:`to_dict` output.

        :param what: Whose controls these are, for error messages (e.g. ``"tool 'refund'"``).
        :raises DeserializationError: A rule's module is not on Haystack's deserialization allowlist (the
            message says how to allow it), or the rule is a function of this package.
        """
        values = dict(data)
        if isinstance(values.get("requires_approval"), str):
            from aiml_agent._haystack import load_callable

            values["requires_approval"] = load_callable(
                values["requires_approval"], what=f"the requires_approval rule of {what}"
            )
        return cls(**values)


def _is_number(value: Any, kind: type | tuple[type, ...] = (int, float)) -> bool:
    return isinstance(value, kind) and not isinstance(value, bool)


NO_CONTROLS = ToolControls()


def controls_of(tool: Tool) -> ToolControls:
    """The controls a Tool carries itself (its ``controls`` attribute), or empty ones."""
    controls = getattr(tool, "controls", None)
    return controls if isinstance(controls, ToolControls) else NO_CONTROLS
