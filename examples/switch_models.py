"""One agent, two providers: the same tools with an OpenAI model and a Gemini model behind AIMLAPI.

Only ``model=`` changes. Each model's profile (from AIMLAPI's model catalogue) decides what its requests
carry: OpenAI gets the strict schema (objects closed, nested models in ``$defs``); Gemini has no strict mode
and rejects ``additionalProperties``, ``$ref`` and ``default``, so it gets the same tool without them (one
warning says strict mode is off for it). The tool itself never changes.

    python examples/switch_models.py     # no key: replays cassettes/examples/switch_models.yaml
    AIMLAPI_API_KEY=... python examples/switch_models.py   # live (--record re-records the cassette)
"""

from __future__ import annotations

import json
import logging

# the examples' replay / live / --record switch (examples/_support.py)
from _support import example_session
from pydantic import BaseModel, Field

from aiml_agent import Agent, AIMLAPIChatGenerator, profile_for, tool

MODELS = ("openai/gpt-4o", "google/gemini-2.5-flash")


class Stop(BaseModel):
    city: str
    nights: int = Field(1, ge=1, description="Nights to stay.")


@tool
def plan_trip(traveller: str, stops: list[Stop], budget_eur: int | None = None) -> str:
    """Plan a rail trip through several cities.

    Args:
        traveller: Who travels.
        stops: The cities, in order.
        budget_eur: The whole trip's budget, if the user gave one.
    """
    nights = sum(stop.nights for stop in stops)
    route = " -> ".join(stop.city for stop in stops)
    return f"{traveller}: {route}, {nights} nights" + (f", budget {budget_eur} EUR" if budget_eur else "")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="  (log) %(message)s")
    request = "Plan a trip for Ada: two nights in Lyon, then Marseille. Budget 600 euros."
    print(f"You: {request}")
    with example_session("switch_models") as api_base_url:
        for model in MODELS:
            profile = profile_for(model)
            print(
                f"\n== {model}: family {profile.family}, schema dialect {profile.schema_dialect}, "
                f"strict tools: {'yes' if profile.supports_strict_tools else 'no'}"
            )
            agent = Agent(
                AIMLAPIChatGenerator(model=model, api_base_url=api_base_url), tools=[plan_trip], tools_strict=True
            )
            result = agent.run(request)
            for step in result["steps"]:
                for call in step.tool_calls:
                    print(f"  plan_trip({json.dumps(call.arguments)}) -> {call.result}")
            print(f"  Assistant: {result['last_message'].text}")
    print(
        "\nThe exact tool JSON each model received: "
        "aiml-agent tools examples/switch_models.py:plan_trip --model MODEL --strict --json"
    )


if __name__ == "__main__":
    main()
