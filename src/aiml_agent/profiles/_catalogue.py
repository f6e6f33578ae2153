"""AIMLAPI's model catalogue: parsing ``GET /models`` answers, the compact stored form, and id lookup.

One parser reads every shape the catalogue comes in:

- the current ``GET /v1/models`` answer, ``{"object": "list", "data": [...]}``, whose items list
  ``capabilities`` (``tools``, ``parallel_tool_calls``, ``structured_output``, ...);
- the older answer, a bare list whose items list ``features`` (``openai/chat-completion.function``, ...);
- the documentation snapshot the embedded catalogue is made from (``{"models": [...]}``, items with both, plus
  facts taken from each model's published request schema: whether tools take ``strict``, which roles exist).

Only what an item states is kept: a fact it does not mention stays unknown and the model's family rules
decide it (see :mod:`aiml_agent.profiles._families`). The embedded ``catalogue.json`` and the on-disk cache
hold the parsed models in a compact form (one short list per model), which loads in well under a millisecond.
Re-make the embedded file from a snapshot (or a saved ``GET /models`` answer) with::

    python -m aiml_agent.profiles path/to/models.json > src/aiml_agent/profiles/catalogue.json
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: What a catalogue entry can state about a model, with its one-letter code in the compact form.
FACTS: dict[str, str] = {
    "tools": "t",
    "strict_tools": "x",
    "response_format": "r",
    "system_role": "s",
    "parallel_tool_calls": "p",
}
_CODES = {code: fact for fact, code in FACTS.items()}

_CAPABILITIES = {"tools": "tools", "parallel_tool_calls": "parallel_tool_calls", "structured_output": "response_format"}
_FEATURES = {
    "openai/chat-completion.function": "tools",
    "openai/chat-completion.parallel-tool-calls": "parallel_tool_calls",
    "openai/chat-completion.message.system": "system_role",
}
_TEXT_ENDPOINTS = ("chat", "responses", "completion")


@dataclass(frozen=True)
class CatalogueModel:
    """One model of the catalogue and the facts the catalogue states about it.

    :param id: AIMLAPI's model id.
    :param aliases: Other names AIMLAPI accepts for it.
    :param developer: AIMLAPI's developer string (``"Open AI"``, ``"Google"``...), if given.
    :param endpoint: ``"chat"`` (chat completions), ``"responses"`` (only ``/v1/responses``) or ``"unknown"``.
    :param facts: Known facts only (see `FACTS`); a missing key means the catalogue does not say.
    """

    id: str
    aliases: tuple[str, ...] = ()
    developer: str | None = None
    endpoint: str = "chat"
    facts: Mapping[str, bool] = field(default_factory=dict)

    def to_compact(self) -> list[Any]:
        """``[id, aliases, developer, endpoint, codes known true, codes known false]``."""
        yes = "".join(FACTS[name] for name, value in self.facts.items() if value)
        no = "".join(FACTS[name] for name, value in self.facts.items() if not value)
        return [self.id, list(self.aliases), self.developer, self.endpoint, yes, no]

    @classmethod
    def from_compact(cls, row: list[Any]) -> CatalogueModel:
        model_id, aliases, developer, endpoint, yes, no = row
        facts = {_CODES[code]: True for code in yes}
        facts.update({_CODES[code]: False for code in no})
        return cls(model_id, tuple(aliases), developer, endpoint, facts)


def parse_models(data: Any) -> list[CatalogueModel]:
    """The text models of a ``GET /models`` answer (either shape) or of the documentation snapshot.

    Image, video, audio and embedding models are left out; an id listed once per endpoint type keeps its chat
    entry.

    :param data: The parsed JSON answer.
    :raises ValueError: ``data`` is none of the known shapes.
    """
    items: Any
    if isinstance(data, list):
        items = data
    elif isinstance(data, dict) and isinstance(data.get("data"), list):
        items = data["data"]
    elif isinstance(data, dict) and isinstance(data.get("models"), list):
        items = data["models"]
    else:
        kind = type(data).__name__ if not isinstance(data, dict) else f"an object with keys {sorted(data)[:6]}"
        raise ValueError(f"not a model list: expected a list or an object with 'data', got {kind}")
    models: dict[str, CatalogueModel] = {}
    for item in items:
        model = _parse_item(item)
        if model is None:
            continue
        key = model.id.lower()
        if key not in models or (model.endpoint == "chat" and models[key].endpoint != "chat"):
            models[key] = model
    return list(models.values())


def _parse_item(item: Any) -> CatalogueModel | None:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"].strip():
        return None
    endpoint = _endpoint(item)
    if endpoint is None:
        return None
    raw_info = item.get("info")
    info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
    developer = item.get("developer") or info.get("developer")
    aliases = tuple(a for a in item.get("aliases") or () if isinstance(a, str) and a.strip())
    return CatalogueModel(
        id=item["id"].strip(),
        aliases=aliases,
        developer=developer if isinstance(developer, str) and developer.strip() else None,
        endpoint=endpoint,
        facts=_facts(item),
    )


def _endpoint(item: dict[str, Any]) -> str | None:
    """``"chat"``, ``"responses"`` or ``"unknown"`` for a text model; None for any other kind of model."""
    kind = item.get("type")
    features = item.get("features") or ()
    if isinstance(kind, str) and kind.strip():
        lowered = kind.lower()
        if "chat" in lowered:
            return "chat"
        if "responses" in lowered:
            return "responses"
        return "chat" if "completion" in lowered else None
    return "chat" if "openai/chat-completion" in features else "unknown"


def _facts(item: dict[str, Any]) -> dict[str, bool]:
    """The facts an item states. An empty list states nothing: every chat model has some feature."""
    facts: dict[str, bool] = {}
    features = _strings(item.get("features"))
    if features:
        for feature, fact in _FEATURES.items():
            facts[fact] = feature in features
        facts["response_format"] = "openai/chat-completion.response-format" in features
    capabilities = _strings(item.get("capabilities"))
    if capabilities:
        for capability, fact in _CAPABILITIES.items():
            facts[fact] = capability in capabilities
    schema = item.get("request_schema")
    if isinstance(schema, dict) and schema:
        if isinstance(schema.get("tools_strict_field"), bool):
            facts["strict_tools"] = schema["tools_strict_field"]
        if isinstance(schema.get("roles"), list):
            facts["system_role"] = "system" in schema["roles"]
        formats = schema.get("response_format_types")
        if isinstance(formats, list):
            facts["response_format"] = "json_schema" in formats
    if item.get("function_calling_listed") is True:
        facts["tools"] = True  # AIMLAPI's function-calling page lists it: documented support wins over a schema gap
    return facts


def _strings(value: Any) -> set[str]:
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


class Catalogue:
    """A set of catalogue models, found by id or alias (case-insensitive, ``.`` and ``-`` alike).

    :param models: The models.
    :param source: Where they came from: ``"embedded"``, ``"cache"`` or ``"network"``.
    :param fetched_at: When they were fetched (ISO 8601), for a cache or a refresh.
    :param base_url: The API they were fetched from, for a cache or a refresh.
    :param etag: The answer's ETag, for a cache or a refresh.
    :param warning: Why a refresh fell back to this catalogue, when it did.
    """

    def __init__(
        self,
        models: Iterable[CatalogueModel],
        *,
        source: str,
        fetched_at: str | None = None,
        base_url: str | None = None,
        etag: str | None = None,
        warning: str | None = None,
    ) -> None:
        self.models = tuple(models)
        self.warning = warning
        self.source = source
        self.fetched_at = fetched_at
        self.base_url = base_url
        self.etag = etag
        self._index: dict[str, CatalogueModel] = {}
        for model in self.models:
            for name in (model.id, *model.aliases):
                self._index.setdefault(_key(name), model)

    def __len__(self) -> int:
        return len(self.models)

    def __repr__(self) -> str:
        return f"Catalogue({len(self.models)} models, source={self.source!r})"

    def find(self, name: str) -> CatalogueModel | None:
        """The model named ``name`` (an id or an alias), or None."""
        return self._index.get(_key(name))

    def to_json(self) -> dict[str, Any]:
        """The compact stored form (what `from_json` reads)."""
        return {
            "format": 1,
            "base_url": self.base_url,
            "fetched_at": self.fetched_at,
            "etag": self.etag,
            "models": [model.to_compact() for model in self.models],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, source: str) -> Catalogue:
        """Read the compact stored form.

        :raises ValueError: The data is not in that form.
        """
        if not isinstance(data, dict) or data.get("format") != 1 or not isinstance(data.get("models"), list):
            raise ValueError("not a stored aiml-agent catalogue (format 1)")
        try:
            models = [CatalogueModel.from_compact(row) for row in data["models"]]
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(f"a model row is malformed: {error}") from None
        return cls(
            models,
            source=source,
            fetched_at=data.get("fetched_at"),
            base_url=data.get("base_url"),
            etag=data.get("etag"),
        )


def _key(name: str) -> str:
    return re.sub(r"[.]", "-", name.strip().lower())
