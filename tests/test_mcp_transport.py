"""The HTTP layer under the MCP client (no listening GET stream; JSON answers carry their request's id), on a mock
transport: what reaches the server and what the SDK gets back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2

from aiml_agent.mcp._transports import ToolCallTransport


def exchange(request: httpx2.Request, answer: httpx2.Response) -> tuple[list[httpx2.Request], httpx2.Response]:
    """Send ``request`` through the layer over a server answering ``answer``; what the server got, what came back."""
    seen: list[httpx2.Request] = []

    def server(sent: httpx2.Request) -> httpx2.Response:
        seen.append(sent)
        return answer

    async def go() -> httpx2.Response:
        async with httpx2.AsyncClient(transport=ToolCallTransport(httpx2.MockTransport(server))) as client:
            response = await client.send(request)
            await response.aread()
            return response

    return seen, asyncio.run(go())


def post(message: dict[str, Any]) -> httpx2.Request:
    return httpx2.Request("POST", "http://mcp.test/mcp", json=message)


def test_the_listening_get_stream_is_refused_locally_and_a_resuming_get_goes_through() -> None:
    seen, response = exchange(httpx2.Request("GET", "http://mcp.test/mcp"), httpx2.Response(200))
    assert response.status_code == 405 and seen == []
    resume = httpx2.Request("GET", "http://mcp.test/mcp", headers={"Last-Event-ID": "7"})
    seen, response = exchange(resume, httpx2.Response(200, headers={"content-type": "text/event-stream"}))
    assert response.status_code == 200 and len(seen) == 1


def test_a_json_answer_carries_the_id_of_the_request_it_answers() -> None:
    recorded = {"jsonrpc": "2.0", "id": 3, "result": {"content": [], "isError": False}}
    call = {"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "add"}}
    _, response = exchange(post(call), httpx2.Response(200, json=recorded, headers={"content-encoding": "identity"}))
    assert response.json() == {**recorded, "id": 8}
    assert "content-encoding" not in response.headers


def test_other_traffic_passes_unchanged() -> None:
    answer = {"jsonrpc": "2.0", "id": 3, "result": {}}
    notification = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    _, response = exchange(post(notification), httpx2.Response(200, json=answer))
    assert response.json() == answer  # a notification has no id to give
    stream = "event: message\ndata: " + json.dumps(answer) + "\n\n"
    call = {"jsonrpc": "2.0", "id": 9, "method": "tools/list"}
    sse = httpx2.Response(200, text=stream, headers={"content-type": "text/event-stream"})
    _, response = exchange(post(call), sse)
    assert response.text == stream  # the SDK itself gives SSE answers their request's id
