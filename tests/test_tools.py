"""Functions as Haystack Tools: descriptions, schemas, validation, sync/async calls, RunContext, results."""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import enum
import threading
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pytest
from haystack import component
from haystack.components.agents import Agent as HaystackAgent
from haystack.dataclasses import ChatMessage, ToolCall
from haystack.tools import Tool
from haystack.tools.errors import ToolInvocationError
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from aiml_agent.context import RunContext, use_run_context
from aiml_agent.errors import ToolArgumentsError
from aiml_agent.strict import to_strict_schema
from aiml_agent.tool_failure import MAX_ERROR_LINES
from aiml_agent.tools import FunctionTool, ToolDefinitionError, create_tool, tool


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Address(BaseModel):
    street: str
    zip: int
    title: str = "home"  # a *property* named "title" must survive title removal


@dataclass
class Point:
    x: int
    y: int = 0


class Window(TypedDict):
    start: datetime.date
    days: int


def _walk(node: Any) -> list[dict[str, Any]]:
    """Every dict in a JSON structure (to look for keywords anywhere)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


def _schema_nodes_with_title(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [node for node in _walk(schema) if isinstance(node.get("title"), str)]


# --- description and parameter descriptions -------------------------------------------------------


def forecast(city: str, days: int = 3) -> str:
    """Get the weather forecast.

    Uses the national weather service.

    Args:
        city: The city name.
        days: How many days ahead.

    Returns:
        The forecast text.
    """
    return f"{city}:{days}"


def test_name_description_and_param_descriptions_from_the_docstring() -> None:
    made = create_tool(forecast)
    assert isinstance(made, Tool) and isinstance(made, FunctionTool)
    assert made.name == "forecast"
    assert made.description == "Get the weather forecast.\n\nUses the national weather service."
    assert made.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city name."},
            "days": {"type": "integer", "default": 3, "description": "How many days ahead."},
        },
        "required": ["city"],
    }
    assert made.tool_spec == {"name": "forecast", "description": made.description, "parameters": made.parameters}


def test_overrides_name_description_strict() -> None:
    made = create_tool(forecast, name="weather-v2", description="Custom.", strict=False)
    assert (made.name, made.description, made.strict) == ("weather-v2", "Custom.", False)
    assert create_tool(forecast).strict is None


def test_decorator_with_and_without_arguments() -> None:
    @tool
    def plain(x: int) -> int:
        """Plain."""
        return x

    @tool(name="renamed", description="Renamed tool.", strict=True)
    def other(x: int) -> int:
        return x

    assert isinstance(plain, FunctionTool) and plain.name == "plain" and plain.description == "Plain."
    assert (other.name, other.description, other.strict) == ("renamed", "Renamed tool.", True)
    assert other.invoke(x=2) == 2


def test_no_docstring_gives_empty_description() -> None:
    def bare(x: int) -> int:
        return x

    made = create_tool(bare)
    assert made.description == ""
    assert "description" not in made.parameters["properties"]["x"]


def test_annotated_descriptions_win_over_the_docstring() -> None:
    def search(
        query: Annotated[str, "What to look for"],
        limit: Annotated[int, Field(description="At most this many", ge=1)] = 10,
        lang: str = "en",
    ) -> list[str]:
        """Search.

        :param query: docstring text for query
        :param limit: docstring text for limit
        :param lang: The language.
        """
        return []

    props = create_tool(search).parameters["properties"]
    assert props["query"]["description"] == "What to look for"
    assert props["limit"]["description"] == "At most this many"
    assert props["limit"]["minimum"] == 1
    assert props["lang"]["description"] == "The language."


def test_annotated_field_constraints_and_defaults_apply_at_call_time() -> None:
    def page(offset: Annotated[int, Field(default=0)], size: Annotated[int, Field(ge=1)] = 10) -> tuple[int, int]:
        return size, offset

    made = create_tool(page)
    assert made.invoke() == (10, 0)  # the Field default is given to the function
    with pytest.raises(ToolArgumentsError, match="- size: Input should be greater than or equal to 1; got 0"):
        made.invoke(size=0)


def test_fastapi_style_field_defaults_are_constraints_not_values() -> None:
    """``n: int = Field(..., gt=10)``: required, constrained, described; the function never gets a FieldInfo."""
    received: list[Any] = []

    def pick(
        n: int = Field(..., gt=10, description="A big number"),
        size: int = Field(3, ge=1),
        tags: list[str] = Field(default_factory=list, description="Labels"),  # noqa: B008
    ) -> str:
        received.append((n, size, tags))
        return "ok"

    made = create_tool(pick)
    props = made.parameters["properties"]
    assert made.parameters["required"] == ["n"]
    assert props["n"] == {"type": "integer", "exclusiveMinimum": 10, "description": "A big number"}
    assert props["size"] == {"type": "integer", "minimum": 1, "default": 3}
    assert props["tags"]["description"] == "Labels" and "default" not in made.parameters["required"]
    assert made.invoke(n=11) == "ok" and received[-1] == (11, 3, [])
    assert made.invoke(n=12, size=None, tags=None) == "ok" and received[-1] == (12, 3, [])  # null: the default
    with pytest.raises(ToolArgumentsError, match="- n: Input should be greater than 10; got 5"):
        made.invoke(n=5)
    with pytest.raises(ToolArgumentsError, match="- n: required, but missing"):
        made.invoke()
    strict = to_strict_schema(made.parameters)
    assert sorted(strict["required"]) == ["n", "size", "tags"]


def test_null_means_the_default_for_every_kind_of_default() -> None:
    def scale(
        factor: Annotated[float, Field(default=5.0)],
        offset: Annotated[float, Field(default_factory=lambda: 1.5)],
        unit: str = "m",
    ) -> str:
        return f"{factor} {offset} {unit}"

    made = create_tool(scale)
    strict = to_strict_schema(made.parameters)
    assert strict["properties"]["factor"]["type"] == ["number", "null"]  # strict mode lets the model send null
    assert made.invoke(factor=None, offset=None, unit=None) == "5.0 1.5 m"
    assert made.invoke(factor=2) == "2.0 1.5 m"


def test_invalid_tool_name_is_refused() -> None:
    with pytest.raises(ToolDefinitionError, match="Invalid tool name 'has space'"):
        create_tool(forecast, name="has space")


def test_create_tool_on_a_function_tool_re_makes_it_with_new_options() -> None:
    first = create_tool(forecast, description="First.")
    second = create_tool(first, name="again")
    assert (second.name, second.description, second.function) == ("again", "First.", forecast)


# --- schema shapes ---------------------------------------------------------------------------------


def everything(
    text: str,
    count: int,
    ratio: float,
    flag: bool,
    maybe: typing.Optional[int],
    union_none: str | None = None,
    choice: Literal["a", "b"] = "a",
    unit: Unit = Unit.CELSIUS,
    tags: list[str] = [],  # noqa: B006 - a default the schema must show
    pair: tuple[int, str] = (1, "x"),
    unique: set[int] = set(),  # noqa: B006
    address: Address | None = None,
    point: Point = Point(0, 0),  # noqa: B008
    window: Window | None = None,
    when: datetime.date = datetime.date(2024, 1, 2),
    at: datetime.datetime | None = None,
    mapping: dict[str, int] | None = None,
) -> None:
    """Take everything."""


def test_schema_of_each_supported_type() -> None:
    schema = create_tool(everything).parameters
    props = schema["properties"]
    assert schema["type"] == "object"
    assert schema["required"] == ["text", "count", "ratio", "flag", "maybe"]
    assert props["text"] == {"type": "string"}
    assert props["count"] == {"type": "integer"}
    assert props["ratio"] == {"type": "number"}
    assert props["flag"] == {"type": "boolean"}
    assert props["maybe"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert props["union_none"] == {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    assert props["choice"] == {"enum": ["a", "b"], "type": "string", "default": "a"}
    assert props["unit"] == {"$ref": "#/$defs/Unit", "default": "celsius"}
    assert schema["$defs"]["Unit"] == {"enum": ["celsius", "fahrenheit"], "type": "string"}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}, "default": []}
    assert props["pair"]["prefixItems"] == [{"type": "integer"}, {"type": "string"}]
    assert props["pair"]["default"] == [1, "x"]
    assert props["unique"] == {"type": "array", "items": {"type": "integer"}, "uniqueItems": True, "default": []}
    assert props["address"] == {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}], "default": None}
    assert schema["$defs"]["Address"] == {
        "type": "object",
        "properties": {
            "street": {"type": "string"},
            "zip": {"type": "integer"},
            "title": {"type": "string", "default": "home"},
        },
        "required": ["street", "zip"],
    }
    assert props["point"]["$ref"] == "#/$defs/Point" and props["point"]["default"] == {"x": 0, "y": 0}
    assert schema["$defs"]["Point"]["properties"] == {"x": {"type": "integer"}, "y": {"type": "integer", "default": 0}}
    assert schema["$defs"]["Window"]["properties"] == {
        "start": {"type": "string", "format": "date"},
        "days": {"type": "integer"},
    }
    assert props["when"] == {"type": "string", "format": "date", "default": "2024-01-02"}
    assert props["at"] == {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}], "default": None}
    assert props["mapping"]["anyOf"][0] == {"type": "object", "additionalProperties": {"type": "integer"}}


def test_no_title_keyword_anywhere_but_a_property_named_title_stays() -> None:
    schema = create_tool(everything).parameters
    assert _schema_nodes_with_title(schema) == []
    assert "title" in schema["$defs"]["Address"]["properties"]


def test_a_function_without_parameters() -> None:
    def ping() -> str:
        """Ping."""
        return "pong"

    made = create_tool(ping)
    assert made.parameters == {"type": "object", "properties": {}}
    assert made.invoke() == "pong"


def test_any_parameter_name_works_even_pydantic_reserved_ones() -> None:
    def odd(json: str, model_config: int, _hidden: bool = False) -> str:
        return f"{json}{model_config}{_hidden}"

    made = create_tool(odd)
    assert list(made.parameters["properties"]) == ["json", "model_config", "_hidden"]
    assert made.invoke(json="j", model_config="2", _hidden=True) == "j2True"


# --- creation errors -------------------------------------------------------------------------------


class Opaque:
    """A class pydantic knows nothing about."""


def no_hint(city, days: int) -> str:  # type: ignore[no-untyped-def]
    return ""


def star_args(*cities: str) -> str:
    return ""


def star_kwargs(city: str, **extra: str) -> str:
    return ""


def opaque_param(city: str, thing: Opaque) -> str:
    return ""


def callable_param(city: str, callback: Callable[[str], str]) -> str:
    return ""


def positional_only(city: str, /, days: int) -> str:
    return ""


@pytest.mark.parametrize(
    ("func", "parameter", "reason"),
    [
        (no_hint, "city", "a type hint is required"),
        (star_args, "cities", r"\*cities cannot be a tool parameter"),
        (star_kwargs, "extra", r"\*\*extra cannot be a tool parameter"),
        (opaque_param, "thing", "type Opaque has no JSON schema"),
        (callable_param, "callback", "type Callable has no JSON schema"),
        (positional_only, "city", "positional-only parameters cannot take the model's named arguments"),
    ],
)
def test_clear_errors_at_creation_naming_function_and_parameter(
    func: Callable[..., Any], parameter: str, reason: str
) -> None:
    with pytest.raises(ToolDefinitionError, match=rf"Function '{func.__name__}', parameter '{parameter}': {reason}"):
        create_tool(func)


# --- validation --------------------------------------------------------------------------------------


def test_lax_coercion_and_objects_built_from_dicts() -> None:
    received: dict[str, Any] = {}

    def book(
        count: int,
        ratio: float,
        when: datetime.date,
        unit: Unit,
        pair: tuple[int, str],
        unique: set[int],
        address: Address,
        point: Point,
        window: Window,
    ) -> str:
        received.update(locals())
        return "ok"

    made = create_tool(book)
    assert (
        made.invoke(
            count="3",
            ratio="0.5",
            when="2024-05-06",
            unit="fahrenheit",
            pair=["7", "x"],
            unique=[1, 1, 2],
            address={"street": "Main", "zip": "12345"},
            point={"x": "4"},
            window={"start": "2024-01-01", "days": 2},
        )
        == "ok"
    )
    assert received["count"] == 3 and received["ratio"] == 0.5
    assert received["when"] == datetime.date(2024, 5, 6)
    assert received["unit"] is Unit.FAHRENHEIT
    assert received["pair"] == (7, "x") and received["unique"] == {1, 2}
    assert received["address"] == Address(street="Main", zip=12345)
    assert isinstance(received["point"], Point) and received["point"] == Point(4, 0)
    assert received["window"] == {"start": datetime.date(2024, 1, 1), "days": 2}


def test_already_built_objects_are_accepted() -> None:
    def where(address: Address) -> str:
        return address.street

    assert create_tool(where).invoke(address=Address(street="Elm", zip=1)) == "Elm"


def test_invalid_arguments_list_each_bad_field_briefly() -> None:
    def order(item: str, quantity: int, address: Address, tags: list[int], unit: Unit = Unit.CELSIUS) -> str:
        return "never"

    made = create_tool(order)
    with pytest.raises(ToolArgumentsError) as caught:
        made.invoke(
            quantity="many", address={"street": "Main", "zip": "abc"}, tags=[1, "x"], unit="kelvin", colour="red"
        )
    error = caught.value
    assert isinstance(error, ToolInvocationError) and error.tool_name == "order"
    text = str(error)
    assert text.splitlines() == [
        "Invalid arguments for tool 'order':",
        "- item: required, but missing",
        '- quantity: Input should be a valid integer, unable to parse string as an integer; got "many"',
        '- address.zip: Input should be a valid integer, unable to parse string as an integer; got "abc"',
        '- tags[1]: Input should be a valid integer, unable to parse string as an integer; got "x"',
        "- unit: Input should be 'celsius' or 'fahrenheit'; got \"kelvin\"",
        '- colour: unexpected argument (the tool takes: item, quantity, address, tags, unit); got "red"',
    ]
    assert "http" not in text and "pydantic" not in text
    assert [e["field"] for e in error.errors] == ["item", "quantity", "address.zip", "tags[1]", "unit", "colour"]
    assert error.errors[1]["input"] == "many"


def test_long_inputs_are_shortened_in_the_message() -> None:
    def count(n: int) -> int:
        return n

    with pytest.raises(ToolArgumentsError) as caught:
        create_tool(count).invoke(n="9" * 500 + "x")
    text = str(caught.value)
    assert len(text) < 200 and text.endswith("9...") and "x" not in text.splitlines()[-1]


def test_many_bad_fields_are_capped_to_keep_the_message_short() -> None:
    def total(values: list[int]) -> int:
        return sum(values)

    with pytest.raises(ToolArgumentsError) as caught:
        create_tool(total).invoke(values=["x"] * 500)
    lines = str(caught.value).splitlines()
    assert len(lines) == 1 + MAX_ERROR_LINES + 1
    assert lines[-1] == f"- ... and {500 - MAX_ERROR_LINES} more invalid fields"
    assert lines[MAX_ERROR_LINES].startswith(f"- values[{MAX_ERROR_LINES - 1}]: ")
    assert len(caught.value.errors) == 500  # all of them stay available to code


def test_null_means_the_python_default() -> None:
    def greet(name: str, greeting: str = "Hello", times: int = 1, suffix: str | None = "!") -> str:
        return f"{greeting} {name}{suffix or ''}" * times

    made = create_tool(greet)
    assert made.invoke(name="Ada", greeting=None, times=None, suffix=None) == "Hello Ada!"
    with pytest.raises(ToolArgumentsError, match="- name: Input should be a valid string; got null"):
        made.invoke(name=None)


class Filters(BaseModel):
    tags: list[str] = []
    limit: int = 10
    near: Point | None = None


def test_null_inside_nested_objects_means_their_default_too() -> None:
    received: list[Any] = []

    def find(filters: Filters, points: list[Point], window: Window | None = None) -> str:
        received.extend([filters, points, window])
        return "ok"

    made = create_tool(find)
    made.invoke(
        filters={"tags": None, "limit": None, "near": {"x": 1, "y": None}},
        points=[{"x": 2, "y": None}],
        window=None,
    )
    assert received == [Filters(near=Point(1, 0)), [Point(2, 0)], None]
    with pytest.raises(ToolArgumentsError, match=r"- points\[0\]\.x: Input should be a valid integer; got null"):
        made.invoke(filters={}, points=[{"x": None}])


class Cat(BaseModel):
    kind: Literal["cat"]
    toy: str = "yarn"


class Dog(BaseModel):
    kind: Literal["dog"]
    toy: str | None  # required, may be null


def test_null_means_default_in_the_union_branch_and_tuple_item_the_value_was_written_for() -> None:
    def play(
        pet: Annotated[Cat | Dog, Field(discriminator="kind")], pair: tuple[Point, Filters], either: Point | Address
    ) -> tuple[Any, ...]:
        return pet, pair, either

    made = create_tool(play)
    pair = [{"x": 1, "y": None}, {"tags": None, "limit": 5, "near": None}]
    address = {"street": "Main", "zip": 1, "title": None}
    assert made.invoke(pet={"kind": "cat", "toy": None}, pair=pair, either=address) == (
        Cat(kind="cat"),
        (Point(1, 0), Filters(limit=5)),
        Address(street="Main", zip=1),
    )
    # the keys alone fit both Cat and Dog: the discriminator's value picks Dog, whose null stays
    assert made.invoke(pet={"kind": "dog", "toy": None}, pair=pair, either={"x": 2, "y": None})[::2] == (
        Dog(kind="dog", toy=None),
        Point(2, 0),
    )


# --- calling -----------------------------------------------------------------------------------------


async def double_async(x: int) -> int:
    """Double a number, asynchronously."""
    await asyncio.sleep(0)
    return x * 2


_REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


async def read_request_id() -> str:
    """Return a context variable of the caller."""
    return _REQUEST_ID.get()


async def test_async_tool_invoked_synchronously_in_a_running_loop_sees_the_callers_context_variables() -> None:
    token = _REQUEST_ID.set("req-7")
    try:
        assert create_tool(read_request_id).invoke() == "req-7"  # on a worker thread's loop, context copied
    finally:
        _REQUEST_ID.reset(token)


def test_async_tool_fields_and_invoke_from_sync_code() -> None:
    made = create_tool(double_async)
    assert made.function is None and made.async_function is double_async
    assert made.invoke(x="21") == 42


async def test_async_tool_invoked_synchronously_inside_a_running_loop() -> None:
    made = create_tool(double_async)
    assert made.invoke(x=4) == 8  # runs on a worker thread's own loop
    assert await made.invoke_async(x=5) == 10


def test_async_tool_invoked_from_sync_code_leaves_the_current_event_loop_set() -> None:
    """Unlike asyncio.run, invoking an async tool must not unset the thread's event loop (others rely on it)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        assert create_tool(double_async).invoke(x=1) == 2
        assert asyncio.get_event_loop_policy().get_event_loop() is loop
        assert not loop.is_closed()
    finally:
        asyncio.set_event_loop(None)
        loop.close()


