"""The contenders of the agent-loop figures: one run = the model asks for one tool call, then answers.

Each ``make_*`` function takes the scripted server's base URL and the tools to offer, and returns
``(run, run_async)`` callables for one mode (streamed or not). Every contender talks to the same server
over loopback with a long-lived client, so the difference between them is the framework's own cost.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from _harness import API_KEY, MODEL, installed

PROMPT = "What is the weather in Paris?"
Run = Callable[[], Any]
RunAsync = Callable[[], Awaitable[Any]]


def get_weather(city: str) -> str:
    """Get the current weather for a city.

    :param city: The city name, e.g. "Paris".
    """
    return f"Sunny in {city}, 21 degrees."


async def get_weather_async(city: str) -> str:
    """Get the current weather for a city.

    :param city: The city name, e.g. "Paris".
    """
    return f"Sunny in {city}, 21 degrees."


WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "The city name."}},
    "required": ["city"],
}


# -- the floor: a hand-written loop on the openai SDK ------------------------------------------------
def _openai_tools(functions: dict[str, Callable[..., Any]]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": name, "description": fn.__doc__.split("\n")[0], "parameters": WEATHER_SCHEMA},
        }
        for name, fn in functions.items()
    ]


def _collect_stream(chunks: Any) -> tuple[str, list[dict[str, Any]]]:
    """Accumulate a streamed reply into (text, tool_calls), as any streaming client must."""
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if delta.content:
            text.append(delta.content)
        for tc in delta.tool_calls or ():
            call = calls.setdefault(tc.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
            if tc.id:
                call["id"] = tc.id
            if tc.function and tc.function.name:
                call["function"]["name"] += tc.function.name
            if tc.function and tc.function.arguments:
                call["function"]["arguments"] += tc.function.arguments
    return "".join(text), [calls[i] for i in sorted(calls)]


async def _collect_stream_async(chunks: Any) -> tuple[str, list[dict[str, Any]]]:
    collected = [chunk async for chunk in chunks]
    return _collect_stream(collected)


def _message(msg: Any) -> tuple[str, list[dict[str, Any]]]:
    calls = [
        {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
        for c in msg.tool_calls or ()
    ]
    return msg.content or "", calls


def make_floor(
    base_url: str, stream: bool, functions: dict[str, Callable[..., Any]] | None = None, max_steps: int = 10
) -> tuple[Run, RunAsync]:
    """The floor: the least a program can do to run the loop with the openai SDK (no framework)."""
    from openai import AsyncOpenAI, OpenAI

    functions = functions or {"get_weather": get_weather}
    tools = _openai_tools(functions)
    client = OpenAI(api_key=API_KEY, base_url=base_url)
    aclient = AsyncOpenAI(api_key=API_KEY, base_url=base_url)
    extra: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}

    def run() -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
        for _ in range(max_steps):
            response = client.chat.completions.create(model=MODEL, messages=messages, tools=tools, **extra)
            text, calls = _collect_stream(response) if stream else _message(response.choices[0].message)
            if not calls:
                return text
            messages.append({"role": "assistant", "content": text or None, "tool_calls": calls})
            for call in calls:
                result = functions[call["function"]["name"]](**json.loads(call["function"]["arguments"]))
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": str(result)})
        raise RuntimeError("floor loop: no answer")

    async def run_async() -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
        for _ in range(max_steps):
            response = await aclient.chat.completions.create(model=MODEL, messages=messages, tools=tools, **extra)
            if stream:
                text, calls = await _collect_stream_async(response)
            else:
                text, calls = _message(response.choices[0].message)
            if not calls:
                return text
            messages.append({"role": "assistant", "content": text or None, "tool_calls": calls})
            for call in calls:
                result = functions[call["function"]["name"]](**json.loads(call["function"]["arguments"]))
                if asyncio.iscoroutine(result):
                    result = await result
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": str(result)})
        raise RuntimeError("floor loop: no answer")

    return run, run_async


# -- Haystack's Agent with the seed aimlapi-haystack generator ---------------------------------------
SEED_MODULE = "haystack_integrations.components.generators.aimlapi"


def seed_installed() -> bool:
    """True when the seed ``aimlapi-haystack`` integration (in the ``bench`` extra) is installed."""
    return installed(SEED_MODULE)


def _noop(chunk: Any) -> None:
    pass


async def _anoop(chunk: Any) -> None:
    pass


def make_haystack(
    base_url: str, stream: bool, tools: list[Any] | None = None, **agent_kwargs: Any
) -> tuple[Run, RunAsync]:
    """Haystack's ``Agent`` driving the existing ``aimlapi-haystack`` AIMLAPIChatGenerator."""
    from haystack.components.agents import Agent
    from haystack.dataclasses import ChatMessage
    from haystack.tools import create_tool_from_function
    from haystack.utils import Secret
    from haystack_integrations.components.generators.aimlapi import AIMLAPIChatGenerator

    tools = tools or [create_tool_from_function(get_weather)]
    generator = AIMLAPIChatGenerator(api_key=Secret.from_token(API_KEY), api_base_url=base_url, model=MODEL)
    agent = Agent(chat_generator=generator, tools=tools, **agent_kwargs)
    agent.warm_up()

    def run() -> Any:
        return agent.run([ChatMessage.from_user(PROMPT)], streaming_callback=_noop if stream else None)

    async def run_async() -> Any:
        return await agent.run_async([ChatMessage.from_user(PROMPT)], streaming_callback=_anoop if stream else None)

    return run, run_async


