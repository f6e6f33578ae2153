"""`profile_for`: a model id to the ModelProfile its requests are shaped by."""

from __future__ import annotations

import logging
from functools import lru_cache

from aiml_agent.profiles._catalogue import Catalogue, CatalogueModel
from aiml_agent.profiles._families import OPENAI, Family, developer_key, family_of, vendor_of
from aiml_agent.profiles._profile import ModelProfile
from aiml_agent.profiles._store import current_catalogue

logger = logging.getLogger(__name__)


def profile_for(model: str) -> ModelProfile:
    """What ``model`` accepts: from the model catalogue when it lists the id (or an alias), else its family's rules.

    The catalogue in force is the one refreshed in this process, else the on-disk cache of a refresh, else the
    snapshot embedded in the package (see `refresh_catalogue`). What the catalogue does not state about a model
    comes from its family's rules; an id of no known family gets OpenAI's rules (logged at debug level).

    ```python
    from aiml_agent import profile_for

    profile = profile_for("google/gemini-2.5-flash")
    profile.family, profile.schema_dialect, profile.supports_strict_tools   # ("google", "google", False)
    ```

    :param model: An AIMLAPI model id or alias, matched case-insensitively (``.`` and ``-`` alike).
    """
    return _profile(model.strip(), current_catalogue())


@lru_cache(maxsize=1024)
def _profile(model: str, catalogue: Catalogue) -> ModelProfile:
    entry = catalogue.find(model) or _listed_under_bare_name(model, catalogue)
    if entry is not None:
        return _from_entry(entry)
    family = family_of(model)
    if family is None:
        logger.debug("Model %r is not in the model catalogue and matches no family: using OpenAI's rules.", model)
        return _from_family(OPENAI, model, name="unknown", source="openai rules")
    logger.debug("Model %r is not in the model catalogue: using the %s family's rules.", model, family.name)
    return _from_family(family, model, name=family.name, source="family rules")


def _listed_under_bare_name(model: str, catalogue: Catalogue) -> CatalogueModel | None:
    """``vendor/name`` not listed, but ``name`` is, as a model of the same family (``openai/gpt-4o-mini``)."""
    if "/" not in model:
        return None
    entry = catalogue.find(model.rsplit("/", 1)[-1])
    if entry is None:
        return None
    wanted = family_of(model)
    return entry if wanted is not None and wanted is family_of(entry.id, entry.developer) else None


def _from_entry(entry: CatalogueModel) -> ModelProfile:
    family = family_of(entry.id, entry.developer)
    rules = family or OPENAI
    name = family.name if family else vendor_of(entry.id) or developer_key(entry.developer or "") or "unknown"
    facts = entry.facts
    return ModelProfile(
        family=name,
        schema_dialect=rules.dialect,
        supports_tools=facts.get("tools", True),
        supports_strict_tools=rules.strict_possible and facts.get("strict_tools", True),
        supports_response_format=facts.get("response_format", rules.response_format),
        supports_system_role=facts.get("system_role", rules.system_role),
        supports_parallel_tool_calls=facts.get("parallel_tool_calls", rules.parallel_tool_calls),
        model=entry.id,
        source="catalogue",
    )


def _from_family(family: Family, model: str, *, name: str, source: str) -> ModelProfile:
    return ModelProfile(
        family=name,
        schema_dialect=family.dialect,
        supports_tools=True,
        supports_strict_tools=family.strict_possible,
        supports_response_format=family.response_format,
        supports_system_role=family.system_role,
        supports_parallel_tool_calls=family.parallel_tool_calls,
        model=model,
        source=source,
    )
