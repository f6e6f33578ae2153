"""Toolset variants, duplicate names, and to_dict/from_dict round trips of tools and toolsets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import tool_functions
from haystack.core.errors import SerializationError
from haystack.core.serialization import allow_deserialization_module
from haystack.tools import Tool, create_tool_from_function, deserialize_tools_or_toolset_inplace
from haystack.tools import Toolset as HaystackToolset

from aiml_agent.tools import FunctionTool, create_tool
from aiml_agent.toolset import Toolset

# serialized tools name their functions by import path: let this test helpers module load back
allow_deserialization_module(tool_functions.__name__)


def shout(text: str) -> str:
    """Shout the text."""
    return text.upper()


class Calculator:
    """An object whose public methods become tools."""

    factor = 10  # not callable: skipped

    def __init__(self, offset: int) -> None:
        self.offset = offset

    def add_offset(self, value: int) -> int:
        """Add the calculator's offset."""
        return value + self.offset

    def scale(self, value: float) -> float:
        """Multiply by the factor."""
        return value * self.factor

    async def negate(self, value: int) -> int:
        """Negate a number."""
        return -value

    @staticmethod
    def square(value: int) -> int:
        """Square a number."""
        return value * value

    @property
    def broken(self) -> int:  # a property is never evaluated
        raise AssertionError("properties must not be read")

    def _private(self, value: int) -> int:
        return value

    class Nested:  # callable, but not a method
        pass


def test_toolset_from_functions_and_tools() -> None:
    haystack_tool = create_tool_from_function(shout, name="shout_hs")
    toolset = Toolset([shout, haystack_tool, create_tool(tool_functions.get_weather)])
    assert isinstance(toolset, HaystackToolset)
    assert [t.name for t in toolset] == ["shout", "shout_hs", "get_weather"]
    assert isinstance(toolset.tools[0], FunctionTool) and toolset.tools[1] is haystack_tool
    assert "shout" in toolset and len(toolset) == 3
    toolset.add(tool_functions.add)
    assert toolset.tools[-1] is tool_functions.add and toolset.tools[-1].invoke(a="2") == 3


def test_duplicate_names_are_an_error_naming_them() -> None:
    with pytest.raises(ValueError, match="Duplicate tool names in Toolset: 'shout'"):
        Toolset([shout, create_tool(shout)])
    toolset = Toolset([shout])
    with pytest.raises(ValueError, match="'shout'"):
        toolset.add(shout)


def test_toolset_rejects_non_callables_and_single_items() -> None:
    with pytest.raises(TypeError, match="got int"):
        Toolset([shout, 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"Toolset\(\[tool\]\)"):
        Toolset(create_tool(shout))  # type: ignore[arg-type]


def test_from_object_uses_public_bound_methods() -> None:
    calculator = Calculator(offset=5)
    toolset = Toolset.from_object(calculator)
    assert sorted(t.name for t in toolset) == ["add_offset", "negate", "scale", "square"]
    tools = {t.name: t for t in toolset}
    assert tools["add_offset"].description == "Add the calculator's offset."
    assert list(tools["add_offset"].parameters["properties"]) == ["value"]  # no `self`
    assert tools["add_offset"].invoke(value="1") == 6
    assert tools["scale"].invoke(value=2) == 20
    assert tools["negate"].async_function is not None and tools["negate"].invoke(value=3) == -3
    assert tools["square"].invoke(value=4) == 16


def test_from_object_refuses_classes_and_modules() -> None:
    with pytest.raises(TypeError, match="got 'Calculator', a class: pass an instance"):
        Toolset.from_object(Calculator)
    with pytest.raises(TypeError, match=r"a module: use Toolset.from_module\(\)"):
        Toolset.from_object(tool_functions)


def test_from_module_takes_the_tools_a_module_marks() -> None:
    toolset = Toolset.from_module(tool_functions)  # one @tool function beside plain ones: the marked one only
    assert [t.name for t in toolset] == ["add_numbers"]
    assert toolset.tools[0] is tool_functions.add  # already a tool: taken as it is


def test_function_tool_round_trip() -> None:
    original = create_tool(tool_functions.get_weather)
    data = original.to_dict()
    assert data == {
        "type": "aiml_agent.tools.FunctionTool",
        "data": {"function": "tool_functions.get_weather", "name": "get_weather", "description": None, "strict": None},
    }
    restored = FunctionTool.from_dict(data)
    assert restored == original
    assert restored.tool_spec == original.tool_spec
    assert restored.invoke(city="Oslo") == "Oslo: 21 celsius"


def test_round_trip_keeps_overrides_async_and_decorated_tools() -> None:
    for original in (
        create_tool(tool_functions.get_weather, name="weather", description="Weather now.", strict=True),
        create_tool(tool_functions.get_time),
        tool_functions.add,  # @tool(name="add_numbers", strict=False) at module level
    ):
        restored = FunctionTool.from_dict(original.to_dict())
        assert (restored.name, restored.description, restored.strict, restored.parameters) == (
            original.name,
            original.description,
            original.strict,
            original.parameters,
        )
        assert restored.async_function is original.async_function
        assert restored.function is original.function
    assert (
        asyncio.run(FunctionTool.from_dict(create_tool(tool_functions.get_time).to_dict()).invoke_async(timezone="UTC"))
        == "12:00 in UTC"
    )


def test_toolset_round_trip_through_haystack_helpers() -> None:
    toolset = Toolset([tool_functions.get_weather, tool_functions.get_time, tool_functions.add])
    data: dict[str, Any] = {"tools": toolset.to_dict()}
    assert data["tools"]["type"] == "aiml_agent.toolset.Toolset"
    deserialize_tools_or_toolset_inplace(data)
    restored = data["tools"]
    assert type(restored) is Toolset and restored == toolset
    assert [t.name for t in restored] == ["get_weather", "get_time", "add_numbers"]

    as_list: dict[str, Any] = {"tools": [t.to_dict() for t in toolset]}
    deserialize_tools_or_toolset_inplace(as_list)
    assert all(isinstance(t, FunctionTool) for t in as_list["tools"])
    assert [t.tool_spec for t in as_list["tools"]] == [t.tool_spec for t in toolset]


def test_plain_haystack_tools_in_our_toolset_still_round_trip() -> None:
    plain = Tool(
        name="echo",
        description="Echo.",
        parameters={"type": "object", "properties": {}},
        function=tool_functions.get_weather,
    )
    restored = Toolset.from_dict(Toolset([plain]).to_dict())
    assert type(restored.tools[0]) is Tool and restored.tools[0].name == "echo"


def test_bound_method_tools_cannot_be_serialized() -> None:
    toolset = Toolset.from_object(Calculator(offset=1))
    with pytest.raises(SerializationError, match="wraps the method 'Calculator.add_offset' of a Calculator object"):
        toolset.to_dict()


def test_local_functions_cannot_be_serialized() -> None:
    def local(x: int) -> int:
        return x

    with pytest.raises(SerializationError, match="nested functions"):
        create_tool(local).to_dict()
