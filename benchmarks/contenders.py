"""The contenders of the agent-loop figures: one run = the model asks for one tool call, then answers.

Each ``make_*`` function takes the scripted server's base URL and the tools to offer, and returns
``(run, run_async)`` callables for one mode (streamed or not). Every contender talks to the same server
over loopback with a long-lived client, so the difference between them is the framework's own cost.

The *limit* is the same loop over bare HTTP (``http.client``, and asyncio streams), with the JSON and the
server-sent events parsed by hand: no framework, no SDK, no HTTP library. Every figure shows how far each
contender is from it.
"""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

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


# -- the limit: the same loop on bare HTTP ---------------------------------------------------------------
def _bare_body(messages: list[dict[str, Any]], tools: list[dict[str, Any]], stream: bool) -> bytes:
    body: dict[str, Any] = {"model": MODEL, "messages": messages, "tools": tools}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return json.dumps(body, separators=(",", ":")).encode()


def _bare_head(path: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def _bare_events(lines: Iterable[bytes]) -> tuple[str, list[dict[str, Any]]]:
    """Text and tool calls of a streamed answer, from its SSE lines."""
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    for line in lines:
        if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
            continue
        choices = json.loads(line[6:])["choices"]
        if not choices:
            continue
        delta = choices[0]["delta"]
        if delta.get("content"):
            text.append(delta["content"])
        for tc in delta.get("tool_calls") or ():
            call = calls.setdefault(
                tc["index"], {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            )
            call["id"] = tc.get("id") or call["id"]
            function = tc.get("function") or {}
            call["function"]["name"] += function.get("name") or ""
            call["function"]["arguments"] += function.get("arguments") or ""
    return "".join(text), [calls[i] for i in sorted(calls)]


def _bare_answer(data: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    message = data["choices"][0]["message"]
    return message.get("content") or "", message.get("tool_calls") or []


def make_limit(
    base_url: str, stream: bool, functions: dict[str, Callable[..., Any]] | None = None
) -> tuple[Run, RunAsync]:
    """The limit: the loop on bare HTTP/1.1 over one kept-alive connection per concurrent run (sync:
    ``http.client``; async: asyncio streams and a list of idle connections), JSON and SSE parsed by hand."""
    functions = functions or {"get_weather": get_weather}
    tools = _openai_tools(functions)
    parts = urlsplit(base_url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path.rstrip("/") + "/chat/completions"
    connection = http.client.HTTPConnection(host, port)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    def call(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
        connection.request("POST", path, body=_bare_body(messages, tools, stream), headers={
            "Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})  # fmt: skip
        response = connection.getresponse()
        if stream:
            return _bare_events(response.read().split(b"\n"))
        return _bare_answer(json.loads(response.read()))

    async def call_async(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
        reader, writer = idle.pop() if idle else await asyncio.open_connection(host, port)
        body = _bare_body(messages, tools, stream)
        writer.write(_bare_head(path, len(body)) + body)
        head = await reader.readuntil(b"\r\n\r\n")
        if b"chunked" in head.lower():
            data = b""
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                data += (await reader.readexactly(size + 2))[:-2]
                if not size:
                    break
            idle.append((reader, writer))
            return _bare_events(data.split(b"\n"))
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        data = await reader.readexactly(length)
        idle.append((reader, writer))
        return _bare_answer(json.loads(data))

    def turn(messages: list[dict[str, Any]], text: str, calls: list[dict[str, Any]]) -> None:
        messages.append({"role": "assistant", "content": text or None, "tool_calls": calls})
        for c in calls:
            result = functions[c["function"]["name"]](**json.loads(c["function"]["arguments"]))
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": str(result)})

    def run() -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
        while True:
            text, calls = call(messages)
            if not calls:
                return text
            turn(messages, text, calls)

    async def run_async() -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
        while True:
            text, calls = await call_async(messages)
            if not calls:
                return text
            turn(messages, text, calls)

    return run, run_async


# -- Haystack's Agent with the aimlapi-haystack generator ---------------------------------------
SEED_MODULE = "haystack_integrations.components.generators.aimlapi"


def aimlapi_haystack_installed() -> bool:
    """True when the ``aimlapi-haystack`` integration (in the ``bench`` extra) is installed."""
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
def make_pydantic_ai(base_url: str, stream: bool = False) -> tuple[Run, RunAsync] | None:
    """pydantic-ai's Agent on an OpenAI-compatible provider, or None when not installed."""
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
        if stream:
            return "".join(sync_agent.run_stream_sync(PROMPT).stream_text(delta=True))
        return sync_agent.run_sync(PROMPT).output

    async def run_async() -> Any:
        if stream:
            async with async_agent.run_stream(PROMPT) as result:
                return "".join([text async for text in result.stream_text(delta=True)])
        return (await async_agent.run(PROMPT)).output

    return run, run_async


def make_openai_agents(base_url: str, stream: bool = False) -> tuple[Run, RunAsync] | None:
    """openai-agents' Runner on Chat Completions (tracing off), or None when not installed."""
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

    async def once(agent: Any) -> Any:
        if not stream:
            return (await Runner.run(agent, PROMPT)).final_output
        result = Runner.run_streamed(agent, PROMPT)
        async for _ in result.stream_events():
            pass
        return result.final_output

    async def run_async() -> Any:
        return await once(async_agent)

    # Runner.run_sync reuses the thread's default event loop, which any asyncio.run() in between (another
    # contender's) unsets; a loop of its own does what run_sync does without that coupling.
    loop = asyncio.new_event_loop()

    def run() -> Any:
        return loop.run_until_complete(once(sync_agent))

    return run, run_async