async def test_sync_tool_invoke_async_runs_in_a_worker_thread() -> None:
    def where(label: str) -> tuple[str, int]:
        return label, threading.get_ident()

    made = create_tool(where)
    assert made.function is where and made.async_function is None
    label, thread_id = await made.invoke_async(label="a")
    assert label == "a" and thread_id != threading.get_ident()


@pytest.mark.parametrize("is_async", [False, True])
async def test_function_errors_are_wrapped_with_the_cause(is_async: bool) -> None:
    def boom(x: int) -> int:
        raise KeyError("no such key")

    async def boom_async(x: int) -> int:
        raise KeyError("no such key")

    made = create_tool(boom_async if is_async else boom)
    for call in (lambda: made.invoke(x=1),):
        with pytest.raises(ToolInvocationError) as caught:
            call()
        assert isinstance(caught.value.__cause__, KeyError) and not isinstance(caught.value, ToolArgumentsError)
        assert "KeyError" in str(caught.value) and caught.value.tool_name == made.name
    with pytest.raises(ToolInvocationError) as caught_async:
        await made.invoke_async(x=1)
    assert isinstance(caught_async.value.__cause__, KeyError)


# --- RunContext ----------------------------------------------------------------------------------------


@dataclass
class Deps:
    user: str


def whoami(greeting: str, ctx: RunContext[Deps]) -> str:
    """Greet the current user."""
    return f"{greeting} {ctx.deps.user} at step {ctx.step}"


