"""One rule for a module's tools: ``Toolset.from_module`` and ``aiml-agent tools/run TARGET`` find the same ones."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from aiml_agent.cli import main
from aiml_agent.cli._shared import load_module
from aiml_agent.errors import ToolDefinitionError
from aiml_agent.toolset import Toolset

PLAIN = '''
from json import dumps  # imported: never a tool


def get_weather(city: str) -> str:
    """Weather in a city.

    Args:
        city: The city.
    """
    return f"Sunny in {city}"


async def get_time(zone: str) -> str:
    """Time in a zone.

    Args:
        zone: An IANA zone.
    """
    return f"12:00 in {zone}"


def _helper() -> None:
    pass
'''

MARKED = '''
from haystack.tools import Tool
from haystack.tools import Toolset as HaystackToolset

from aiml_agent import create_tool, tool
from helpers import imported_lookup


def echo(text: str) -> str:
    return text


echo_tool = Tool(
    name="echo",
    description="Repeat the text back.",
    parameters={"type": "object", "properties": {"text": {"type": "string", "description": "What to repeat."}}},
    function=echo,
)
lookup = create_tool(imported_lookup, name="lookup", description="Look an order up.")


@tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first.
        b: The second.
    """
    return a + b


math = HaystackToolset([add])  # add again: counted once


def main() -> None:  # a plain function beside marked tools: not for the model
    print(add.invoke(a=1, b=2))
'''

HELPERS = '''
def imported_lookup(order_id: str) -> str:
    """Look up an order.

    Args:
        order_id: The order number.
    """
    return f"{order_id}: shipped"
'''


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.chdir(tmp_path)
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if str(getattr(sys.modules[name], "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def write(folder: Path, name: str, code: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(code))
    return path


def cli_tools(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = main(["tools", *args, "--json"])
    captured = capsys.readouterr()
    names = [entry["function"]["name"] for entry in json.loads(captured.out)] if captured.out.strip() else []
    return code, names, captured.err


def from_module(path: Path) -> list[str]:
    module: ModuleType = load_module(str(path))
    return [tool.name for tool in Toolset.from_module(module)]


def test_a_module_of_plain_functions_gives_its_own_public_functions(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(folder, "plain", PLAIN)

    code, names, err = cli_tools(capsys, str(path))

    assert code == 0, err
    assert names == from_module(path) == ["get_weather", "get_time"]


def test_marked_tools_are_the_module_s_tools_for_both(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Plain Haystack Tools, ``create_tool(...)`` results (of an imported function too), ``@tool`` functions and
    Toolsets: these and only these, each once, with no "no docstring" warning for a Tool that has a description."""
    write(folder, "helpers", HELPERS)
    path = write(folder, "marked", MARKED)

    code, names, err = cli_tools(capsys, str(path))

    assert code == 0, err
    assert names == from_module(path) == ["echo", "lookup", "add"]
    assert err == ""  # every tool has a description and described parameters
    toolset = Toolset.from_module(load_module(str(path)))
    assert [
        tool.invoke(**args) for tool, args in zip(toolset, [{"text": "hi"}, {"order_id": "A-1"}, {"a": 1, "b": 2}])
    ] == [
        "hi",
        "A-1: shipped",
        3,
    ]


def test_a_tool_without_description_is_named_as_such(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        folder,
        "bare",
        """
        from haystack.tools import Tool
        from aiml_agent import create_tool


        def undocumented(x: int) -> int:
            return x


        bare = Tool(name="bare", description="", parameters={"type": "object", "properties": {}}, function=print)
        described = create_tool(undocumented, description="Described by the author.")
        plain = create_tool(undocumented, name="plain")
        """,
    )

    main(["tools", str(path)])
    err = capsys.readouterr().err

    assert "warning: bare: tool has no description" in err
    assert "warning: plain: function has no docstring" in err
    assert "undocumented: function has no docstring" not in err  # described by the author: only its
    assert "warning: undocumented: parameter 'x' has no description" in err  # parameter lacks a description


def test_all_limits_the_names_for_both(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(folder, "listed", PLAIN + '\n__all__ = ["get_time"]\n')

    assert cli_tools(capsys, str(path))[1] == from_module(path) == ["get_time"]


def test_two_different_tools_with_one_name_are_an_error_for_both(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        folder,
        "clash",
        """
        from aiml_agent import create_tool


        def one(x: int) -> int:
            '''One.'''
            return x


        def two(x: int) -> int:
            '''Two.'''
            return x


        first = create_tool(one, name="same")
        second = create_tool(two, name="same")
        """,
    )

    with pytest.raises(ValueError, match="Duplicate tool names in Toolset: 'same'"):
        from_module(path)
    code = main(["tools", str(path)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Duplicate tool names in Toolset: 'same'" in err


def test_a_function_that_cannot_be_a_tool_fails_from_module_and_is_reported_by_the_cli(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(folder, "untyped", PLAIN + "\n\ndef untyped(x):\n    '''No hint.'''\n    return x\n")

    with pytest.raises(ToolDefinitionError, match="untyped"):
        for tool in Toolset.from_module(load_module(str(path))):
            tool.warm_up()
    code = main(["tools", str(path)])
    err = capsys.readouterr().err
    assert code == 1 and "error: untyped: cannot be a tool" in err