# -- aiml_agent.Agent ---------------------------------------------------------------------------------
def aiml_agent_ready() -> bool:
    """True when aiml_agent's Agent, generator and tools can be imported (they may still be landing)."""
    try:
        from aiml_agent import Agent, AIMLAPIChatGenerator, create_tool  # noqa: F401
    except Exception:
        return False
    return True


def make_aiml_agent(
    base_url: str, stream: bool, tools: list[Any] | None = None, **agent_kwargs: Any
) -> tuple[Run, RunAsync]:
    """``aiml_agent.Agent`` with its own ``AIMLAPIChatGenerator``."""
    from haystack.utils import Secret

    from aiml_agent import Agent, AIMLAPIChatGenerator, create_tool

    tools = tools or [create_tool(get_weather)]
    generator = AIMLAPIChatGenerator(api_key=Secret.from_token(API_KEY), api_base_url=base_url, model=MODEL)
    agent = Agent(chat_generator=generator, tools=tools, **agent_kwargs)
    if hasattr(agent, "warm_up"):
        agent.warm_up()

    def run() -> Any:
        if stream:
            return agent.run(PROMPT, streaming_callback=_noop)
        return agent.run(PROMPT)

    async def run_async() -> Any:
        if stream:
            return await agent.run_async(PROMPT, streaming_callback=_anoop)
        return await agent.run_async(PROMPT)

    return run, run_async


# -- optional peers: pydantic-ai and openai-agents ---------------------------------------------------
def make_pydantic_ai(base_url: str) -> tuple[Run, RunAsync] | None:
    """pydantic-ai's Agent on an OpenAI-compatible provider (non-streamed), or None when not installed."""
    try:
        from pydantic_ai import Agent
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider
    except ImportError:
        return None

    def new_agent() -> Any:  # one per event loop: the async HTTP client's pool is bound to its loop
        model = OpenAIChatModel(MODEL, provider=OpenAIProvider(base_url=base_url, api_key=API_KEY))
        agent = Agent(model)
        agent.tool_plain(get_weather)
        return agent

    sync_agent, async_agent = new_agent(), new_agent()

    def run() -> Any:
        return sync_agent.run_sync(PROMPT).output

    async def run_async() -> Any:
        return (await async_agent.run(PROMPT)).output

    return run, run_async


def make_openai_agents(base_url: str) -> tuple[Run, RunAsync] | None:
    """openai-agents' Runner on Chat Completions (non-streamed, tracing off), or None when not installed."""
    try:
        from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_tracing_disabled
        from openai import AsyncOpenAI
    except ImportError:
        return None
    set_tracing_disabled(True)

    def new_agent() -> Any:  # one per event loop: the async HTTP client's pool is bound to its loop
        client = AsyncOpenAI(api_key=API_KEY, base_url=base_url)
        model = OpenAIChatCompletionsModel(model=MODEL, openai_client=client)
        return Agent(name="weather", model=model, tools=[function_tool(get_weather)])

    sync_agent, async_agent = new_agent(), new_agent()

    async def run_async() -> Any:
        return (await Runner.run(async_agent, PROMPT)).final_output

    # Runner.run_sync reuses the thread's default event loop, which any asyncio.run() in between (another
    # contender's) unsets; a loop of its own does what run_sync does without that coupling.
    loop = asyncio.new_event_loop()

    def run() -> Any:
        return loop.run_until_complete(Runner.run(sync_agent, PROMPT)).final_output

    return run, run_async
