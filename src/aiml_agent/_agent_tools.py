"""An Agent's tools: functions made into tools, one tool per name, and the controls each call runs under."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from haystack.tools import Tool, Toolset, ToolsType, flatten_tools_or_toolsets

from aiml_agent.tool_controls import NO_CONTROLS, ToolControls, controls_of
from aiml_agent.tools import create_tool

#: What an Agent accepts as tools: Tools, Toolsets and plain functions (made into tools), or one Toolset.
AgentTools = Sequence[Tool | Toolset | Callable[..., Any]] | Toolset


def as_tools(tools: AgentTools | None) -> ToolsType | None:
    """``tools`` with plain functions made into tools; one Toolset as it is.

    :raises TypeError: ``tools`` is a single Tool or function, or an item is neither Tool, Toolset nor function.
    :raises ValueError: Two tools share a name.
    """
    if tools is None or isinstance(tools, Toolset):
        return tools
    if not isinstance(tools, (list, tuple)):
        raise TypeError(
            f"tools must be a list of Tools, Toolsets and functions, or a Toolset; got {type(tools).__name__} "
            "(wrap one tool in a list: tools=[my_tool])"
        )
    converted: list[Tool | Toolset] = []
    for item in tools:
        if isinstance(item, (Tool, Toolset)):
            converted.append(item)
        elif callable(item) and not isinstance(item, type):
            converted.append(create_tool(item))
        else:
            raise TypeError(f"tools items must be Tools, Toolsets or functions, got {type(item).__name__}: {item!r}")
    tools_by_name(flatten_tools_or_toolsets(converted))  # raises on a duplicate name
    return converted


def tools_by_name(tools: list[Tool]) -> dict[str, Tool]:
    """The tools by name. :raises ValueError: Two tools share a name (the model could not tell them apart)."""
    by_name: dict[str, Tool] = {}
    for tool in tools:
        if tool.name in by_name and by_name[tool.name] is not tool:
            raise ValueError(
                f"Two tools are named '{tool.name}': the model could not tell them apart. Give one another name "
                "(create_tool(func, name=...))."
            )
        by_name[tool.name] = tool
    return by_name


def as_controls(name: str, value: ToolControls | Mapping[str, Any]) -> ToolControls:
    if isinstance(value, ToolControls):
        return value
    if isinstance(value, Mapping):
        return ToolControls(**value)
    raise TypeError(f"tool_controls['{name}'] must be a ToolControls (or a dict of its fields), got {value!r}")


def effective_controls(
    tools: Mapping[str, Tool], per_name: Mapping[str, ToolControls], defaults: ToolControls
) -> dict[str, ToolControls]:
    """Each tool's controls: the Agent's for its name, over the tool's own, over the Agent-wide defaults.

    :raises ValueError: ``per_name`` names a tool that is not among ``tools`` (a typo must not switch a
        control such as approval off).
    """
    unknown = sorted(set(per_name) - set(tools))
    if unknown:
        raise ValueError(f"tool_controls name tools that this run does not have: {unknown}; tools: {sorted(tools)}")
    return {
        name: per_name.get(name, NO_CONTROLS).over(controls_of(tool)).over(defaults) for name, tool in tools.items()
    }
