"""What the model is told about failures: one ToolFailure per kind, the default wording, and a replacement
formatter through the Agent that words every kind (and is the only source of that text)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import generator_for
from pydantic import BaseModel

from aiml_agent import Agent, Deny, ToolFailure, ToolRetry, format_tool_failure, tool
from aiml_agent.errors import ToolArgumentsError
from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply
from aiml_agent.tool_failure import FieldError


@tool(timeout=0.2)
async def slow(n: int) -> str:
    """Too slow.

    :param n: A number.
    """
    import asyncio

    await asyncio.sleep(30)
    return "late"


@tool
def check(n: int) -> Any:
    """Checks a number in many ways.

    :param n: A number.
    """
    if n == 1:
        raise LookupError("no such number")
    if n == 2:
        raise ToolRetry("try a bigger number")
    if n == 3:
        cycle: dict[str, Any] = {}
        cycle["self"] = cycle
        return cycle
    return n


@tool(requires_approval=True)
def guarded(n: int) -> int:
    """Needs a yes.

    :param n: A number.
    """
    return n


class Answer(BaseModel):
    value: int


def every_kind_script() -> list[Any]:
    calls = [
        ToolCallReply("check", {"n": 1}, id="exception"),
        ToolCallReply("check", {"n": "x"}, id="invalid_arguments"),
        ToolCallReply("check", '{"n": ', id="malformed_arguments"),
        ToolCallReply("chek", {"n": 1}, id="unknown_tool"),
        ToolCallReply("slow", {"n": 1}, id="timeout"),
        ToolCallReply("check", {"n": 2}, id="retry"),
        ToolCallReply("guarded", {"n": 1}, id="denied"),
        ToolCallReply("check", {"n": 3}, id="invalid_result"),
    ]
    return [Reply(tool_calls=calls), '{"value": "x"}', '{"value": 1}']


def test_a_formatter_words_every_kind_of_failure_and_its_text_is_what_the_model_gets() -> None:
    seen: list[ToolFailure] = []

    def formatter(failure: ToolFailure) -> str:
        seen.append(failure)
        return f"[{failure.kind}] {failure.tool_name}"

    with ScriptedServer(every_kind_script()) as server:
        agent = Agent(
            generator_for(server),
            [check, slow, guarded],
            output_type=Answer,
            tool_error_formatter=formatter,
            approval_handler=lambda pending: Deny("not today"),
        )
        result = agent.run("go")
        second, third = server.requests[1].body["messages"], server.requests[2].body["messages"]
    kinds = [
        "exception",
        "invalid_arguments",
        "malformed_arguments",
        "unknown_tool",
        "timeout",
        "retry",
        "denied",
        "invalid_result",
    ]
    sent = {m["tool_call_id"]: m["content"] for m in second if m["role"] == "tool"}
    names = {"unknown_tool": "chek", "timeout": "slow", "denied": "guarded"}
    assert sent == {kind: f"[{kind}] {names.get(kind, 'check')}" for kind in kinds}
    assert third[-1] == {"role": "user", "content": "[invalid_output] None"}
    assert [f.kind for f in seen] == [*kinds, "invalid_output"] or sorted(f.kind for f in seen) == sorted(
        [*kinds, "invalid_output"]
    )
    by_kind = {f.kind: f for f in seen}
    assert by_kind["exception"].exception_type == "LookupError" and by_kind["exception"].detail == "no such number"
    assert [e["field"] for e in by_kind["invalid_arguments"].field_errors] == ["n"]
    assert by_kind["malformed_arguments"].raw_arguments == '{"n": '
    assert by_kind["unknown_tool"].available_tools == ("check", "guarded", "slow")
    assert by_kind["timeout"].timeout == 0.2 and by_kind["retry"].detail == "try a bigger number"
    assert by_kind["denied"].detail == "not today" and by_kind["denied"].call_id == "denied"
    assert "reference cycle at $.self" in by_kind["invalid_result"].detail
    assert by_kind["invalid_output"].output_type == "Answer" and by_kind["invalid_output"].tool_name is None
    records = {r.tool_call.id: r for r in result["steps"][0].tool_calls}
    assert {call_id: r.failure.kind for call_id, r in records.items() if r.failure} == {k: k for k in kinds}
    assert result["output"] == Answer(value=1)


def failure(kind: str, **fields: Any) -> ToolFailure:
    return ToolFailure(kind=kind, tool_name="get_weather", call_id="c1", **fields)  # type: ignore[arg-type]


BAD_DAYS = FieldError(field="days", message="Input should be a valid integer", type="int_parsing", input="many")


@pytest.mark.parametrize(
    ("made", "text"),
    [
        (
            failure("exception", exception_type="LookupError", detail="Atlantis is not on the map"),
            "Error: tool 'get_weather' failed: LookupError: Atlantis is not on the map",
        ),
        (
            failure("invalid_arguments", field_errors=(BAD_DAYS, FieldError(field="city", message="", type="missing"))),
            "Error: Invalid arguments for tool 'get_weather':\n"
            '- days: Input should be a valid integer; got "many"\n'
            "- city: required, but missing\n"
            "Fix these arguments and call the tool again.",
        ),
        (
            failure("malformed_arguments", raw_arguments='{"city": ', detail="Expecting value"),
            "Error: the arguments for tool 'get_weather' were not valid JSON. Raw arguments received: "
            "'{\"city\": '. Parser error: Expecting value. Call the tool again with the arguments as one valid "
            "JSON object.",
        ),
        (
            failure("unknown_tool", available_tools=("a", "b")),
            "Error: there is no tool named 'get_weather'. Available tools: a, b. Call one of these instead.",
        ),
        (failure("timeout", timeout=2.5), "Error: tool 'get_weather' timed out after 2.5 s and gave no result."),
        (failure("retry", detail="Use an ISO date"), "Use an ISO date"),
        (failure("denied"), "Error: the call to tool 'get_weather' was not approved, so it did not run."),
        (
            failure("invalid_result", exception_type="ResultTextError", detail="a reference cycle at $.a"),
            "Error: tool 'get_weather' ran, but its result could not be turned into text "
            "(ResultTextError: a reference cycle at $.a).",
        ),
        (
            ToolFailure(kind="invalid_output", output_type="Answer", field_errors=(BAD_DAYS,)),
            "Your answer did not match the required Answer schema:\n"
            '- days: Input should be a valid integer; got "many"\n'
            "Answer again with only a JSON object that matches the schema.",
        ),
    ],
)
def test_default_wording_of_each_kind(made: ToolFailure, text: str) -> None:
    assert format_tool_failure(made) == text


def test_failures_from_exceptions_name_the_tools_own_exception() -> None:
    from haystack.tools.errors import ToolInvocationError

    try:
        try:
            raise ToolRetry("again")
        except ToolRetry as inner:
            raise ToolInvocationError("wrapped", tool_name="t") from inner
    except ToolInvocationError as wrapped:
        assert ToolFailure.from_exception(wrapped, tool_name="t").kind == "retry"
    arguments = ToolArgumentsError("bad", tool_name="t", errors=[BAD_DAYS])
    made = ToolFailure.from_exception(arguments, tool_name="t", call_id="c")
    assert (made.kind, made.field_errors, made.call_id) == ("invalid_arguments", (BAD_DAYS,), "c")
    plain = ToolFailure.from_exception(KeyError("k"), tool_name="t")
    assert (plain.kind, plain.exception_type, plain.detail) == ("exception", "KeyError", "'k'")


def test_to_dict_is_plain_data_without_empty_fields() -> None:
    made = failure("exception", exception_type="KeyError", detail="'k'", exception=KeyError("k"))
    assert made.to_dict() == {
        "kind": "exception",
        "tool_name": "get_weather",
        "call_id": "c1",
        "detail": "'k'",
        "exception_type": "KeyError",
        "exception": "KeyError('k')",
    }
    assert made.counts_against_retries and not failure("denied").counts_against_retries
