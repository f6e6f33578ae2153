"""A weather assistant: two ``@tool`` functions and an ``Agent`` that calls them, then answers.

The tools' JSON schemas and descriptions come from the signatures and the Google-style docstrings; the model's
arguments are validated against the same signature before a function runs.

    python examples/weather_agent.py          # no key: replays cassettes/examples/weather_agent.yaml
    AIMLAPI_API_KEY=... python examples/weather_agent.py   # live (--record re-records the cassette)
"""

from __future__ import annotations

import json
from typing import Literal

# the examples' replay / live / --record switch (examples/_support.py)
from _support import example_session

from aiml_agent import Agent, AIMLAPIChatGenerator, tool

_FAKE_WEATHER = {"paris": (18.0, "partly cloudy", 12), "london": (14.0, "light rain", 20)}


@tool
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict[str, object]:
    """Get the current weather in a city.

    Args:
        city: The city name, e.g. "Paris".
        unit: The temperature unit to answer in.

    Returns:
        Temperature, conditions and wind speed.
    """
    celsius, conditions, wind = _FAKE_WEATHER.get(city.lower(), (21.0, "sunny", 5))  # a real app calls an API
    temperature = celsius if unit == "celsius" else celsius * 9 / 5 + 32
    return {"city": city, "temperature": temperature, "unit": unit, "conditions": conditions, "wind_kmh": wind}


@tool
def get_air_quality(city: str) -> str:
    """Get the air quality index (AQI) of a city.

    Args:
        city: The city name.
    """
    return f"AQI in {city}: 42 (good)"


def main() -> None:
    question = "What's the weather like in Paris right now? Do I need a jacket?"
    with example_session("weather_agent") as api_base_url:
        agent = Agent(
            AIMLAPIChatGenerator(model="openai/gpt-5-chat-latest", api_base_url=api_base_url),
            tools=[get_weather, get_air_quality],
            system_prompt="You are a concise weather assistant. Use the tools for facts.",
        )
        result = agent.run(question)

    print(f"You: {question}\n")
    for step in result["steps"]:
        for call in step.tool_calls:
            print(f"  tool {call.tool_name}({json.dumps(call.arguments)}) -> {call.result}")
    print(f"\nAssistant: {result['last_message'].text}\n")
    usage = result["usage"]
    print(  # usage sums the run's model calls; credits_used is None when AIMLAPI reports no cost
        f"{usage.requests} model calls, {usage.total_tokens} tokens"
        + (f", {usage.credits_used} credits" if usage.credits_used is not None else "")
        + f", exit reason: {result['exit_reason']}"
    )
    print("tool schema sent for get_weather:", json.dumps(get_weather.parameters))


if __name__ == "__main__":
    main()
