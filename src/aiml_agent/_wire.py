"""One chat completion request on the wire: our JSON in, JSON or server-sent events out, failures as the
openai SDK's exceptions.

The openai SDK builds the client (key, base URL, headers, HTTP client, timeout) and names the failures; the
request itself skips the SDK's per-request machinery, which is most of a fast agent run's cost: the
``create`` arguments are dumped to JSON as they are (they already are plain data), the answer is parsed with
``json.loads`` into plain dicts (no model object per answer or per streamed chunk), and streamed events are
split by a small SSE reader. A stream is read to its end before its response is closed, so the connection
goes back to the pool (the SDK's sync ``Stream`` closes the response at ``[DONE]``, which costs a new
connection, and a TLS handshake, per streamed call).

Failures are raised as the SDK's ``APITimeoutError``, ``APIConnectionError`` and ``APIStatusError`` (with the
body parsed as the SDK does), so :mod:`aiml_agent._retries` and :mod:`aiml_agent._openai_errors` treat them
the same whichever path sent the request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import date, datetime
from typing import Any

import httpx
import httpx2
import openai
from openai import NotGiven, Omit

#: ``create`` arguments that are not part of the JSON body.
REQUEST_OPTIONS = frozenset({"extra_headers", "extra_body", "extra_query", "timeout"})
_TIMEOUTS = (httpx2.TimeoutException, httpx.TimeoutException)
_TRANSPORT_ERRORS = (httpx2.TransportError, httpx.TransportError)


def _json_default(value: Any) -> Any:
    """What the SDK's JSON encoder also takes: datetimes as ISO 8601, pydantic models as their JSON data."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return model_dump(exclude_unset=True, mode="json", by_alias=True)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode_body(args: Mapping[str, Any]) -> bytes:
    """The request body of ``create`` arguments: every argument but the request options, with ``extra_body``
    merged in (unset values, the SDK's ``omit`` / ``NOT_GIVEN``, are left out)."""
    body = {k: v for k, v in args.items() if k not in REQUEST_OPTIONS and not isinstance(v, (Omit, NotGiven))}
    extra = args.get("extra_body")
    if extra:
        body.update(extra)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default).encode()


class ChatWire:
    """Sends chat completion requests for one openai client over its HTTP client.

    :param client: The openai client (``OpenAI`` or ``AsyncOpenAI``): its base URL, headers (key included),
        query parameters and timeout are read once, here.
    :param http_client: The ``httpx2`` (or ``httpx``) client the openai client was built with.
    """

    def __init__(self, client: openai.OpenAI | openai.AsyncOpenAI, http_client: Any) -> None:
        self.http = http_client
        base = client.base_url  # ends with "/" (its path does: "https://host" has the path "/")
        path, mark, query = base.raw_path.partition(b"?")
        self.url = str(base.copy_with(raw_path=path + b"chat/completions" + mark + query))
        self.headers = {k: str(v) for k, v in client.default_headers.items() if not isinstance(v, (Omit, NotGiven))}
        self._names = {name.lower(): name for name in self.headers}
        self.query = dict(client.default_query) or None
        self.timeout = client.timeout
        # For an httpx2 client without query parameters of its own, requests are made here, from headers merged
        # once (``build_request`` merges the client's headers, URL and timeout again on every request).
        self._direct = isinstance(http_client, (httpx2.Client, httpx2.AsyncClient)) and not http_client.params
        if self._direct:
            self._base_headers = http_client.headers.copy()
            self._base_headers.update(self.headers)
            self._url = httpx2.URL(self.url, params=self.query)
            self._timeout = httpx2.Timeout(self.timeout).as_dict()

    def build(self, args: Mapping[str, Any]) -> Any:
        """The HTTP request for ``create`` arguments (``extra_headers`` win over the client's headers)."""
        if self._direct and "extra_query" not in args and "timeout" not in args and not self.http.cookies.jar:
            merged = httpx2.Headers(self._base_headers)
            for name, value in (args.get("extra_headers") or {}).items():
                if isinstance(value, (Omit, NotGiven)):
                    merged.pop(name, None)
                else:
                    merged[name] = str(value)
            return httpx2.Request(
                "POST", self._url, headers=merged, content=encode_body(args), extensions={"timeout": self._timeout}
            )
        headers = self.headers
        extra = args.get("extra_headers")
        if extra:
            headers = dict(headers)
            for name, value in extra.items():
                headers.pop(self._names.get(name.lower(), name), None)
                if not isinstance(value, (Omit, NotGiven)):
                    headers[name] = str(value)
        query = args.get("extra_query")
        params = {**(self.query or {}), **query} if query else self.query
        timeout = args.get("timeout", self.timeout)
        return self.http.build_request(
            "POST", self.url, content=encode_body(args), headers=headers, params=params, timeout=timeout
        )

    def send(self, request: Any, *, stream: bool) -> Any:
        """Send ``request``; a whole answer is read before this returns, a stream's body is left to read.

        :raises openai.APIStatusError: The answer's status is 4xx or 5xx (its body read and parsed).
        :raises openai.APITimeoutError: The request timed out before an answer.
        :raises openai.APIConnectionError: The connection failed before an answer.
        """
        try:
            response = self.http.send(request, stream=stream)
        except _TIMEOUTS as error:
            raise openai.APITimeoutError(request=request) from error
        except _TRANSPORT_ERRORS as error:
            raise openai.APIConnectionError(request=request) from error
        if response.status_code >= 400:
            try:
                if stream:
                    response.read()
            except _TRANSPORT_ERRORS:
                pass
            finally:
                response.close()
            raise status_error(response)
        return response

    async def send_async(self, request: Any, *, stream: bool) -> Any:
        """Async `send`."""
        try:
            response = await self.http.send(request, stream=stream)
        except _TIMEOUTS as error:
            raise openai.APITimeoutError(request=request) from error
        except _TRANSPORT_ERRORS as error:
            raise openai.APIConnectionError(request=request) from error
        if response.status_code >= 400:
            try:
                if stream:
                    await response.aread()
            except _TRANSPORT_ERRORS:
                pass
            finally:
                await response.aclose()
            raise status_error(response)
        return response


