"""Quick start: ask AIMLAPI a question, print the answer, its token usage and what it cost.

python examples/quickstart.py            # no key: replays cassettes/examples/quickstart.yaml, offline
AIMLAPI_API_KEY=... python examples/quickstart.py            # live
AIMLAPI_API_KEY=... python examples/quickstart.py --record   # live, re-recording the cassette
"""

from __future__ import annotations

# the examples' replay / live / --record switch (examples/_support.py)
from _support import example_session
from haystack.dataclasses import ChatMessage

from aiml_agent import AIMLAPIChatGenerator

QUESTION = "What's Natural Language Processing? Answer in one sentence."


def main() -> None:
    with example_session("quickstart") as api_base_url:
        generator = AIMLAPIChatGenerator(model="openai/gpt-5-chat-latest", api_base_url=api_base_url)
        reply = generator.run([ChatMessage.from_user(QUESTION)])["replies"][0]

    print(f"Q: {QUESTION}")
    print(f"A: {reply.text}\n")
    usage = reply.meta["usage"]
    print(f"model: {reply.meta['model']}")
    print(
        f"usage: {usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion "
        f"= {usage['total_tokens']} tokens"
    )
    cost = reply.meta.get("cost")  # AIMLAPI reports credits and dollars when it can
    print(f"cost: {cost['credits_used']} credits, ${cost['usd_spent']:.7f}" if cost else "cost: not reported")


if __name__ == "__main__":
    main()