async def whoami_async(ctx: RunContext, greeting: str = "hi") -> str:
    return f"{greeting} {ctx.deps.user}"


def test_run_context_is_hidden_from_the_schema() -> None:
    made = create_tool(whoami)
    assert list(made.parameters["properties"]) == ["greeting"]
    assert made.parameters["required"] == ["greeting"]


async def test_run_context_is_injected_from_the_current_context() -> None:
    ctx = RunContext(deps=Deps(user="ada"), step=2)
    with use_run_context(ctx):
        assert create_tool(whoami).invoke(greeting="hello") == "hello ada at step 2"
        assert await create_tool(whoami).invoke_async(greeting="hey") == "hey ada at step 2"  # worker thread
        assert create_tool(whoami_async).invoke() == "hi ada"
        assert await create_tool(whoami_async).invoke_async(greeting="yo") == "yo ada"


def test_run_context_defaults_to_a_fresh_empty_one() -> None:
    seen: list[RunContext[Any]] = []

    def probe(ctx: RunContext) -> str:
        seen.append(ctx)
        return "ok"

    made = create_tool(probe)
    made.invoke()
    made.invoke()
    assert seen[0].deps is None and seen[0].messages == [] and seen[0].tool_name == "probe"
    assert seen[0] is not seen[1]


