"""Shared test settings: no telemetry, no real key, test modules allowed to deserialize."""

from __future__ import annotations

import os

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"
os.environ.pop("AIMLAPI_API_KEY", None)
os.environ.pop("OPENAI_API_KEY", None)
