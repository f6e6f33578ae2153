"""Shared test settings: no telemetry, no real key, and where the real recorded OpenAI traffic lives."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"
os.environ.pop("AIMLAPI_API_KEY", None)
os.environ.pop("OPENAI_API_KEY", None)
os.environ.pop("AIMLAPI_BASE_URL", None)
# Model profiles come from the embedded catalogue, never from a refresh cached on this machine.
os.environ["AIML_AGENT_CACHE_DIR"] = tempfile.mkdtemp(prefix="aiml-agent-test-cache-")

#: Real recorded OpenAI-format traffic with tool calls (public projects' cassettes; licences and sources in its
#: README). ``providers/`` holds other providers' models (DeepSeek, Gemini, Mistral, Groq, xAI, ...).
REAL_CASSETTES = Path(__file__).resolve().parent / "real_cassettes"