def test_run_context_may_be_passed_explicitly_but_not_as_other_values() -> None:
    made = create_tool(whoami)
    assert made.invoke(greeting="yo", ctx=RunContext(deps=Deps("bob"))) == "yo bob at step 0"
    with pytest.raises(ToolArgumentsError, match="- ctx: unexpected argument"):
        made.invoke(greeting="yo", ctx={"deps": None})


# --- forward references ------------------------------------------------------------------------------


def uses_later(item: LaterModel, ctx: RunContext) -> str:
    """Use a model defined further down the module."""
    return f"{item.name} {ctx.step}"


early_tool = create_tool(uses_later)  # at import time, before LaterModel exists


class LaterModel(BaseModel):
    name: str


def test_forward_references_resolve_on_first_use() -> None:
    assert early_tool.parameters["properties"] == {"item": {"$ref": "#/$defs/LaterModel"}}
    with use_run_context(RunContext(step=7)):
        assert early_tool.invoke(item={"name": "late"}) == "late 7"


def test_unresolvable_forward_reference_is_a_clear_error() -> None:
    def broken(item: DoesNotExist) -> str:  # type: ignore[name-defined]  # noqa: F821
        return ""

    made = create_tool(broken)
    with pytest.raises(ToolDefinitionError, match="Function '.*broken': cannot resolve a type hint.*DoesNotExist"):
        _ = made.parameters


