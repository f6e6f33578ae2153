"""Model profiles: what each model behind AIMLAPI accepts, so one agent works across providers.

AIMLAPI serves hundreds of models from many providers, and their tool-calling rules differ: Gemini rejects
``additionalProperties`` and ``$ref``, Anthropic's strict mode rejects numeric and string constraints, some
models take no tools or no system message. `profile_for` tells what a model accepts (from AIMLAPI's model
catalogue and family rules); `AIMLAPIChatGenerator` shapes every request by it.

Importing this package reads nothing: the catalogue is loaded on the first `profile_for`.
"""

from aiml_agent.profiles._catalogue import Catalogue, CatalogueModel, parse_models
from aiml_agent.profiles._lookup import profile_for
from aiml_agent.profiles._profile import Dialect, ModelProfile
from aiml_agent.profiles._store import current_catalogue, default_cache_dir, refresh_catalogue

__all__ = [
    "Catalogue",
    "CatalogueModel",
    "Dialect",
    "ModelProfile",
    "current_catalogue",
    "default_cache_dir",
    "parse_models",
    "profile_for",
    "refresh_catalogue",
]
