"""Module-level tool functions for serialization and ``Toolset.from_module`` tests (importable by path)."""

from __future__ import annotations

from json import dumps as imported_function  # noqa: F401 - imported, so from_module must skip it
from typing import Annotated, Literal

from aiml_agent.tools import tool


def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Get the current weather in a city.

    :param city: The city name.
    :param unit: The temperature unit.
    """
    return f"{city}: 21 {unit}"


async def get_time(timezone: Annotated[str, "IANA time zone, e.g. Europe/Paris"]) -> str:
    """Tell the time in a time zone."""
    return f"12:00 in {timezone}"


@tool(name="add_numbers", strict=False)
def add(a: int, b: int = 1) -> int:
    """Add two integers."""
    return a + b


def _private_helper(x: int) -> int:
    return x