# --- laziness ----------------------------------------------------------------------------------------


def test_schema_and_docstring_wait_for_first_use() -> None:
    made = create_tool(forecast)
    assert made._arguments is None and made._docstring is None  # nothing built by decorating
    made.warm_up()
    assert made._arguments is not None and made._docstring is not None
    schema = made.parameters
    made.warm_up()
    assert made.parameters is schema


# --- with Haystack's own machinery ---------------------------------------------------------------------


@component
class _ScriptedChatGenerator:
    """A chat generator that asks for the given tool calls once, then answers with text."""

    def __init__(self, tool_calls: list[ToolCall]) -> None:
        self.tool_calls = tool_calls
        self.seen: list[list[ChatMessage]] = []

    @component.output_types(replies=list[ChatMessage])
    def run(self, messages: list[ChatMessage], tools: Any = None, **kwargs: Any) -> dict[str, Any]:
        self.seen.append(list(messages))
        if len(self.seen) == 1:
            return {"replies": [ChatMessage.from_assistant(tool_calls=self.tool_calls)]}
        return {"replies": [ChatMessage.from_assistant("done")]}


def test_haystack_agent_runs_function_tools_sync_and_async() -> None:
    calls = [
        ToolCall(tool_name="forecast", arguments={"city": "Paris", "days": "2"}, id="c1"),
        ToolCall(tool_name="double_async", arguments={"x": 4}, id="c2"),
        ToolCall(tool_name="forecast", arguments={"days": "x"}, id="c3"),
    ]
    generator = _ScriptedChatGenerator(calls)
    agent = HaystackAgent(
        chat_generator=generator,
        tools=[create_tool(forecast), create_tool(double_async)],
        raise_on_tool_invocation_failure=False,
    )
    agent.warm_up()
    result = agent.run(messages=[ChatMessage.from_user("go")])
    tool_messages = [m for m in result["messages"] if m.tool_call_results]
    outcomes = [m.tool_call_results[0] for m in tool_messages]
    assert [o.origin.id for o in outcomes] == ["c1", "c2", "c3"]
    assert outcomes[0].result == "Paris:2" and not outcomes[0].error
    assert outcomes[1].result == "8" and not outcomes[1].error
    assert outcomes[2].error and "- city: required, but missing" in outcomes[2].result
    assert result["last_message"].text == "done"


