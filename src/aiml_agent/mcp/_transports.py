"""How an MCP client is built for a stdio command or a streamable HTTP URL.

The HTTP layer under the SDK's streamable HTTP client does two things of its own, both so that the traffic
records and replays with vcrpy like any request/response exchange:

- the long-lived ``GET`` stream a client may open for server-initiated messages is answered locally with
  ``405 Method Not Allowed`` (the protocol's way for a server to say it offers none). A toolset only lists and
  calls tools, whose answers come on each request's own response; an endless stream would hang a recording.
  A ``GET`` that resumes an interrupted answer (it carries ``Last-Event-ID``) goes to the server as usual.
- a JSON answer to a JSON-RPC request carries that request's ``id``. A live server always does this; a
  replayed answer may have been recorded for a request that got another id (concurrent calls are numbered in
  the order they happen to be sent), and the SDK routes answers by id.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import Implementation

from aiml_agent import __version__

if TYPE_CHECKING:
    from mcp.client import Transport


def _client(target: Any) -> Client:
    # "auto": the 2026 stateless protocol where the server speaks it (one JSON answer per request), else the
    # initialize handshake. No response cache: each listing asks the server.
    return Client(target, client_info=Implementation(name="aiml-agent", version=__version__), cache=None)


def stdio_client_for(command: str, args: Sequence[str], env: dict[str, str], cwd: str | Path | None) -> Client:
    """A client that starts ``command args`` as a subprocess and speaks MCP over its stdin/stdout.

    The server inherits the SDK's safe default environment (``PATH``, ``HOME``, ...) plus ``env``; what it
    writes to stderr goes to this process's stderr.
    """
    parameters = StdioServerParameters(command=command, args=list(args), env=env or None, cwd=cwd)
    return _client(stdio_client(parameters, errlog=_server_stderr()))


def _server_stderr() -> TextIO:
    """Where a stdio server's stderr goes: ours when it is a real file, else nowhere (e.g. in a notebook)."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return open(os.devnull, "w")
    return sys.stderr


def http_client_for(url: str, headers: dict[str, str], connect_timeout: float | None) -> Client:
    """A client that speaks MCP's streamable HTTP transport to ``url``, sending ``headers`` with every request."""
    return _client(cast("Transport", _http_streams(url, headers, connect_timeout)))


@asynccontextmanager
async def _http_streams(url: str, headers: dict[str, str], connect_timeout: float | None) -> AsyncIterator[Any]:
    # Reads have no limit of their own: each request is bounded by the toolset's timeout instead.
    http_timeout = httpx2.Timeout(connect_timeout, read=None)
    transport = ToolCallTransport(httpx2.AsyncHTTPTransport())
    async with (
        httpx2.AsyncClient(headers=headers, timeout=http_timeout, transport=transport) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams


class ToolCallTransport(httpx2.AsyncBaseTransport):
    """The HTTP layer under the MCP client: no listening ``GET`` stream; each JSON answer carries its request's id.

    :param inner: The transport that sends the requests.
    """

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET" and "last-event-id" not in request.headers:
            return httpx2.Response(405, request=request)
        response = await self._inner.handle_async_request(request)
        content_type = response.headers.get("content-type", "").lower()
        if request.method != "POST" or not content_type.startswith("application/json"):
            return response
        request_id = _request_id(await request.aread())
        if request_id is None:
            return response
        body = await response.aread()
        await response.aclose()
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and ("result" in answer or "error" in answer) and answer.get("id") != request_id:
            answer["id"] = request_id
            body = json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        # The body is decoded now: its length and content encoding headers no longer describe it.
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _BODY_HEADERS]
        return httpx2.Response(
            response.status_code, headers=headers, content=body, request=request, extensions=response.extensions
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


_BODY_HEADERS = ("content-length", "content-encoding", "transfer-encoding")


def _request_id(body: bytes) -> Any:
    """The id of the JSON-RPC request in a POST body, or None for a notification, a response or no JSON-RPC."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if isinstance(message, dict) and "method" in message:
        return message.get("id")
    return None
