"""exercise_tools: every tool called with arguments its (strict) schema allows; the calls that broke it reported,
the same ones for the same seed."""

from __future__ import annotations

import asyncio
import datetime
import sys
import time
from typing import Annotated, Any, Literal

import jsonschema
import pytest
from haystack.tools import Tool, Toolset
from pydantic import AfterValidator, BaseModel, Field

from aiml_agent import RunContext, ToolRetry, create_tool, tool
from aiml_agent._request import tool_definitions
from aiml_agent.testing import FailedToolCall, ToolExerciseError, ToolExerciseReport, exercise_tools


def divide(a: int, b: int) -> float:
    """Divide two numbers.

    :param a: The dividend.
    :param b: The divisor.
    """
    return a / b


def shout(text: str, note: str | None = None) -> str:
    """Shout a text.

    :param text: The text.
    :param note: A note to add.
    """
    return text.upper() + (f" ({note})" if note else "")


class Line(BaseModel):
    sku: str = Field(pattern=r"^[A-Z]{3}-\d{3}$")
    quantity: int = Field(ge=1, le=99)
    gift: bool = False


def place_order(
    lines: list[Line],
    deliver_on: datetime.date | None = None,
    speed: Literal["standard", "express"] = "standard",
    note: str | None = None,
) -> str:
    """Place an order.

    :param lines: What to order.
    :param deliver_on: When to deliver.
    :param speed: How fast.
    :param note: A note for the courier.
    """
    return f"{len(lines)} lines, {speed}, note of {len(note)} characters"  # len(None) raises: a real bug


def no_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    return text


def greet(name: Annotated[str, AfterValidator(no_blank)]) -> str:
    """Greet someone.

    :param name: Who.
    """
    return f"Hello {name}"


def test_finds_the_calls_that_raise_and_reports_them_readably() -> None:
    report = exercise_tools([divide, shout, place_order], examples=30)

    assert isinstance(report, ToolExerciseReport) and not report.ok
    assert report.calls == {"divide": 30, "shout": 30, "place_order": 30}
    assert report.failures_of("shout") == []
    zero = report.failures_of("divide")
    assert zero and all(f.arguments["b"] == 0 for f in zero)
    assert {(f.kind, f.exception_type, f.message) for f in zero} == {
        ("exception", "ZeroDivisionError", "division by zero")
    }
    none_note = report.failures_of("place_order")
    assert none_note and all(f.arguments["note"] is None for f in none_note)  # strict mode's null for "not given"
    assert {f.exception_type for f in none_note} == {"TypeError"}

    text = str(report)
    assert text.startswith("exercise_tools(seed=0): 2 of 3 tools failed on arguments their schemas allow")
    assert f"- divide: {len(zero)} of 30 calls failed" in text
    assert "ZeroDivisionError: division by zero" in text and "No failure: shout." in text
    assert "place_order(" in text and '"note": null' in text
    with pytest.raises(ToolExerciseError) as raised:
        report.assert_ok()
    assert isinstance(raised.value, AssertionError) and str(raised.value) == text


def test_exceptions_raised_on_purpose_can_be_expected() -> None:
    report = exercise_tools([divide], examples=30, expected=(ZeroDivisionError,))
    assert report.ok and report.calls == {"divide": 30}
    assert not exercise_tools([divide], examples=30, expected=(KeyError,)).ok


def test_the_same_seed_makes_the_same_calls_and_another_seed_others() -> None:
    seen: list[list[Any]] = [[], [], []]

    def recorder(run: int) -> Tool:
        def record(word: str, count: int, ratio: float | None = None) -> str:
            """Record a call.

            :param word: A word.
            :param count: A count.
            :param ratio: A ratio.
            """
            seen[run].append((word, count, ratio))
            return "ok"

        return create_tool(record)

    for run, seed in enumerate([7, 7, 8]):
        assert exercise_tools([recorder(run)], examples=15, seed=seed).ok
    assert len(seen[0]) == 15
    assert seen[0] == seen[1]
    assert seen[0] != seen[2]


def test_every_call_matches_the_schema_the_model_receives() -> None:
    """Drawn from the strict schema: every call valid under it, optional parameters null some of the time."""
    received: list[dict[str, Any]] = []

    def order(
        lines: list[Line],
        deliver_on: datetime.date | None = None,
        speed: Literal["standard", "express"] = "standard",
        note: str | None = None,
    ) -> str:
        """Place an order.

        :param lines: What to order.
        :param deliver_on: When to deliver.
        :param speed: How fast.
        :param note: A note.
        """
        received.append({"lines": lines, "deliver_on": deliver_on, "speed": speed, "note": note})
        return "ok"

    order_tool = create_tool(order)
    [definition] = tool_definitions([order_tool], strict=True)
    schema = definition["function"]["parameters"]
    sent: list[dict[str, Any]] = []
    spy = Tool(
        name="order",
        description="Place an order.",
        parameters=schema,
        function=lambda **arguments: sent.append(arguments) or order_tool.invoke(**arguments),
    )
    report = exercise_tools([spy], examples=40)

    assert report.ok, str(report)
    assert len(sent) == 40
    for arguments in sent:
        jsonschema.validate(arguments, schema)
        assert set(arguments) == {"lines", "deliver_on", "speed", "note"}  # strict: every parameter is present
    assert any(arguments["note"] is None for arguments in sent)
    assert any(arguments["deliver_on"] is not None for arguments in sent)
    assert any(arguments["lines"] == [] for arguments in sent)
    assert all(isinstance(line, Line) for call in received for line in call["lines"])


