"""Shared test settings: no telemetry, no real key, and where the real recorded OpenAI traffic lives."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiml_agent.generator import AIMLAPIChatGenerator
    from aiml_agent.testing import ScriptedServer

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"
os.environ.pop("AIMLAPI_API_KEY", None)
os.environ.pop("OPENAI_API_KEY", None)
os.environ.pop("AIMLAPI_BASE_URL", None)
# Model profiles come from the embedded catalogue, never from a refresh cached on this machine.
os.environ["AIML_AGENT_CACHE_DIR"] = tempfile.mkdtemp(prefix="aiml-agent-test-cache-")

#: Real recorded OpenAI-format traffic with tool calls (public projects' cassettes; licences and sources in its
#: README). ``providers/`` holds other providers' models (DeepSeek, Gemini, Mistral, Groq, xAI, ...).
REAL_CASSETTES = Path(__file__).resolve().parent / "real_cassettes"


def generator_for(server: ScriptedServer, **kwargs: Any) -> AIMLAPIChatGenerator:
    """A generator pointed at ``server`` with a placeholder key and no retries (keyword arguments override), as
    the plugin's ``aimlapi_generator`` fixture makes them."""
    from haystack.utils import Secret

    from aiml_agent.generator import AIMLAPIChatGenerator

    options: dict[str, Any] = {"api_key": Secret.from_token("test-key"), "max_retries": 0, **kwargs}
    return AIMLAPIChatGenerator(api_base_url=server.base_url, **options)
