"""Batch evaluation: one agent over a small dataset, many questions at a time, answers scored against the
expected ones.

``run_batch`` streams the inputs, runs as many at once as the server takes (``concurrency="auto"``), writes each
outcome to a checkpoint the moment it is known, and gives the items back in input order. Keys other than ``id``,
``prompt``/``messages`` and ``deps`` are ignored, so each row keeps its expected answer beside its prompt. A
rerun with the same checkpoint sends nothing again.

Offline, the requests go out concurrently in whatever order they come, and each replays the recording with its
own body (cassettes match on method, path and JSON body).

    python examples/batch_eval.py     # no key: replays cassettes/examples/batch_eval.yaml
    AIMLAPI_API_KEY=... python examples/batch_eval.py   # live (--record re-records the cassette)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

# the examples' replay / live / --record switch (examples/_support.py)
from _support import example_session

from aiml_agent import Agent, AIMLAPIChatGenerator, run_batch, tool

_FACTS = {
    "france": ("Paris", 68.4),
    "japan": ("Tokyo", 124.5),
    "australia": ("Canberra", 27.2),
    "canada": ("Ottawa", 41.0),
    "brazil": ("Brasília", 212.6),
    "kenya": ("Nairobi", 56.4),
    "norway": ("Oslo", 5.6),
    "peru": ("Lima", 34.4),
}

DATASET = [
    {"id": country, "prompt": f"What is the capital of {country.title()}? Answer with the city only.", "expected": city}
    for country, (city, _) in _FACTS.items()
]


@tool
def country_facts(country: str) -> dict[str, object]:
    """Look up a country's capital and population.

    Args:
        country: The country's English name, e.g. "France".
    """
    capital, millions = _FACTS.get(country.lower(), ("unknown", 0.0))  # a real app queries a database
    return {"country": country, "capital": capital, "population_millions": millions}


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, example_session("batch_eval") as api_base_url:
        agent = Agent(
            AIMLAPIChatGenerator(model="openai/gpt-5-chat-latest", api_base_url=api_base_url),
            tools=[country_facts],
            system_prompt="Answer geography questions. Check facts with the tools first.",
        )
        checkpoint = Path(folder) / "answers.jsonl"
        result = run_batch(agent, DATASET, concurrency="auto", checkpoint=checkpoint)
        again = run_batch(agent, DATASET, checkpoint=checkpoint)  # everything is in the checkpoint already
        written = len(checkpoint.read_text(encoding="utf-8").splitlines())

    correct = 0
    for row, item in zip(DATASET, result.items):  # result.items are in input order
        right = item.ok and (item.text or "").strip().rstrip(".") == row["expected"]
        correct += int(right)
        answer = item.text if item.ok else f"error: {item.error}"
        print(f"{item.id:<10} {'✓' if right else '✗'} {answer!s:<12} (expected {row['expected']})")
    totals = result.totals
    print(f"\nscore: {correct}/{len(DATASET)} correct")
    print(
        f"{totals.items} items: {totals.ok} ok, {totals.error} failed · {totals.usage.requests} model requests · "
        f"{totals.usage.total_tokens} tokens"
        + (f" · {totals.usage.credits_used} credits" if totals.usage.credits_used is not None else "")
    )
    print(f"checkpoint: {written} lines, one per item, written as each finished")
    print(
        f"rerun with the same checkpoint: {again.totals.resumed} resumed, {again.totals.usage.requests} model requests"
    )


if __name__ == "__main__":
    main()
