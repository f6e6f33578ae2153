"""Header and environment values of an MCP server: literal text, ``${VAR}`` references, or Haystack Secrets.

Values are resolved each time a connection opens (a rotated token is picked up on reconnect). ``to_dict``
writes references, never a credential: a Secret is written as Haystack writes it (environment variable names
only; a token Secret refuses), a ``${VAR}`` reference as written, and a literal value under a name that looks
like a credential (``Authorization``, ``*_API_KEY``, ``*token*``, ...) makes serialization fail with a message
saying how to refer to it instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from haystack.core.errors import SerializationError
from haystack.utils import Secret

#: A header or environment value: text (which may contain ``${VAR}`` references) or a Haystack Secret.
ConfigValue = str | Secret

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SECRET_WORDS = ("auth", "key", "token", "secret", "passw", "credential", "cookie", "session")


def looks_secret(name: str) -> bool:
    """Whether a header or environment variable name suggests its value is a credential."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def check_values(values: Mapping[str, Any] | None, kind: str) -> dict[str, ConfigValue]:
    """A copy of ``values`` after checking each is a str or a Secret (``kind`` names them in errors)."""
    checked: dict[str, ConfigValue] = {}
    for name, value in (values or {}).items():
        if not isinstance(name, str) or not isinstance(value, (str, Secret)):
            raise TypeError(f"{kind} {name!r}: expected a str or a haystack Secret, got {type(value).__name__}")
        checked[name] = value
    return checked


def resolve_values(values: Mapping[str, ConfigValue], kind: str) -> dict[str, str]:
    """The values as sent: Secrets resolved and ``${VAR}`` replaced by the environment variable's value.

    :raises ValueError: A referenced environment variable is not set (named in the message).
    """
    resolved: dict[str, str] = {}
    for name, value in values.items():
        if isinstance(value, Secret):
            text = value.resolve_value()
            if not isinstance(text, str):
                raise ValueError(f"{kind} {name!r}: its Secret has no value")
            resolved[name] = text
        else:
            resolved[name] = _expand(value, kind, name)
    return resolved


def _expand(text: str, kind: str, name: str) -> str:
    """``text`` with each ``${VAR}`` replaced by the environment variable's value."""

    def value_of(match: re.Match[str]) -> str:
        variable = match.group(1)
        value = os.environ.get(variable)
        if value is None:
            raise ValueError(
                f"{kind} {name!r} refers to ${{{variable}}}, but the environment variable {variable} is not set"
            )
        return value

    return _REFERENCE.sub(value_of, text)


def serialize_values(values: Mapping[str, ConfigValue], kind: str) -> dict[str, Any]:
    """The values for ``to_dict``: references only, never a credential in clear.

    :raises SerializationError: A token Secret, or a literal value under a credential-like name.
    """
    serialized: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, Secret):
            try:
                serialized[name] = value.to_dict()
            except ValueError as error:
                raise SerializationError(
                    f"{kind} {name!r} holds a token Secret, which is never serialized; "
                    f"use Secret.from_env_var(...) or a '${{VAR}}' reference"
                ) from error
        elif looks_secret(name) and not _REFERENCE.search(value):
            raise SerializationError(
                f"{kind} {name!r} holds a literal value that looks like a credential, and to_dict() does not "
                f"write credentials in clear. Refer to an environment variable instead: '${{NAME}}' inside the "
                f"value (e.g. 'Bearer ${{DOCS_TOKEN}}'), or Secret.from_env_var('NAME')."
            )
        else:
            serialized[name] = value
    return serialized


def deserialize_values(data: Mapping[str, Any] | None) -> dict[str, ConfigValue]:
    """The values :func:`serialize_values` wrote: Secrets rebuilt, text as it was."""
    return {name: Secret.from_dict(value) if isinstance(value, dict) else value for name, value in (data or {}).items()}
