"""Shared test settings: no telemetry, no real key, and where the real recorded OpenAI traffic lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"
os.environ.pop("AIMLAPI_API_KEY", None)
os.environ.pop("OPENAI_API_KEY", None)

#: Real OpenAI traffic with tool calls (../shared/real-cassettes, beside the checkout; see its README).
REAL_CASSETTES = Path(__file__).resolve().parents[2] / "shared" / "real-cassettes"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "real_cassettes: needs ../shared/real-cassettes (skipped when absent, a failure under CI)"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("real_cassettes") is None or REAL_CASSETTES.is_dir():
        return
    message = f"{REAL_CASSETTES} is missing: it must sit beside the checkout"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
