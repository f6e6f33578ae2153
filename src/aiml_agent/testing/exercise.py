"""`exercise_tools`: call every tool with arguments its schema allows, and report the calls that broke it.

A model may send any value the tool's schema allows: an empty string, a negative number, ``null`` for every
optional parameter (strict mode's way of leaving one out), an empty list, a date far in the past. A tool that
raises on such a value fails in production the first time a model sends it. `exercise_tools` finds those calls
before a model does::

    from aiml_agent.testing import exercise_tools

    def test_tools_survive_what_a_model_may_send():
        exercise_tools([get_weather, book_table], examples=50).assert_ok()

Arguments are drawn by `Hypothesis <https://hypothesis.readthedocs.io>`_ from the schema each tool is sent with
(strict by default, as with ``tools_strict=True``), reproducibly for a ``seed``, and each call goes the way an
Agent makes it (argument validation, ``RunContext``, the tool's timeout, its result made text). Reported: the
tool raised, its result could not become text, it ran past its timeout, or its own validation rejected
arguments its schema allows (a schema that promises more than the tool accepts). A ``ToolRetry`` is not a
failure: it is the tool talking to the model (so are the exceptions passed as ``expected``). The tools really
run: give them test doubles for side effects.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiml_agent.errors import AIMLAgentError

if TYPE_CHECKING:
    from haystack.tools import Tool

    from aiml_agent._agent_tools import AgentTools
    from aiml_agent.tool_failure import FailureKind, ToolFailure

__all__ = ["FailedToolCall", "ToolExerciseError", "ToolExerciseReport", "exercise_tools"]

#: The failures a call with schema-valid arguments must not end in (``retry``: the tool chose to answer so).
REPORTED_KINDS = frozenset({"exception", "invalid_arguments", "invalid_result", "timeout"})
_INSTALL = "exercise_tools needs Hypothesis: pip install 'aiml-agent[fuzz]' (or pip install hypothesis)"


class ToolExerciseError(AIMLAgentError, AssertionError):
    """Raised by `ToolExerciseReport.assert_ok` when some calls failed; the message is the report."""


@dataclass(frozen=True)
class FailedToolCall:
    """One call that failed although its arguments matched the tool's schema.

    :param tool_name: The tool called.
    :param arguments: The arguments it was called with (call it again with ``tool.invoke(**arguments)``).
    :param kind: ``"exception"``, ``"invalid_arguments"``, ``"invalid_result"`` or ``"timeout"``.
    :param exception_type: The class name of what was raised (the tool's own exception, not a wrapper).
    :param message: What went wrong: the exception's message, the fields its validation rejected, ...
    :param exception: The exception itself, for a debugger.
    """

    tool_name: str
    arguments: dict[str, Any]
    kind: FailureKind
    exception_type: str | None
    message: str
    exception: BaseException | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        what = f"{self.exception_type}: {self.message}" if self.exception_type else self.message
        return f"{self.tool_name}({_json(self.arguments)}) -> {self.kind}: {what}"


@dataclass(frozen=True)
class ToolExerciseReport:
    """What `exercise_tools` found.

    :param seed: The seed the arguments were drawn with (the same seed draws the same calls again).
    :param calls: How many calls each tool got, by tool name.
    :param failures: The calls that failed, in the order they were made.
    :param notes: Per tool name, what could not be done as asked (e.g. a schema that cannot be strict, so
        the arguments were drawn from its non-strict form).
    """

    seed: int
    calls: dict[str, int]
    failures: tuple[FailedToolCall, ...] = ()
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every call succeeded."""
        return not self.failures

    def failures_of(self, tool_name: str) -> list[FailedToolCall]:
        """The failed calls of one tool."""
        return [failure for failure in self.failures if failure.tool_name == tool_name]

    def assert_ok(self) -> None:
        """Raise `ToolExerciseError` (an AssertionError) with this report when a call failed."""
        if self.failures:
            raise ToolExerciseError(str(self))

    def __str__(self) -> str:
        total = sum(self.calls.values())
        failing = sorted({failure.tool_name for failure in self.failures})
        if not failing:
            lines = [f"exercise_tools(seed={self.seed}): {total} calls to {len(self.calls)} tools, none failed."]
        else:
            lines = [
                f"exercise_tools(seed={self.seed}): {len(failing)} of {len(self.calls)} tools failed on arguments "
                f"their schemas allow ({len(self.failures)} of {total} calls):"
            ]
        for name in failing:
            failures = self.failures_of(name)
            lines.append(f"- {name}: {len(failures)} of {self.calls[name]} calls failed")
            groups: dict[tuple[str, str | None], list[FailedToolCall]] = {}
            for failure in failures:
                groups.setdefault((failure.kind, failure.exception_type), []).append(failure)
            for group in groups.values():
                example = min(group, key=lambda failure: len(_json(failure.arguments)))
                times = f" ({len(group)} calls)" if len(group) > 1 else ""
                lines.append(f"    {example}{times}".replace("\n", "\n      "))
        passed = sorted(set(self.calls) - set(failing))
        if failing and passed:
            lines.append(f"No failure: {', '.join(passed)}.")
        lines.extend(f"Note on {name}: {note}" for name, note in sorted(self.notes.items()))
        if failing:
            lines.append(f"The same seed ({self.seed}) makes the same calls again.")
        return "\n".join(lines)


def exercise_tools(
    tools: AgentTools,
    examples: int = 20,
    seed: int = 0,
    *,
    strict: bool = True,
    deps: Any = None,
    timeout: float | None = 10.0,
    expected: tuple[type[BaseException], ...] = (),
) -> ToolExerciseReport:
    """Call every tool with up to `examples` argument sets its schema allows; report the calls that failed.

    :param tools: Tools, Toolsets and plain functions, as an Agent takes them.
    :param examples: Calls per tool at most (fewer when the schema allows fewer distinct argument sets).
    :param seed: Draws the arguments; the same seed gives the same calls.
    :param strict: Draw from the schema a ``tools_strict=True`` request sends (every parameter present,
        ``null`` for optional ones); ``False``: the non-strict one (optional parameters left out or given).
        A tool marked ``strict=False`` (or ``True``) is drawn from the schema it is sent with either way.
    :param deps: What the tools get as ``RunContext.deps``.
    :param timeout: Seconds a call may run, for tools without a timeout of their own (``None``: no limit).
    :param expected: Exceptions the tools raise on purpose (the model reads their message and can try again):
        calls that raise one of these are not reported. ``ToolRetry`` always counts as such.
    :returns: The report: ``report.assert_ok()`` raises with a readable list of what failed.
    :raises ImportError: Hypothesis is not installed.
    :raises ValueError: No tools were given, or `examples` is below 1.
    """
    try:
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import seed as seeded
        from hypothesis.errors import HypothesisException
    except ImportError:
        raise ImportError(_INSTALL) from None
    from haystack.dataclasses import ToolCall
    from haystack.tools import flatten_tools_or_toolsets, warm_up_tools

    from aiml_agent._agent_tools import as_tools, effective_controls, tools_by_name
    from aiml_agent._tool_runner import ToolRunner
    from aiml_agent.context import RunContext
    from aiml_agent.testing._json_strategies import arguments_strategy
    from aiml_agent.tool_controls import ToolControls

    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
        raise ValueError(f"examples must be a whole number of at least 1, got {examples!r}")
    converted = as_tools(tools)
    warm_up_tools(converted)
    by_name = tools_by_name(flatten_tools_or_toolsets(converted))
    if not by_name:
        raise ValueError("exercise_tools got no tools to call")
    runner = ToolRunner(
        by_name,
        concurrency=1,
        make_context=lambda call: RunContext(deps=deps, tool_call_id=call.id, tool_name=call.tool_name),
        controls=effective_controls(by_name, {}, ToolControls(timeout=timeout)),
    )
    run_settings = settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    calls: dict[str, int] = {}
    failures: list[FailedToolCall] = []
    notes: dict[str, str] = {}

    def call_of(name: str) -> Callable[[dict[str, Any]], None]:
        def call(arguments: dict[str, Any]) -> None:
            calls[name] += 1
            sent = json.loads(json.dumps(arguments))  # as sent, whatever the tool does to its dict
            [record] = runner.run([ToolCall(tool_name=name, arguments=arguments, id=f"exercise-{calls[name]}")])
            failure = record.failure
            if failure is not None and failure.kind in REPORTED_KINDS and not _raised(failure, expected):
                failures.append(_failed_call(name, sent, failure))

        return call

    for name, tool in by_name.items():
        schema, note = _schema_sent(tool, strict)
        if note:
            notes[name] = note
        calls[name] = 0

        try:
            run_settings(seeded(seed)(given(arguments_strategy(schema))(call_of(name))))()
        except HypothesisException as error:
            notes[name] = f"could not draw arguments from its schema ({type(error).__name__}: {error})"
    return ToolExerciseReport(seed=seed, calls=calls, failures=tuple(failures), notes=notes)


def _schema_sent(tool: Tool, strict: bool) -> tuple[dict[str, Any], str | None]:
    """The parameters schema the tool is sent with (OpenAI's dialect), and a note when strict was impossible."""
    from aiml_agent._request import tool_definitions
    from aiml_agent.errors import StrictSchemaError

    try:
        [definition] = tool_definitions([tool], strict)
        return definition["function"]["parameters"], None
    except StrictSchemaError as error:
        [definition] = tool_definitions([tool], False)
        note = f"its schema cannot be strict ({error.reason}); arguments were drawn from the non-strict schema"
        return definition["function"]["parameters"], note


def _raised(failure: ToolFailure, expected: tuple[type[BaseException], ...]) -> bool:
    """Whether the tool itself raised one of the ``expected`` exceptions (not a wrapper of it)."""
    error = failure.exception
    cause = error.__cause__ if error is not None and error.__cause__ is not None else error
    return failure.kind == "exception" and bool(expected) and isinstance(cause, expected)


def _failed_call(name: str, arguments: dict[str, Any], failure: ToolFailure) -> FailedToolCall:
    from aiml_agent.tool_failure import field_error_lines

    if failure.kind == "invalid_arguments":
        message = "the tool rejected arguments its schema allows:\n" + field_error_lines(failure.field_errors)
        kind_name: str | None = "ToolArgumentsError"
    elif failure.kind == "timeout":
        message, kind_name = f"no result within {failure.timeout:g} s", None
    else:
        message, kind_name = failure.detail, failure.exception_type
    return FailedToolCall(
        tool_name=name,
        arguments=arguments,
        kind=failure.kind,
        exception_type=kind_name,
        message=message,
        exception=failure.exception,
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=repr)
