"""Which objects of a module are its tools: the one rule ``Toolset.from_module`` and the CLI's TARGET share.

1. Only public names count: no leading underscore, and only the names in ``__all__`` when the module has one.
2. When any of them is a Haystack ``Tool`` (``@tool`` and ``create_tool(...)`` objects included) or ``Toolset``,
   those are the module's tools: the author marked them, and its other functions (``main``, helpers) are not
   meant for the model. A Toolset gives its tools.
3. Otherwise every function defined in the module itself (not imported into it) is made a tool by
   ``create_tool``.

Tools come in the module's order. A tool reached twice (a ``@tool`` function also put in a Toolset) counts once;
two different tools with one name are an error.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from haystack.tools import Tool
from haystack.tools import Toolset as HaystackToolset

from aiml_agent.tools import create_tool

__all__ = ["ModuleTools", "check_unique_names", "module_tools"]


@dataclass
class ModuleTools:
    """The tools found in a module, and the functions that could not be made tools (with why)."""

    tools: list[Tool] = field(default_factory=list)
    failures: list[tuple[str, Exception]] = field(default_factory=list)


def module_tools(module: ModuleType, names: Sequence[str] | None = None) -> ModuleTools:
    """Collect the tools of ``module`` by the rule above.

    :param module: The imported module.
    :param names: Take exactly these attributes instead of applying the rule (the CLI's ``TARGET:NAME``): a
        function becomes a tool even when imported, a Tool is taken, a Toolset gives its tools.
    :returns: The tools, and each function ``create_tool`` refused as ``(name, error)``.
    :raises ValueError: Two different tools share a name (the message names it).
    :raises TypeError: A picked attribute is not a function, Tool or Toolset.
    """
    found = ModuleTools()
    if names is not None:
        for name in names:
            value = getattr(module, name)
            if not (_is_marked(value) or inspect.isfunction(value)):
                raise TypeError(f"{module.__name__}.{name} is not a function, Tool or Toolset")
            _take(found, name, value)
    else:
        public = _public_members(module)
        marked = [(name, value) for name, value in public if _is_marked(value)]
        own = [(name, value) for name, value in public if _is_own_function(value, module)]
        for name, value in marked or own:
            _take(found, name, value)
    check_unique_names(found.tools)
    return found


def _public_members(module: ModuleType) -> list[tuple[str, Any]]:
    listed = getattr(module, "__all__", None)
    members = vars(module).items()
    if listed is not None:
        return [(name, value) for name, value in members if name in listed]
    return [(name, value) for name, value in members if not name.startswith("_")]


def _is_marked(value: Any) -> bool:
    return isinstance(value, (Tool, HaystackToolset))


def _is_own_function(value: Any, module: ModuleType) -> bool:
    return inspect.isfunction(value) and value.__module__ == module.__name__


def _take(found: ModuleTools, name: str, value: Any) -> None:
    if isinstance(value, HaystackToolset):
        warm_up = getattr(value, "warm_up", None)
        if callable(warm_up):
            warm_up()  # a toolset may only know its tools once connected (MCP servers)
        _add_all(found, list(value))
    elif isinstance(value, Tool):
        _add_all(found, [value])
    else:
        try:
            made = create_tool(value)
        except Exception as error:
            found.failures.append((name, error))
            return
        _add_all(found, [made])


def _add_all(found: ModuleTools, tools: Iterable[Tool]) -> None:
    for tool in tools:
        if not any(_same(tool, existing) for existing in found.tools):
            found.tools.append(tool)


def _same(one: Tool, other: Tool) -> bool:
    """The same object, or tools of one function under one name (e.g. ``create_tool`` applied twice)."""
    if one is other:
        return True
    function = _function(one)
    return one.name == other.name and function is not None and function is _function(other)


def _function(tool: Tool) -> Any:
    return tool.function or tool.async_function


def check_unique_names(tools: list[Tool]) -> None:
    """Raise ValueError naming every tool name used more than once."""
    duplicates = [name for name, count in Counter(tool.name for tool in tools).items() if count > 1]
    if duplicates:
        raise ValueError(
            "Duplicate tool names in Toolset: "
            + ", ".join(repr(name) for name in duplicates)
            + ". Give one of each a different name (create_tool(func, name=...))."
        )