async def test_haystack_agent_run_async_with_function_tools() -> None:
    calls = [ToolCall(tool_name="double_async", arguments={"x": "5"}, id="c1")]
    agent = HaystackAgent(chat_generator=_ScriptedChatGenerator(calls), tools=[create_tool(double_async)])
    agent.warm_up()
    result = await agent.run_async(messages=[ChatMessage.from_user("go")])
    outcome = next(m for m in result["messages"] if m.tool_call_results).tool_call_results[0]
    assert outcome.result == "10" and not outcome.error


# --- the fast path for simple signatures agrees with pydantic's model ------------------------------------

SIMPLE = [
    str, int, float, bool, Literal["a"], Literal["a", "b"], Literal[1, 2], Literal[True, False], float | None,
    typing.Optional[int], list[typing.Optional[int]], typing.Optional[list[Literal["x", "y"]]],
    list[str], Annotated[str, "text"],
]  # fmt: skip
SAMPLES: list[dict[str, Any]] = [
    {}, {"a": "3"}, {"a": 3}, {"a": 2.5}, {"a": "x"}, {"a": "true"}, {"a": True}, {"a": None}, {"a": [1, "2", None]},
    {"a": ["x", "z"]}, {"a": "a", "b": "b"}, {"a": 1, "b": None}, {"a": {"k": 1}},
]  # fmt: skip


