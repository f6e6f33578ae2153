"""Haystack's deserialization allowlist: only the modules whose classes load back, and a guard for callables.

Haystack refuses to import a class or callable from a module that is not on its allowlist. Its entries are
module patterns (there is no per-class entry), so exactly the modules that define serializable classes are
put on it, and nothing else of the package: the CLI's module loader, for one, imports any module or runs any
``.py`` file, and serialized data must never be able to name it. A module whose objects go through
``to_dict``/``from_dict`` is listed in :data:`SERIALIZABLE_MODULES` and imports this module for its effect,
so ``Agent.from_dict`` / ``Pipeline.loads`` work in a fresh process whichever of them was imported.

Functions a user serializes (tool functions, streaming callbacks) are never ours: :func:`load_callable`
refuses every callable of this package, and when the user's module is not on the allowlist its error names
the steps that make it load.

Also here, for the same components: their ``run`` annotations resolved once (:func:`resolve_run_annotations`).
"""

from __future__ import annotations

import builtins
import re
import sys
import typing
from collections.abc import Callable
from typing import Any

from haystack.core.errors import DeserializationError
from haystack.core.serialization import allow_deserialization_module
from haystack.utils.callable_serialization import deserialize_callable

__all__ = ["SERIALIZABLE_MODULES", "load_callable"]

#: The modules holding classes that Haystack deserializes (components, Tools, Toolsets).
SERIALIZABLE_MODULES = (
    "aiml_agent.agent",
    "aiml_agent.generator",
    "aiml_agent.tools",
    "aiml_agent.toolset",
    "aiml_agent.mcp.tool",
    "aiml_agent.mcp.toolset",
    "aiml_agent.testing.generator",
)

_PACKAGE = __name__.partition(".")[0]
_REFUSED_MODULE = re.compile(r"from module '([^']+)': the module is not on the trusted-module allowlist")

for _module in SERIALIZABLE_MODULES:
    allow_deserialization_module(_module)


def _is_ours(module_name: str) -> bool:
    return module_name == _PACKAGE or module_name.startswith(_PACKAGE + ".")


def load_callable(handle: str, *, what: str) -> Callable[..., Any]:
    """Import a serialized callable (``module.function``) through Haystack's allowlist.

    :param handle: The import path written by ``serialize_callable``.
    :param what: What the callable is for, for the error message (e.g. ``"tool 'get_weather'"``).
    :returns: The callable.
    :raises DeserializationError: The path is not a string, names a callable of this package (none is meant
        to be loaded from data), or its module is not on the allowlist (the message says how to allow it).
    """
    if not isinstance(handle, str) or not handle:
        raise DeserializationError(f"Cannot load the function of {what}: expected an import path, got {handle!r}.")
    if _is_ours(handle):
        raise DeserializationError(
            f"Refusing to load {handle!r} as the function of {what}: functions of the {_PACKAGE} package are "
            "never loaded from serialized data. Serialize a function of your own module instead."
        )
    try:
        loaded = deserialize_callable(handle)
    except DeserializationError as error:
        refused = _REFUSED_MODULE.search(str(error))
        if refused is None:
            raise
        # Haystack names either the module a resolved object really comes from or, when nothing could be
        # imported, the whole handle; the top-level package covers both (entries match submodules too).
        package = refused.group(1).partition(".")[0]
        raise DeserializationError(
            f"Cannot load {handle!r}, the function of {what}: its module is not on Haystack's deserialization "
            f"allowlist. If you trust this data, allow your package before loading it, with one of:\n"
            f"  - from haystack.core.serialization import allow_deserialization_module; "
            f"allow_deserialization_module({package!r})\n"
            f"  - the environment variable HAYSTACK_DESERIALIZATION_ALLOWLIST={package}\n"
            f"  - Pipeline.loads(text, allowed_modules=[{package!r}]) when it is part of a pipeline"
        ) from error
    module = getattr(loaded, "__module__", None)
    if isinstance(module, str) and _is_ours(module):
        raise DeserializationError(
            f"Refusing to load {handle!r} as the function of {what}: it is {module}."
            f"{getattr(loaded, '__qualname__', '')}, and functions of the {_PACKAGE} package are never loaded "
            "from serialized data."
        )
    return loaded


class _Names(dict[str, Any]):
    """Names for resolving annotations: the given ones, the module's, the builtins, and ``Any`` for the rest (names
    a module imports only for type checking)."""

    def __init__(self, module_names: dict[str, Any], names: dict[str, Any]) -> None:
        super().__init__(names)
        self.module_names = module_names

    def __missing__(self, key: str) -> Any:
        if key in self.module_names:
            return self.module_names[key]
        return getattr(builtins, key, Any)


def resolve_run_annotations(cls: type, **names: Any) -> None:
    """Resolve the string annotations of a component's ``run`` and ``run_async``, once, in place.

    Haystack reads a component's ``run`` parameters every time one is created, and string annotations (what
    ``from __future__ import annotations`` makes of them) cost it a ``typing.get_type_hints`` each time: 1-2 ms
    per component made. Resolved annotations it takes as they are.

    :param cls: The component class.
    :param names: Names its annotations use that its module imports only for type checking (others of those
        resolve to ``Any``).
    """
    if cls.__dict__.get("_run_annotations_resolved"):
        return
    for attribute in ("run", "run_async"):
        function = cls.__dict__.get(attribute)
        annotations = getattr(function, "__annotations__", None)
        if not annotations or not any(isinstance(value, str) for value in annotations.values()):
            continue
        module_names = vars(sys.modules[function.__module__])
        try:
            hints = typing.get_type_hints(function, localns=_Names(module_names, names), include_extras=True)
        except Exception:  # left as they are: Haystack resolves them itself, as before
            continue
        function.__annotations__ = hints
    type.__setattr__(cls, "_run_annotations_resolved", True)