def test_non_strict_draws_leave_optional_parameters_out() -> None:
    sent: list[dict[str, Any]] = []
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 2, "maxLength": 20},
            "days": {"type": "integer", "minimum": 1, "maximum": 14},
            "when": {"type": "string", "format": "date-time"},
            "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "uniqueItems": True, "maxItems": 2},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "extra": {"type": "object", "additionalProperties": {"type": "integer"}},
            "code": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{2}$"},
        },
        "required": ["city"],
    }
    weather = Tool(
        name="weather", description="Weather.", parameters=schema, function=lambda **a: sent.append(a) or "ok"
    )
    assert exercise_tools([weather], examples=60, strict=False).ok
    for arguments in sent:
        jsonschema.validate(arguments, schema, format_checker=jsonschema.FormatChecker())
    assert any(set(arguments) == {"city"} for arguments in sent)
    assert all(None not in arguments.values() for arguments in sent)
    assert any("when" in arguments for arguments in sent) and any("code" in arguments for arguments in sent)


def test_validation_that_rejects_schema_valid_arguments_is_reported() -> None:
    report = exercise_tools([greet], examples=30)
    failures = report.failures_of("greet")
    assert failures and all(not f.arguments["name"].strip() for f in failures)
    failure = failures[0]
    assert (failure.kind, failure.exception_type) == ("invalid_arguments", "ToolArgumentsError")
    assert "rejected arguments its schema allows" in failure.message and "must not be blank" in failure.message


def test_unusable_results_and_timeouts_are_reported_and_tool_retries_are_not() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no text for you")

    def weird(flag: bool) -> Any:
        """Return something odd.

        :param flag: Any flag.
        """
        return Unprintable()

    def sleepy(flag: bool) -> str:
        """Take too long.

        :param flag: Any flag.
        """
        time.sleep(2)
        return "late"

    def picky(flag: bool) -> str:
        """Ask the model to try again.

        :param flag: Any flag.
        """
        raise ToolRetry("Try again with the other flag")

    started = time.monotonic()
    report = exercise_tools([weird, sleepy, picky], examples=5, timeout=0.1)
    assert time.monotonic() - started < 10  # the sleeping calls were abandoned at their timeout
    assert {f.kind for f in report.failures_of("weird")} == {"invalid_result"}
    slow = report.failures_of("sleepy")
    assert slow and all(f.kind == "timeout" and f.message == "no result within 0.1 s" for f in slow)
    assert report.failures_of("picky") == [] and report.calls["picky"] == 2  # a boolean has two values


def test_async_tools_toolsets_and_deps() -> None:
    seen: list[Any] = []

    async def lookup(key: str, ctx: RunContext[dict[str, str]]) -> str:
        """Look a key up.

        :param key: The key.
        """
        await asyncio.sleep(0)
        seen.append(ctx.deps)
        return ctx.deps.get(key, "missing")

    report = exercise_tools(Toolset([create_tool(lookup)]), examples=5, deps={"a": "b"})
    assert report.ok and report.calls == {"lookup": 5}
    assert seen == [{"a": "b"}] * 5


def test_a_schema_that_cannot_be_strict_is_drawn_non_strict_with_a_note() -> None:
    def tally(counts: dict[str, int]) -> int:
        """Add counts up.

        :param counts: Counts by name.
        """
        return sum(counts.values())

    report = exercise_tools([tally], examples=10)
    assert report.ok and report.calls == {"tally": 10}
    assert "cannot be strict" in report.notes["tally"] and "non-strict schema" in report.notes["tally"]
    assert "Note on tally:" in str(report)


def test_bad_input_and_missing_hypothesis_fail_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        exercise_tools([divide], examples=0)
    with pytest.raises(ValueError, match="no tools"):
        exercise_tools([])
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    with pytest.raises(ImportError, match=r"pip install 'aiml-agent\[fuzz\]'"):
        exercise_tools([divide])


def test_a_failed_call_reads_as_the_call_it_was() -> None:
    failure = FailedToolCall("divide", {"a": 1, "b": 0}, "exception", "ZeroDivisionError", "division by zero")
    assert str(failure) == 'divide({"a": 1, "b": 0}) -> exception: ZeroDivisionError: division by zero'
    report = ToolExerciseReport(seed=3, calls={"divide": 1})
    assert report.ok and str(report) == "exercise_tools(seed=3): 1 calls to 1 tools, none failed."
    report.assert_ok()


def test_tools_marked_non_strict_are_drawn_from_the_schema_they_are_sent_with() -> None:
    sent: list[dict[str, Any]] = []

    @tool(strict=False)
    def search(query: str, limit: int = 10) -> str:
        """Search.

        :param query: What to look for.
        :param limit: How many results.
        """
        sent.append({"query": query, "limit": limit})
        return "ok"

    assert exercise_tools([search], examples=20).ok
    assert all(isinstance(arguments["limit"], int) for arguments in sent)  # never null: the schema sent allows none