def _outcome(validate: Callable[[dict[str, Any]], dict[str, Any]], sample: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    try:
        return validate(dict(sample))
    except ValidationError as error:
        return [(e["loc"], e["type"], e["msg"]) for e in error.errors(include_url=False)]


@pytest.mark.parametrize("annotation", SIMPLE, ids=repr)
def test_fast_path_schema_and_validation_match_pydantic(annotation: Any) -> None:
    import inspect

    from aiml_agent._signature import _pydantic_model
    from aiml_agent._simple_schema import simple_arguments

    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = (
        inspect.Parameter("a", kind, annotation=annotation),
        inspect.Parameter("b", kind, annotation=annotation, default=None),
    )
    fast = simple_arguments(params)
    assert fast is not None
    slow_schema, slow_validate = _pydantic_model("f", params)
    assert fast[0] == slow_schema
    for sample in SAMPLES:
        assert _outcome(fast[1].validate_python, sample) == _outcome(slow_validate, sample), sample


@pytest.mark.parametrize(
    "annotation",
    [Address, dict[str, int], list, Literal["a", 1], Annotated[int, Field(ge=1)], tuple[int], datetime.date],
    ids=repr,
)
def test_other_types_take_the_pydantic_path(annotation: Any) -> None:
    import inspect

    from aiml_agent._simple_schema import simple_arguments

    param = inspect.Parameter("a", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation)
    assert simple_arguments([param]) is None
