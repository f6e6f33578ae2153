"""``Toolset``: a Haystack Toolset built from functions and Tools, an object's methods or a module's functions."""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from haystack.tools import Tool
from haystack.tools import Toolset as HaystackToolset

from aiml_agent import _haystack  # noqa: F401 - puts this module on the deserialization allowlist
from aiml_agent.tools import FunctionTool, create_tool

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
        _check_unique(converted)
        super().__init__(tools=converted)

    def add(self, tool: Tool | Callable[..., Any]) -> None:
        """Add a Tool or a function (made into a tool).

        :raises ValueError: A tool with the same name is already in the set.
        """
        converted = _as_tool(tool)
        _check_unique([*self.tools, converted])
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
        """A tool for each public function defined in ``module`` (or named in its ``__all__``), in source order.

        Functions imported from elsewhere and names starting with ``_`` are skipped; functions already
        decorated with ``@tool`` are taken as they are.
        """
        public = getattr(module, "__all__", None)
        tools: list[Tool] = []
        for name, member in vars(module).items():
            if name.startswith("_") or (public is not None and name not in public):
                continue
            if isinstance(member, FunctionTool):
                func = member.function or member.async_function
                if getattr(func, "__module__", None) == module.__name__:
                    tools.append(member)
            elif inspect.isfunction(member) and member.__module__ == module.__name__:
                tools.append(create_tool(member))
        return cls(tools)


def _as_tool(item: Tool | Callable[..., Any]) -> Tool:
    if isinstance(item, Tool):
        return item
    if callable(item):
        return create_tool(item)
    raise TypeError(f"Toolset items must be functions or Tools, got {type(item).__name__}: {item!r}")


def _check_unique(tools: list[Tool]) -> None:
    duplicates = [name for name, count in Counter(tool.name for tool in tools).items() if count > 1]
    if duplicates:
        raise ValueError(
            "Duplicate tool names in Toolset: "
            + ", ".join(repr(name) for name in duplicates)
            + ". Give one of each a different name (create_tool(func, name=...))."
        )
