"""RunContext: what a tool may learn about the agent run that called it.

A tool parameter annotated ``RunContext`` is hidden from the model's schema and filled in at call time
from :data:`current_run_context`, which the agent sets around every tool invocation (threads get a copy
of the context, asyncio tasks inherit it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from haystack.dataclasses import ChatMessage

DepsT = TypeVar("DepsT")


@dataclass
class RunContext(Generic[DepsT]):
    """The state of one agent run, as seen by a tool.

    :param deps: The object the caller passed to ``Agent.run(deps=...)``.
    :param messages: The conversation so far (a copy shared by the tool calls of this step; changing it
        does not change the run).
    :param step: The number of the current step (1 for the first model call).
    :param tool_call_id: The id of the tool call being answered, when called by the agent.
    :param tool_name: The name of the tool being called.
    """

    deps: DepsT = None  # type: ignore[assignment]
    messages: list[ChatMessage] = field(default_factory=list)
    step: int = 0
    tool_call_id: str | None = None
    tool_name: str | None = None


current_run_context: ContextVar[RunContext[Any] | None] = ContextVar("aiml_agent_run_context", default=None)


@contextmanager
def use_run_context(context: RunContext[Any]) -> Iterator[RunContext[Any]]:
    """Make ``context`` the current run context inside the ``with`` block."""
    token = current_run_context.set(context)
    try:
        yield context
    finally:
        current_run_context.reset(token)
