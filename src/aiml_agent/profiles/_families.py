"""Model families: which family an id belongs to, and what a family's models accept by default.

A family is found from AIMLAPI's ``developer`` string when the catalogue lists the model, else from the id:
its vendor prefix (``anthropic/...``) or its name (``claude-...``, also after a vendor prefix such as
``openrouter/claude-...``). A family's defaults apply to what the catalogue does not say about a model, and
to every model the catalogue does not list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiml_agent.profiles._profile import Dialect


@dataclass(frozen=True)
class Family:
    """One family's matching rules and defaults.

    :param name: The family name a ModelProfile carries.
    :param vendors: Id prefixes before the first ``/`` (lower case), e.g. ``"anthropic"``.
    :param names: Prefixes of the model name (the part after the last ``/``), e.g. ``"claude"``.
    :param developers: AIMLAPI ``developer`` strings, lower case without spaces, e.g. ``"openai"``.
    :param dialect: The schema dialect of its tool parameters and response schemas.
    :param strict_possible: False when the family's API has no strict mode at all: then no model of it is sent
        strict, whatever a catalogue says.
    :param system_role: Default for models the catalogue says nothing about.
    :param response_format: Default for models the catalogue says nothing about.
    :param parallel_tool_calls: Default for models the catalogue says nothing about.
    """

    name: str
    vendors: tuple[str, ...]
    names: tuple[str, ...]
    developers: tuple[str, ...]
    dialect: Dialect = "openai"
    strict_possible: bool = True
    system_role: bool = True
    response_format: bool = True
    parallel_tool_calls: bool = True


FAMILIES: tuple[Family, ...] = (
    Family("openai", ("openai",), ("gpt-", "chatgpt", "o1", "o3", "o4"), ("openai",)),
    # Claude 4.x on AIMLAPI takes Anthropic-shaped requests: no parallel_tool_calls, no response_format.
    Family(
        "anthropic",
        ("anthropic",),
        ("claude",),
        ("anthropic",),
        dialect="anthropic",
        response_format=False,
        parallel_tool_calls=False,
    ),
    # Gemini's function declarations are an OpenAPI subset with no strict mode.
    Family("google", ("google",), ("gemini", "gemma"), ("google",), dialect="google", strict_possible=False),
    Family("meta", ("meta-llama", "meta"), ("llama", "muse-"), ("meta",)),
    Family(
        "mistral",
        ("mistralai", "mistral"),
        ("mistral", "mixtral", "codestral", "ministral", "magistral", "pixtral", "devstral", "voxtral"),
        ("mistralai",),
    ),
    Family("deepseek", ("deepseek",), ("deepseek",), ("deepseek", "deepseekai")),
    Family("xai", ("x-ai", "xai"), ("grok",), ("xai",)),
    Family("alibaba", ("alibaba", "qwen"), ("qwen", "qwq"), ("alibabacloud",)),
    Family("zhipu", ("zhipu", "z-ai", "zai-org", "thudm"), ("glm",), ("zhipu", "zhipuai")),
    Family("moonshot", ("moonshot", "moonshotai"), ("kimi",), ("moonshot",)),
    Family("minimax", ("minimax",), ("minimax",), ("minimax",)),
    Family("cohere", ("cohere",), ("command",), ("cohere",)),
    Family("amazon", ("amazon",), ("nova-",), ("amazon",)),
    Family("nvidia", ("nvidia",), ("nemotron",), ("nvidia",)),
    Family("bytedance", ("bytedance", "bytedance-seed"), ("seed-", "doubao"), ("bytedance", "bytedanceseed")),
)

#: The rules for an id of no known family: OpenAI's (AIMLAPI speaks OpenAI's wire format).
OPENAI = FAMILIES[0]

_BY_VENDOR = {vendor: family for family in FAMILIES for vendor in family.vendors}
_BY_DEVELOPER = {developer: family for family in FAMILIES for developer in family.developers}
_BY_NAME = sorted(((prefix, family) for family in FAMILIES for prefix in family.names), key=lambda p: -len(p[0]))


def developer_key(developer: str) -> str:
    """AIMLAPI's developer strings vary in spacing and case (``"Open AI"``, ``"X AI"``): a comparable key."""
    return re.sub(r"[\s_.-]+", "", developer.lower())


def family_of(model_id: str, developer: str | None = None) -> Family | None:
    """The family of a model, from its catalogue developer if given, else from its id; None if no rule matches."""
    if developer:
        family = _BY_DEVELOPER.get(developer_key(developer))
        if family is not None:
            return family
    lowered = model_id.strip().lower()
    vendor, _, rest = lowered.partition("/")
    if rest and vendor in _BY_VENDOR:
        return _BY_VENDOR[vendor]
    name = lowered.rsplit("/", 1)[-1]
    for prefix, family in _BY_NAME:
        if name.startswith(prefix):
            return family
    return None


def vendor_of(model_id: str) -> str | None:
    """The vendor prefix of an id (``"ai21"`` for ``"ai21/jamba-large-1.7"``), or None for a bare name."""
    vendor, _, rest = model_id.strip().lower().partition("/")
    return vendor if rest and vendor else None
