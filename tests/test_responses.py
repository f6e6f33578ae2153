"""Reading streams: every chunk reaches the callback (sync or async), and the stream is always closed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import pytest
from haystack.dataclasses import ComponentInfo, StreamingChunk

from aiml_agent._streams import read_stream, read_stream_async
from aiml_agent._wire import events
from aiml_agent.testing import Reply, ScriptedServer

INFO = ComponentInfo(type="aiml_agent.generator.AIMLAPIChatGenerator", name="llm")
COST = {"credits_used": 42, "usd_spent": 0.000021}
BASE_URL = "http://127.0.0.1:1/v1"


def scripted_stream(*replies: Any) -> list[list[dict[str, Any]]]:
    """The JSON data of each event of each reply streamed by a ScriptedServer (usage chunk included)."""
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    body["stream_options"] = {"include_usage": True}
    with ScriptedServer(list(replies)) as server, httpx2.Client() as client:
        streamed = []
        for _ in replies:
            request = client.build_request("POST", server.base_url + "/chat/completions", content=json.dumps(body))
            streamed.append(list(events(client.send(request, stream=True))))
        return streamed


# ---- reading streams -------------------------------------------------------------------------------------


class SyncFakeStream:
    """Stands in for the events of a response: yields chunks, may break off, records close()."""

    def __init__(self, chunks: list[dict[str, Any]], fail_after: int | None = None) -> None:
        self.chunks, self.fail_after, self.closed = chunks, fail_after, 0

    def __iter__(self) -> Any:
        for i, chunk in enumerate(self.chunks):
            if i == self.fail_after:
                raise ConnectionError("stream broke")
            yield chunk

    def close(self) -> None:
        self.closed += 1


class FakeStream(SyncFakeStream):
    """Stands in for the async events of a response."""

    async def __aiter__(self) -> Any:
        for chunk in self:
            await asyncio.sleep(0)
            yield chunk

    async def aclose(self) -> None:
        await asyncio.sleep(0)
        self.closed += 1


def test_read_stream_hands_each_chunk_to_the_callback_and_closes() -> None:
    (raw,) = scripted_stream(Reply(text="two words", cost=COST))
    seen: list[StreamingChunk] = []
    stream = SyncFakeStream(raw)
    chunks = read_stream(stream, seen.append, INFO, BASE_URL)
    assert seen == chunks and stream.closed == 1
    assert chunks[-1].meta["cost"] == COST and "".join(c.content for c in chunks) == "two words"

    broken = SyncFakeStream(raw, fail_after=2)
    with pytest.raises(ConnectionError):
        read_stream(broken, seen.append, INFO, BASE_URL)
    assert broken.closed == 1


async def test_read_stream_async_sync_and_async_callbacks_and_closing() -> None:
    (raw,) = scripted_stream(Reply(text="two words"))
    seen: list[StreamingChunk] = []

    async def collect(chunk: StreamingChunk) -> None:
        await asyncio.sleep(0)
        seen.append(chunk)

    stream = FakeStream(raw)
    chunks = await read_stream_async(stream, collect, INFO, BASE_URL)
    assert seen == chunks and len(chunks) == len(raw) and stream.closed == 1

    plain: list[StreamingChunk] = []
    assert await read_stream_async(FakeStream(raw), plain.append, INFO, BASE_URL) == plain

    broken = FakeStream(raw, fail_after=2)
    with pytest.raises(ConnectionError):
        await read_stream_async(broken, collect, INFO, BASE_URL)
    assert broken.closed == 1


async def test_read_stream_async_closes_when_cancelled() -> None:
    (raw,) = scripted_stream(Reply(text="a b c d e f"))
    started = asyncio.Event()
    stream = FakeStream(raw)

    async def slow(chunk: StreamingChunk) -> None:
        started.set()
        await asyncio.sleep(10)

    task = asyncio.create_task(read_stream_async(stream, slow, INFO, BASE_URL))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stream.closed == 1


def test_chunks_built_without_init_equal_haystacks_own() -> None:
    """The assembler's chunks skip Haystack's __init__ hook: they must be the same objects Haystack builds."""
    import dataclasses

    from haystack.dataclasses import ToolCallDelta

    from aiml_agent._streams import new_chunk, new_tool_call_delta

    delta = new_tool_call_delta(index=1, tool_name="f", arguments='{"a"', id="c1")
    assert delta == ToolCallDelta(index=1, tool_name="f", arguments='{"a"', id="c1")
    built = new_chunk(content="", index=1, tool_calls=[delta], start=True, meta={"model": "m"}, component_info=INFO)
    made = StreamingChunk(content="", index=1, tool_calls=[delta], start=True, meta={"model": "m"}, component_info=INFO)
    assert built == made and vars(built) == vars(made) and type(built) is StreamingChunk
    assert new_chunk(content="a").meta == {} and new_chunk(content="a").meta is not new_chunk(content="b").meta
    assert dataclasses.replace(built, content="") == made and built.to_dict() == made.to_dict()
    with pytest.warns(Warning, match="Mutating attribute"):  # Haystack's mutation warning still applies
        built.content = "changed"
