"""``Toolset``: a Haystack Toolset built from functions and Tools, an object's methods or a module's functions."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from haystack.tools import Tool
from haystack.tools import Toolset as HaystackToolset

from aiml_agent import _haystack  # noqa: F401 - puts this module on the deserialization allowlist
from aiml_agent._module_tools import check_unique_names, module_tools
from aiml_agent.tools import create_tool

__all__ = ["Toolset"]


class Toolset(HaystackToolset):
    """A Haystack ``Toolset`` that also takes plain functions (made into tools with :func:`create_tool`).

    :param tools: Functions and/or Haystack Tools.
    :raises ValueError: Two tools share a name (the message names them).
    """

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] | None = None) -> None:
        if isinstance(tools, (Tool, HaystackToolset)) or callable(tools):
            raise TypeError("Toolset takes a list of functions or Tools: Toolset([tool]).")
        converted = [_as_tool(item) for item in (tools or [])]
        check_unique_names(converted)
        super().__init__(tools=converted)

    def add(self, tool: Tool | Callable[..., Any]) -> None:
        """Add a Tool or a function (made into a tool).

        :raises ValueError: A tool with the same name is already in the set.
        """
        converted = _as_tool(tool)
        check_unique_names([*self.tools, converted])
        self.tools.append(converted)

    @classmethod
    def from_object(cls, obj: object) -> Toolset:
        """A tool for each public method of ``obj`` (names starting with ``_`` and non-callables are skipped).

        Such tools call the bound methods of this very object; they cannot be serialized by import path.

        :raises TypeError: ``obj`` is a class or a module (pass an instance, or use :meth:`from_module`).
        """
        if isinstance(obj, (type, ModuleType)):
            kind = "a module: use Toolset.from_module()" if isinstance(obj, ModuleType) else "a class: pass an instance"
            raise TypeError(f"Toolset.from_object() takes an object, got {obj.__name__!r}, {kind}.")
        names: dict[str, None] = {}
        for klass in reversed(type(obj).__mro__[:-1]):  # base classes first, then overrides; not `object`
            names.update(dict.fromkeys(vars(klass)))
        tools: list[Tool] = []
        for name in names:
            if name.startswith("_") or isinstance(inspect.getattr_static(obj, name, None), property):
                continue
            member = getattr(obj, name, None)
            if isinstance(member, Tool):
                tools.append(member)
            elif (inspect.ismethod(member) or inspect.isfunction(member)) and not isinstance(member, type):
                tools.append(create_tool(member))
        return cls(tools)

    @classmethod
    def from_module(cls, module: ModuleType) -> Toolset:
        """The tools of ``module``, by the same rule as the ``aiml-agent`` command line's TARGET.

        Only public names count (those in ``__all__`` when it exists). When the module holds Tool or Toolset
        objects (``@tool`` functions and ``create_tool(...)`` results included), those are its tools and its
        other functions are left out; otherwise every function defined in the module itself (not imported
        into it) becomes a tool. Tools come in the module's order; one reached twice counts once.

        :raises ToolDefinitionError: A function cannot be a tool (the message names it).
        :raises ValueError: Two different tools share a name.
        """
        found = module_tools(module)
        if found.failures:
            raise found.failures[0][1]
        return cls(found.tools)


def _as_tool(item: Tool | Callable[..., Any]) -> Tool:
    if isinstance(item, Tool):
        return item
    if callable(item):
        return create_tool(item)
    raise TypeError(f"Toolset items must be functions or Tools, got {type(item).__name__}: {item!r}")
