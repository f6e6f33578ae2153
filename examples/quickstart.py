"""Quick start: ask AIMLAPI a question and print the answer.

With ``AIMLAPI_API_KEY`` set, this asks the real API. Without it, it runs offline: a local
`ScriptedServer` plays the model with a canned answer, so the example always runs (CI runs it).

    python examples/quickstart.py
"""

from __future__ import annotations

import os
from contextlib import ExitStack

from haystack.dataclasses import ChatMessage
from haystack.utils import Secret

from aiml_agent import AIMLAPIChatGenerator
from aiml_agent.testing import Reply, ScriptedServer

QUESTION = "What's Natural Language Processing? Answer in one sentence."
CANNED_ANSWER = (
    "Natural Language Processing (NLP) is the branch of artificial intelligence that lets computers "
    "understand, interpret and generate human language."
)
CANNED_COST = {"credits_used": 63, "usd_spent": 0.0000315}  # AIMLAPI reports cost like this, in `meta.usage`


def main() -> None:
    """Ask the question (of the real API, or of a local scripted model) and print the answer and its usage."""
    with ExitStack() as stack:
        if os.environ.get("AIMLAPI_API_KEY"):
            generator = AIMLAPIChatGenerator(model="openai/gpt-5-chat-latest")
        else:
            print("AIMLAPI_API_KEY is not set: answering from a local scripted model (offline).\n")
            server = stack.enter_context(ScriptedServer([Reply(text=CANNED_ANSWER, cost=CANNED_COST)]))
            generator = AIMLAPIChatGenerator(
                api_key=Secret.from_token("offline-demo-key"), api_base_url=server.base_url
            )

        reply = generator.run([ChatMessage.from_user(QUESTION)])["replies"][0]
        print(f"Q: {QUESTION}\nA: {reply.text}\n")
        print(f"model: {reply.meta['model']}, usage: {reply.meta['usage']['total_tokens']} tokens", end="")
        print(f", cost: {reply.meta['cost']}" if "cost" in reply.meta else "")


if __name__ == "__main__":
    main()
