"""A function's signature as a pydantic model: its JSON schema for the model, its validator for the call.

Two steps, so that decorating stays cheap:

- :func:`inspect_signature` (at tool creation, microseconds): reads the signature, rejects what can
  never be a tool parameter (no type hint, ``*args``/``**kwargs``, types with no JSON schema) and spots
  ``RunContext`` parameters, which are hidden from the model.
- :func:`build_arguments_model` (on first use): the JSON schema without titles and the validator,
  written directly for simple signatures (:mod:`aiml_agent._simple_schema`, ~0.1 ms) or through a
  pydantic model of the parameters (~1 ms).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import inspect
import math
import pathlib
import types
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PydanticSchemaGenerationError,
    TypeAdapter,
    create_model,
)
from pydantic.fields import FieldInfo
from pydantic.json_schema import GenerateJsonSchema

from aiml_agent._schema import remove_titles
from aiml_agent._simple_schema import simple_arguments
from aiml_agent.context import RunContext
from aiml_agent.errors import ToolDefinitionError

_EMPTY = inspect.Parameter.empty
_SIMPLE_TYPES: frozenset[Any] = frozenset(
    {str, int, float, bool, bytes, type(None), None, Any, decimal.Decimal, uuid.UUID, pathlib.Path}
    | {datetime.date, datetime.datetime, datetime.time, datetime.timedelta}
)


@dataclass(frozen=True)
class ToolSignature:
    """The parameters of a tool function as read at creation time.

    :param function_name: The function's qualified name, for error messages.
    :param parameters: The parameters the model fills, in order.
    :param context_parameters: Names of the ``RunContext`` parameters, filled at call time.
    :param resolved: False when string annotations could not be evaluated yet (forward references);
        they are evaluated again when the model is built.
    """

    function_name: str
    parameters: tuple[inspect.Parameter, ...]
    context_parameters: tuple[str, ...]
    resolved: bool


@dataclass(frozen=True)
class ArgumentsModel:
    """The validator of a tool's parameters and the JSON schema the model sees.

    :param schema: JSON schema of the parameters, titles removed.
    :param names: The parameter names, in order.
    :param defaults: Names of the parameters that have a Python default.
    :param context: Names of the ``RunContext`` parameters (hidden from the schema, filled at call time).
    :param validate: Validates an arguments dict (pydantic lax mode) and returns the validated values of
        the arguments given; raises pydantic's ``ValidationError``.
    """

    schema: dict[str, Any]
    names: tuple[str, ...]
    defaults: frozenset[str]
    context: tuple[str, ...]
    validate: Callable[[dict[str, Any]], dict[str, Any]]


def inspect_signature(func: Callable[..., Any]) -> ToolSignature:
    """Read ``func``'s signature and reject what cannot be a tool parameter.

    :raises ToolDefinitionError: A parameter has no type hint, is ``*args``/``**kwargs``, or has a type
        pydantic cannot describe as JSON schema.
    """
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
    try:
        signature, resolved = inspect.signature(func, eval_str=True), True
    except NameError:  # a forward reference that may resolve later
        signature, resolved = inspect.signature(func), False

    parameters: list[inspect.Parameter] = []
    context: list[str] = []
    for param in map(_field_default_as_annotation, signature.parameters.values()):
        where = f"Function '{name}', parameter '{param.name}'"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind is param.VAR_POSITIONAL else "**"
            raise ToolDefinitionError(f"{where}: {star}{param.name} cannot be a tool parameter; name each parameter.")
        if param.kind is param.POSITIONAL_ONLY:
            raise ToolDefinitionError(f"{where}: positional-only parameters cannot take the model's named arguments.")
        if param.annotation is _EMPTY:
            raise ToolDefinitionError(f"{where}: a type hint is required to build the tool's schema.")
        if resolved and is_run_context(param.annotation):
            context.append(param.name)
            continue
        if resolved:
            problem = _describability_problem(param.annotation)
            if problem:
                raise ToolDefinitionError(f"{where}: {problem}")
        parameters.append(param)
    return ToolSignature(name, tuple(parameters), tuple(context), resolved)


def _field_default_as_annotation(param: inspect.Parameter) -> inspect.Parameter:
    """``x: int = Field(..., gt=1)`` (the FastAPI style) as ``x: Annotated[int, Field(..., gt=1)]`` with no Python
    default: the FieldInfo's constraints, description and default (or ``default_factory``) then apply, and the
    function always receives a validated value, never the FieldInfo itself."""
    if not isinstance(param.default, FieldInfo):
        return param
    return param.replace(annotation=Annotated[param.annotation, param.default], default=_EMPTY)


def _has_default(param: inspect.Parameter) -> bool:
    """Whether the parameter may be left out: a Python default, or a ``Field(default=...)``/``default_factory``."""
    if param.default is not _EMPTY:
        return True
    if get_origin(param.annotation) is not Annotated:
        return False
    return any(isinstance(item, FieldInfo) and not item.is_required() for item in get_args(param.annotation)[1:])


def is_run_context(annotation: Any) -> bool:
    """True for ``RunContext``, ``RunContext[Deps]`` and their ``Optional``/``Annotated`` forms."""
    origin = get_origin(annotation)
    if annotation is RunContext or origin is RunContext:
        return True
    if origin is Annotated:
        return is_run_context(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        return len(args) == 1 and is_run_context(args[0])
    return False


def _describability_problem(annotation: Any, *, thorough: bool = False) -> str | None:
    """Say why pydantic cannot give ``annotation`` a JSON schema, or None when it can (cheap for common types)."""
    if not thorough and _obviously_describable(annotation):
        return None
    try:
        TypeAdapter(annotation).json_schema()
    except PydanticSchemaGenerationError:
        detail = "pydantic does not know this class"
    except Exception as error:
        detail = str(error).strip().splitlines()[0].rstrip(".") if str(error).strip() else type(error).__name__
    else:
        return None
    return (
        f"type {_type_name(annotation)} has no JSON schema ({detail}); use str/int/float/bool, Literal, Enum, "
        "lists, dates, a pydantic model, a dataclass or a TypedDict."
    )


def _obviously_describable(tp: Any) -> bool:
    """A fast structural check of the common cases; False means "ask pydantic", not "impossible"."""
    if tp in _SIMPLE_TYPES or isinstance(tp, TypeVar):
        return True
    origin = get_origin(tp)
    if origin is Literal:
        return True
    if origin is Annotated:
        inner, *metadata = get_args(tp)
        return all(isinstance(item, (str, FieldInfo)) for item in metadata) and _obviously_describable(inner)
    if origin is not None:
        if origin in (Union, types.UnionType, list, tuple, set, frozenset, dict) or (
            isinstance(origin, type) and issubclass(origin, Mapping)
        ):
            return all(arg is Ellipsis or _obviously_describable(arg) for arg in get_args(tp))
        return False
    if isinstance(tp, type):
        if tp in (list, tuple, set, frozenset, dict):
            return True
        # TypedDicts are left to pydantic: typing.TypedDict is refused before Python 3.12.
        return issubclass(tp, (BaseModel, enum.Enum)) or dataclasses.is_dataclass(tp)
    return False


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


class _SchemaGenerator(GenerateJsonSchema):
    """Pydantic's generator with a fast path for plain defaults (pydantic builds a TypeAdapter per default)."""

    def encode_default(self, dft: Any) -> Any:
        if dft is None or type(dft) in (str, bool, int) or (type(dft) is float and math.isfinite(dft)):
            return dft
        return super().encode_default(dft)


