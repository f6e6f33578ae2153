"""What the batch tests share: a tool, the scripted model's answers, agents pointed at a ScriptedServer, and a
reader for the JSONL results.

A module of its own (not a test file) so that Ray workers and subprocesses can import the tool by name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from haystack.utils import Secret

from aiml_agent import Agent, AIMLAPIChatGenerator, RunContext, tool
from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply

COST = {"credits_used": 2, "usd_spent": 0.000001}


@tool
def lookup(city: str, ctx: RunContext[Any]) -> str:
    """Look a city up.

    :param city: The city.
    """
    return f"{city} is lovely" + (f" ({ctx.deps})" if ctx.deps is not None else "")


def question(body: dict[str, Any]) -> str:
    """The first user message of a request."""
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def answer_script(delay: float = 0.0) -> Any:
    """A model that answers ``answer: <question>`` at once (usage counted by the server, cost scripted)."""

    def script(body: dict[str, Any]) -> Reply:
        return Reply(text=f"answer: {question(body)}", delay=delay, cost=COST)

    return script


def tool_script(body: dict[str, Any]) -> Reply:
    """A model that looks up the city it is asked about, then answers with what the tool said."""
    results = [m["content"] for m in body["messages"] if m["role"] == "tool"]
    if results:
        return Reply(text=f"final: {results[-1]}", cost=COST)
    return Reply(tool_calls=[ToolCallReply("lookup", {"city": question(body)})])


def agent_for(server: ScriptedServer, *, key: Secret | None = None, **agent_kwargs: Any) -> Agent:
    """An Agent on ``server``; the generator keeps its default retries (the batch turns them off itself)."""
    generator = AIMLAPIChatGenerator(api_key=key or Secret.from_token("test-key"), api_base_url=server.base_url)
    return Agent(generator, **agent_kwargs)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSONL file (a batch's results), parsed."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
