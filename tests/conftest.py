"""Shared test settings: no telemetry, no real key, and where the real recorded OpenAI traffic lives."""

from __future__ import annotations

import os
from pathlib import Path

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"
os.environ.pop("AIMLAPI_API_KEY", None)
os.environ.pop("OPENAI_API_KEY", None)

#: Real recorded OpenAI-format traffic with tool calls (public projects' cassettes; licences and sources in its
#: README). ``providers/`` holds other providers' models (DeepSeek, Gemini, Mistral, Groq, xAI, ...).
REAL_CASSETTES = Path(__file__).resolve().parent / "real_cassettes"