def build_arguments_model(
    func: Callable[..., Any], signature: ToolSignature, doc_params: Mapping[str, str] | None = None
) -> ArgumentsModel:
    """Create the pydantic model of ``signature``'s parameters and its title-free JSON schema.

    :param doc_params: Parameter descriptions from the docstring; ``Annotated`` descriptions win over them.

    :raises ToolDefinitionError: A type cannot be described (message names function and parameter).
    """
    params, context = signature.parameters, signature.context_parameters
    if not signature.resolved:
        try:
            resolved = inspect.signature(func, eval_str=True).parameters
        except NameError as error:
            raise ToolDefinitionError(
                f"Function '{signature.function_name}': cannot resolve a type hint ({error})."
            ) from error
        everything = [_field_default_as_annotation(resolved[p.name]) for p in params]
        params = tuple(p for p in everything if not is_run_context(p.annotation))
        context += tuple(p.name for p in everything if is_run_context(p.annotation))

    simple = simple_arguments(params)
    if simple is not None:
        schema, validator = simple
        validate: Callable[[dict[str, Any]], dict[str, Any]] = validator.validate_python
    else:
        schema, validate = _pydantic_model(signature.function_name, params)
    properties = schema["properties"]
    for param in params:
        explicit = explicit_description(param.annotation)
        documented = (doc_params or {}).get(param.name)
        if explicit:
            properties[param.name]["description"] = explicit
        elif documented and "description" not in properties[param.name]:
            properties[param.name]["description"] = documented
    defaults = frozenset(p.name for p in params if _has_default(p))
    return ArgumentsModel(schema, tuple(p.name for p in params), defaults, context, validate)


def _pydantic_model(
    function_name: str, params: tuple[inspect.Parameter, ...]
) -> tuple[dict[str, Any], Callable[[dict[str, Any]], dict[str, Any]]]:
    """Schema and validator through a pydantic model whose field ``p<i>`` has the parameter's name as alias."""
    fields: dict[str, str] = {}
    definitions: dict[str, Any] = {}
    for index, param in enumerate(params):
        default = ... if param.default is _EMPTY else param.default
        fields[param.name] = f"p{index}"
        definitions[f"p{index}"] = (param.annotation, Field(default, alias=param.name))
    try:
        model = create_model(_model_name(function_name), __config__=ConfigDict(extra="ignore"), **definitions)
        schema = model.model_json_schema(schema_generator=_SchemaGenerator)
    except Exception as error:
        raise _explain_failure(function_name, params) from error
    remove_titles(schema)
    schema.setdefault("properties", {})

    # A parameter without a Python default may still get one from ``Annotated[T, Field(default=...)]``.
    no_python_default = {fields[p.name] for p in params if p.default is _EMPTY}

    def validate(arguments: dict[str, Any]) -> dict[str, Any]:
        instance = model.model_validate(arguments)
        given = instance.model_fields_set | no_python_default
        return {name: getattr(instance, field) for name, field in fields.items() if field in given}

    return schema, validate


def _model_name(function_name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in function_name) or "tool"


def _explain_failure(function_name: str, params: tuple[inspect.Parameter, ...]) -> ToolDefinitionError:
    for param in params:
        problem = _describability_problem(param.annotation, thorough=True)
        if problem:
            return ToolDefinitionError(f"Function '{function_name}', parameter '{param.name}': {problem}")
    return ToolDefinitionError(f"Function '{function_name}': pydantic cannot build a schema of its parameters.")


def explicit_description(annotation: Any) -> str | None:
    """The description an ``Annotated[T, "text"]`` or ``Annotated[T, Field(description=...)]`` gives, if any."""
    if get_origin(annotation) is not Annotated:
        return None
    found = None
    for item in get_args(annotation)[1:]:
        if isinstance(item, str):
            found = item
        elif isinstance(item, FieldInfo) and item.description:
            found = item.description
    return found
