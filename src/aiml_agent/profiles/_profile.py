"""`ModelProfile`: what one model behind AIMLAPI accepts in a chat request."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Dialect = Literal["openai", "google", "anthropic"]
DIALECTS: tuple[Dialect, ...] = ("openai", "google", "anthropic")


@dataclass(frozen=True)
class ModelProfile:
    """What a model accepts, so that a request can be shaped for it instead of failing with a 400.

    :param family: The model's family: ``"openai"``, ``"anthropic"``, ``"google"``, ``"meta"``, ``"mistral"``,
        ``"deepseek"``, ... or ``"unknown"``.
    :param schema_dialect: Whose JSON-schema rules tool parameters and response schemas follow:
        ``"openai"``, ``"google"`` (Gemini: no ``additionalProperties``, ``$ref``, ``default``) or
        ``"anthropic"`` (strict mode without numeric and string constraints).
    :param supports_tools: The model takes ``tools`` (function calling).
    :param supports_strict_tools: The model takes ``"strict": true`` tools and strict response formats.
    :param supports_response_format: The model takes a ``json_schema`` ``response_format``.
    :param supports_system_role: The model takes ``system`` messages.
    :param supports_parallel_tool_calls: The model takes the ``parallel_tool_calls`` parameter.
    :param model: The catalogue id this profile was made for (``None`` for a profile made by hand).
    :param source: Where the facts came from: ``"catalogue"``, ``"family rules"`` (an id the catalogue does
        not list), ``"openai rules"`` (an id of no known family) or ``"custom"``.
    """

    family: str = "openai"
    schema_dialect: Dialect = "openai"
    supports_tools: bool = True
    supports_strict_tools: bool = True
    supports_response_format: bool = True
    supports_system_role: bool = True
    supports_parallel_tool_calls: bool = True
    model: str | None = None
    source: str = "custom"

    def __post_init__(self) -> None:
        if self.schema_dialect not in DIALECTS:
            raise ValueError(f"schema_dialect must be one of {', '.join(DIALECTS)}; got {self.schema_dialect!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as `from_dict` reads it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelProfile:
        """A profile from `to_dict` output; unknown keys are refused, naming them.

        :raises ValueError: A key that is not a field of ModelProfile.
        """
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"Unknown ModelProfile field(s): {', '.join(unknown)}; fields: {', '.join(sorted(names))}")
        return cls(**data)
