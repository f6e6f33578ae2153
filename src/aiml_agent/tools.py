"""Python functions as Haystack Tools: ``create_tool``, ``@tool`` and :class:`FunctionTool`.

A :class:`FunctionTool` is a ``haystack.tools.Tool``: it works wherever Haystack takes a Tool. On top
of a plain Tool it validates the model's arguments with a pydantic model of the function's signature
before calling it, hides and fills ``RunContext`` parameters, and runs async functions from sync code.

Creating a tool is cheap: the JSON schema, the docstring and the validator are built on first use of
``parameters``/``description``/``tool_spec``/``invoke`` (or by ``warm_up()``), not at decoration time.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import threading
from collections.abc import Callable
from typing import Any, overload

from haystack.core.errors import SerializationError
from haystack.core.serialization import generate_qualified_class_name
from haystack.tools import Tool
from haystack.tools.errors import ToolInvocationError
from haystack.utils.callable_serialization import serialize_callable

from aiml_agent._arguments import validate_arguments
from aiml_agent._docstrings import ParsedDocstring, parse_docstring
from aiml_agent._haystack import load_callable  # also puts this module on the deserialization allowlist
from aiml_agent._result_text import result_to_text
from aiml_agent._signature import ArgumentsModel, ToolDefinitionError, build_arguments_model, inspect_signature
from aiml_agent._sync import run_blocking
from aiml_agent.context import RunContext, current_run_context
from aiml_agent.errors import ToolArgumentsError
from aiml_agent.tool_controls import ApprovalRule, ToolControls
from aiml_agent.tool_failure import FieldError, ToolFailure, format_tool_failure, invalid_arguments_text

__all__ = ["FunctionTool", "ToolDefinitionError", "create_tool", "result_to_text", "tool"]

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_BUILD_LOCK = threading.Lock()


class FunctionTool(Tool):
    """A Haystack Tool made from a Python function, with argument validation. Build it with :func:`create_tool`.

    :param func: The function (sync or ``async def``) the tool calls.
    :param name: Tool name; defaults to the function's name.
    :param description: Tool description; defaults to the docstring without its parameter sections.
    :param strict: ``None`` follows the request's ``tools_strict``; ``False`` keeps this tool non-strict even in
        strict requests; ``True`` sends it strict even in non-strict ones.
    :param timeout: Seconds a call may run in an Agent (see :class:`~aiml_agent.tool_controls.ToolControls`).
    :param retries: Failed calls an Agent run tolerates before it ends with ``exit_reason="tool_retries"``.
    :param max_output_chars: Longer results are cut to their head and tail in an Agent run.
    :param requires_approval: ``True`` or ``(arguments, ctx) -> bool``: an Agent run waits for a person's yes.
    :raises ToolDefinitionError: The function cannot be a tool (the message names function and parameter).
    :raises ValueError: A control is out of range (e.g. a timeout that is not positive).
    """

    # Tool is a dataclass; its generated __init__/__post_init__ (which re-validates the JSON schema with
    # jsonschema) is replaced here: the schema is ours, built lazily and valid by construction.
    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        max_output_chars: int | None = None,
        requires_approval: bool | ApprovalRule | None = None,
    ) -> None:
        if not callable(func):
            raise ToolDefinitionError(f"create_tool() needs a function, got {type(func).__name__}.")
        tool_name = name if name is not None else getattr(func, "__name__", None)
        if not tool_name or not _TOOL_NAME.match(tool_name):
            raise ToolDefinitionError(
                f"Invalid tool name {tool_name!r} for {func!r}: use 1-64 letters, digits, '_' or '-' (name=...)."
            )
        is_async = inspect.iscoroutinefunction(func)
        self.name = tool_name
        self.function = None if is_async else func
        self.async_function = func if is_async else None
        self.outputs_to_string = None
        self.inputs_from_state = None
        self.outputs_to_state = None
        self.strict = strict
        self.controls = ToolControls(
            timeout=timeout, retries=retries, max_output_chars=max_output_chars, requires_approval=requires_approval
        )
        self._func = func
        self._name_override = name
        self._description_override = description
        self._signature = inspect_signature(func)
        self._docstring: ParsedDocstring | None = None
        self._arguments: ArgumentsModel | None = None
        self._parameters: dict[str, Any] | None = None

    @property
    def description(self) -> str:
        """The description the model reads: the override, or the docstring's summary and body."""
        if self._description_override is not None:
            return self._description_override
        return self._parsed_docstring().description

    @description.setter
    def description(self, value: str) -> None:
        self._description_override = value

    @property
    def parameters(self) -> dict[str, Any]:
        """JSON schema of the parameters (without ``RunContext`` ones), built on first access."""
        if self._parameters is None:
            self._parameters = self._arguments_model().schema
        return self._parameters

    @parameters.setter
    def parameters(self, value: dict[str, Any]) -> None:
        self._parameters = value

    def warm_up(self) -> None:
        """Build the schema, descriptions and validator now instead of on first use (idempotent)."""
        _ = self.parameters

    def _parsed_docstring(self) -> ParsedDocstring:
        if self._docstring is None:
            self._docstring = parse_docstring(inspect.getdoc(self._func))
        return self._docstring

    def _arguments_model(self) -> ArgumentsModel:
        if self._arguments is None:
            with _BUILD_LOCK:
                if self._arguments is None:
                    doc_params = self._parsed_docstring().params
                    self._arguments = build_arguments_model(self._func, self._signature, doc_params)
        return self._arguments

    def _prepare(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Validate the model's arguments and add the ``RunContext`` ones; raise ToolArgumentsError if invalid."""
        arguments = dict(arguments)
        model = self._arguments_model()
        context: dict[str, Any] = {}
        for name in model.context:
            if isinstance(arguments.get(name), RunContext):
                context[name] = arguments.pop(name)
            else:
                context[name] = current_run_context.get() or RunContext(tool_name=self.name)
        values, errors = validate_arguments(model, arguments)
        if errors:
            raise ToolArgumentsError(invalid_arguments_text(self.name, errors), tool_name=self.name, errors=errors)
        return {**values, **context}

    def check_arguments(self, arguments: dict[str, Any]) -> list[FieldError]:
        """The invalid fields of ``arguments`` (empty when valid), checked as :meth:`invoke` would, without a call."""
        model = self._arguments_model()
        return validate_arguments(model, {k: v for k, v in arguments.items() if k not in model.context})[1]

    def _failure(self, error: Exception) -> ToolInvocationError:
        failure = ToolFailure.from_exception(error, tool_name=self.name)
        return ToolInvocationError(format_tool_failure(failure), tool_name=self.name)

    def _call_sync(self, kwargs: dict[str, Any]) -> Any:
        try:
            return self._func(**kwargs)
        except Exception as error:
            raise self._failure(error) from error

    async def _call_async(self, kwargs: dict[str, Any]) -> Any:
        try:
            return await self._func(**kwargs)
        except Exception as error:
            raise self._failure(error) from error

    def invoke(self, **kwargs: Any) -> Any:
        """Validate ``kwargs`` and call the function; async functions run to completion here.

        :returns: The function's own return value.
        :raises ToolArgumentsError: The arguments are invalid (one line per bad field).
        :raises ToolInvocationError: The function raised; the original exception is ``__cause__``.
        """
        call_kwargs = self._prepare(kwargs)
        if self.async_function is None:
            return self._call_sync(call_kwargs)
        return run_blocking(lambda: self._call_async(call_kwargs))

    async def invoke_async(self, **kwargs: Any) -> Any:
        """Like :meth:`invoke`, awaitable; a sync function runs in a worker thread (context variables kept)."""
        call_kwargs = self._prepare(kwargs)
        if self.async_function is not None:
            return await self._call_async(call_kwargs)
        return await asyncio.to_thread(self._call_sync, call_kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Serialize as the function's import path plus the name/description/strict given at creation.

        :raises SerializationError: The function is a bound method of an object (``Toolset.from_object``),
            a lambda or a nested function: none can be imported back by path.
        """
        func = self._func
        if inspect.ismethod(func) and not isinstance(func.__self__, type):
            raise SerializationError(
                f"Tool '{self.name}' wraps the method '{func.__qualname__}' of a {type(func.__self__).__name__} "
                "object; tools bound to an object cannot be serialized by import path. Use module-level "
                "functions, or rebuild the toolset with Toolset.from_object(...) after loading."
            )
        data: dict[str, Any] = {
            "function": serialize_callable(func),
            "name": self.name,
            "description": self._description_override,
            "strict": self.strict,
        }
        controls = {k: v for k, v in self.controls.to_dict().items() if v is not None}
        if controls:
            data["controls"] = controls
        return {"type": generate_qualified_class_name(type(self)), "data": data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FunctionTool:
        """Rebuild the tool from :meth:`to_dict` output.

        :raises DeserializationError: The function's module is not on Haystack's deserialization allowlist (the
            message says how to allow it), or the function is one of this package's own (never loaded from data).
        """
        init = data["data"]
        what = f"tool {init.get('name')!r}" if init.get("name") else "a tool"
        func = load_callable(init.get("function"), what=what)
        controls = ToolControls.from_dict(init.get("controls") or {}, what=what)
        return cls(
            func,
            name=init.get("name"),
            description=init.get("description"),
            strict=init.get("strict"),
            **_control_kwargs(controls),
        )

    def __repr__(self) -> str:
        kind = "async_function" if self.async_function is not None else "function"
        return f"{type(self).__name__}(name={self.name!r}, {kind}={self._func!r}, strict={self.strict!r})"


def _control_kwargs(controls: ToolControls) -> dict[str, Any]:
    return {
        "timeout": controls.timeout,
        "retries": controls.retries,
        "max_output_chars": controls.max_output_chars,
        "requires_approval": controls.requires_approval,
    }


def create_tool(
    func: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    max_output_chars: int | None = None,
    requires_approval: bool | ApprovalRule | None = None,
) -> FunctionTool:
    """Make a Haystack Tool of ``func``: name, description and JSON schema from its signature and docstring.

    :param func: A sync or async function with a type hint on every parameter (a FunctionTool is re-made
        from its function with the new options).
    :param name: Tool name; defaults to the function's ``__name__``.
    :param description: Tool description; defaults to the docstring's summary and body.
    :param strict: ``None`` follows the request's ``tools_strict``; ``False`` keeps this tool non-strict even in
        strict requests; ``True`` sends it strict even in non-strict ones.
    :param timeout: Seconds a call may run in an Agent run; then the model is told it timed out.
    :param retries: Failed calls an Agent run tolerates; one more ends it with ``exit_reason="tool_retries"``.
    :param max_output_chars: A longer result keeps its head and tail around a marker saying how much was cut.
    :param requires_approval: ``True`` or ``(arguments, ctx) -> bool``: the call waits for a person's yes.
    :raises ToolDefinitionError: A parameter has no type hint, is ``*args``/``**kwargs``, or has a type
        pydantic cannot describe.
    :raises ValueError: A control is out of range (see :class:`~aiml_agent.tool_controls.ToolControls`).
    """
    controls = ToolControls(
        timeout=timeout, retries=retries, max_output_chars=max_output_chars, requires_approval=requires_approval
    )
    if isinstance(func, FunctionTool):
        return FunctionTool(
            func._func,
            name=name if name is not None else func._name_override,
            description=description if description is not None else func._description_override,
            strict=strict if strict is not None else func.strict,
            **_control_kwargs(controls.over(func.controls)),
        )
    if isinstance(func, Tool):
        raise ToolDefinitionError(f"'{func.name}' is already a Haystack Tool; use it as it is.")
    return FunctionTool(func, name=name, description=description, strict=strict, **_control_kwargs(controls))


@overload
def tool(func: Callable[..., Any], /) -> FunctionTool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    max_output_chars: int | None = None,
    requires_approval: bool | ApprovalRule | None = None,
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    max_output_chars: int | None = None,
    requires_approval: bool | ApprovalRule | None = None,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Decorator form of :func:`create_tool`: ``@tool`` or ``@tool(name=..., timeout=..., ...)`` (same options)."""
    options: dict[str, Any] = {
        "name": name,
        "description": description,
        "strict": strict,
        "timeout": timeout,
        "retries": retries,
        "max_output_chars": max_output_chars,
        "requires_approval": requires_approval,
    }
    if func is None:
        # checked here, so that a bad value fails at the decorator line
        ToolControls(
            timeout=timeout, retries=retries, max_output_chars=max_output_chars, requires_approval=requires_approval
        )
        return lambda f: create_tool(f, **options)
    if isinstance(func, str):
        raise TypeError("Pass the tool name as a keyword: @tool(name=...).")
    return create_tool(func, **options)