def status_error(response: Any) -> openai.APIStatusError:
    """The SDK's error for a 4xx/5xx answer: its body parsed as JSON when it is JSON, else kept as text."""
    message = f"Error code: {response.status_code}"
    if response.is_closed and not response.is_stream_consumed:
        body: Any = None
    else:
        body = response.text.strip()
        try:
            body = json.loads(body)
        except ValueError:
            pass
        else:
            error = body.get("error", body) if isinstance(body, dict) else None
            text = error.get("message") if isinstance(error, dict) else None
            if isinstance(text, str) and text:
                message += f" - {text}"
    return openai.APIStatusError(message, response=response, body=body)


def answer_data(response: Any) -> Any:
    """A whole answer's JSON (raises ``json.JSONDecodeError`` when it is not JSON)."""
    return json.loads(response.content)


# ---- server-sent events ------------------------------------------------------------------------------------


class SSEDecoder:
    """Splits a byte stream into the ``data`` of its server-sent events (fields other than ``data`` and comment
    lines are skipped; several ``data`` lines of one event are joined with newlines)."""

    __slots__ = ("_data", "_pending")

    def __init__(self) -> None:
        self._pending = b""
        self._data: list[bytes] = []

    def feed(self, block: bytes) -> list[str]:
        lines = (self._pending + block if self._pending else block).split(b"\n")
        self._pending = lines.pop()
        events: list[str] = []
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    events.append(b"\n".join(self._data).decode("utf-8"))
                    self._data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(b" ") else value)
        return events

    def end(self) -> list[str]:
        """What is left when the stream ends without the blank line after its last event."""
        events = self.feed(b"\n\n") if self._pending or self._data else []
        self._pending, self._data = b"", []
        return events


def _event_data(payload: str, request: Any) -> Any:
    """One event's JSON; an event carrying ``error`` (a failure in the middle of a stream) raises the SDK's
    ``APIError``, as the SDK's stream does."""
    data = json.loads(payload)
    if isinstance(data, dict) and data.get("error"):
        error = data["error"]
        message = error.get("message") if isinstance(error, dict) else None
        if not isinstance(message, str) or not message:
            message = "An error occurred during streaming"
        raise openai.APIError(message, request=request, body=error)
    return data


def events(response: Any) -> Iterator[Any]:
    """The JSON data of each event of a streamed answer, up to ``[DONE]``; the response is closed at the end
    (the pool reads what follows ``[DONE]`` for a moment, so the connection is reused).

    :raises json.JSONDecodeError: An event is not JSON.
    :raises openai.APIError: An event reports an error.
    """
    decoder = SSEDecoder()
    try:
        for block in response.iter_bytes():
            for payload in decoder.feed(block):
                if payload.startswith("[DONE]"):
                    return
                yield _event_data(payload, response.request)
        for payload in decoder.end():
            if payload.startswith("[DONE]"):
                return
            yield _event_data(payload, response.request)
    finally:
        response.close()


async def events_async(response: Any) -> AsyncIterator[Any]:
    """Async `events`."""
    decoder = SSEDecoder()
    try:
        async for block in response.aiter_bytes():
            for payload in decoder.feed(block):
                if payload.startswith("[DONE]"):
                    return
                yield _event_data(payload, response.request)
        for payload in decoder.end():
            if payload.startswith("[DONE]"):
                return
            yield _event_data(payload, response.request)
    finally:
        await response.aclose()
