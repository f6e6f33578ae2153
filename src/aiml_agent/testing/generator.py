"""`ScriptedChatGenerator`: a chat model that answers from a script in process, for the fastest unit tests.

It is an :class:`~aiml_agent.AIMLAPIChatGenerator` whose HTTP client never opens a socket: each request goes
to an in-process transport that answers from the same script `ScriptedServer` plays (see
:mod:`aiml_agent.testing._script`), with the same bytes. Everything between the request and the reply is the
real generator's: requests shaped by the model's profile and ``tools_strict``, the openai SDK's parsing,
streaming chunks and callbacks, AIMLAPI error translation, retries, cost and ids in ``reply.meta``. So a
script behaves the same here as against `ScriptedServer`, and as the generator behaves against AIMLAPI::

    from aiml_agent import Agent
    from aiml_agent.testing import Reply, ScriptedChatGenerator, ToolCallReply

    model = ScriptedChatGenerator([Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Paris"})]), "Sunny."])
    result = Agent(model, tools=[get_weather]).run("Weather in Paris?")
    assert result["last_message"].text == "Sunny."
    assert model.requests[1].messages[-1].tool_call_result.result == "..."   # what the model was sent
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx2
from haystack import component, default_from_dict, default_to_dict
from haystack.dataclasses import ChatMessage, StreamingCallbackT
from haystack.tools import ToolsType, deserialize_tools_or_toolset_inplace, serialize_tools_or_toolset
from haystack.utils import Secret, serialize_callable

from aiml_agent._haystack import load_callable  # also puts this module on the deserialization allowlist
from aiml_agent._http11 import INCOMPLETE_BODY
from aiml_agent.errors import AIMLAgentError
from aiml_agent.generator import AIMLAPIChatGenerator, _message_list, _response_format_param
from aiml_agent.profiles import ModelProfile
from aiml_agent.testing._script import (
    CHAT_PATH,
    Answer,
    Reply,
    Script,
    ScriptExhausted,
    ScriptItem,
    ScriptPlayer,
    encoded_content,
    error_body,
    script_from_data,
    script_to_data,
)

__all__ = ["SCRIPTED_BASE_URL", "ScriptExhaustedError", "ScriptedChatGenerator", "ScriptedRequest"]

#: The base URL a ScriptedChatGenerator's requests (and so its error messages) name; nothing listens there.
SCRIPTED_BASE_URL = "http://scripted.invalid/v1"
_PLACEHOLDER_KEY = "scripted-test-key"


class ScriptExhaustedError(AIMLAgentError, AssertionError):
    """The code under test made more model requests than the script has replies (the message names the request)."""


@dataclass(frozen=True)
class ScriptedRequest:
    """One request a `ScriptedChatGenerator` answered (a retried call makes one per attempt).

    :param messages: The conversation the generator was given (a string as one user message).
    :param generation_kwargs: The generation kwargs in force: the init ones merged with the run's, key by key.
    :param body: The JSON body the request carried, as `ScriptedServer` records it: ``model``, ``messages`` in
        OpenAI's format (as the model's profile shapes them), ``tools``, ``stream``, the generation parameters.
    :param headers: The request's headers, lower-case names (``x-client-request-id`` among them).
    """

    messages: list[ChatMessage]
    generation_kwargs: dict[str, Any]
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The tool definitions as sent (``[]`` for none): strict or not, in the model's schema dialect."""
        tools = self.body.get("tools")
        return list(tools) if isinstance(tools, list) else []

    @property
    def stream(self) -> bool:
        """Whether the answer was asked for as a stream."""
        return bool(self.body.get("stream"))


@dataclass
class _Call:
    """What the current `run` / `run_async` call was given, for the transport to record with each request."""

    messages: list[ChatMessage]
    generation_kwargs: dict[str, Any]


_CURRENT_CALL: ContextVar[_Call | None] = ContextVar("aiml_agent_scripted_call", default=None)


class _Stop(BaseException):
    """Carries an error about the script itself (exhausted, a function that raised) from the transport to `run`.

    A BaseException, so that neither the openai SDK (which turns transport exceptions into connection errors)
    nor the retries take it for a failed request.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


@component
class ScriptedChatGenerator(AIMLAPIChatGenerator):
    """An `AIMLAPIChatGenerator` answered by a script in process: no HTTP, no key, no socket.

    :param script: Replies taken in order (`Reply` objects or strings, a string being a text reply), or a
        function of the request body (a dict) returning one: the same scripts `ScriptedServer` takes.
    :param model: The model named in requests; its profile shapes them (strict tools, schema dialect, system
        role) exactly as for the real generator.
    :param streaming_callback: Called with each `StreamingChunk`; setting it makes requests stream.
    :param generation_kwargs: Request parameters, recorded with each request (see `requests`).
    :param tools: Tools or Toolsets offered to the model.
    :param tools_strict: Send tool schemas in strict mode.
    :param profile: What the model accepts; `None` asks `profile_for(model)`.
    :param max_retries: Retries after a failed request; 0 by default, so that a scripted error surfaces at
        once. With more, a retried status (429, 5xx) takes the script's next reply after the real waits.
    :param timeout: Seconds a request may take: a reply whose ``delay`` is longer times out like a real one.
    :param extra_headers: Headers added to every request (recorded with it).
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        model: str = "openai/gpt-5-chat-latest",
        streaming_callback: StreamingCallbackT | None = None,
        generation_kwargs: dict[str, Any] | None = None,
        tools: ToolsType | None = None,
        tools_strict: bool = False,
        profile: ModelProfile | dict[str, Any] | None = None,
        max_retries: int = 0,
        timeout: float | None = None,
        extra_headers: dict[str, Any] | None = None,
    ) -> None:
        super(ScriptedChatGenerator, self).__init__(  # noqa: UP008 - zero-arg super fails under @component
            api_key=Secret.from_token(_PLACEHOLDER_KEY),
            model=model,
            streaming_callback=streaming_callback,
            api_base_url=SCRIPTED_BASE_URL,
            generation_kwargs=generation_kwargs,
            tools=tools,
            timeout=timeout,
            extra_headers=extra_headers,
            max_retries=max_retries,
            tools_strict=tools_strict,
            profile=profile,
        )
        self.script = script
        self._script = ScriptPlayer(script, owner="ScriptedChatGenerator", model=model)
        self._requests: list[ScriptedRequest] = []
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """What a copy takes: the script where it is and the requests so far, not the lock nor the HTTP clients
        (a copy makes its own); a copy then plays the rest of the script on its own."""
        with self._lock:
            state = {k: v for k, v in self.__dict__.items() if k != "_lock"}
        state.update(client=None, async_client=None, _async_clients=weakref.WeakKeyDictionary())
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # ---- what the tests read -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[ScriptedRequest]:
        """A snapshot of every request answered so far, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def remaining(self) -> int:
        """Replies left in a list script (0 for a function script)."""
        return self._script.remaining

    def add(self, *replies: ScriptItem) -> None:
        """Append replies to the script (a list script only)."""
        self._script.add(replies)

    # ---- running -------------------------------------------------------------------------------------------

    @component.output_types(replies=list[ChatMessage])
    def run(
        self,
        messages: list[ChatMessage] | str,
        streaming_callback: StreamingCallbackT | None = None,
        generation_kwargs: dict[str, Any] | None = None,
        *,
        tools: ToolsType | None = None,
        tools_strict: bool | None = None,
    ) -> dict[str, list[ChatMessage]]:
        """
        Answers the chat with the script's next reply, as `AIMLAPIChatGenerator.run` does with the server's.

        :param messages: The conversation (a string becomes one user message).
        :param streaming_callback: Called with each chunk; overrides the init callback; makes the request stream.
        :param generation_kwargs: Merged over the init `generation_kwargs`, key by key.
        :param tools: Overrides the init tools; `[]` sends no tools.
        :param tools_strict: Overrides the init `tools_strict`.
        :returns: `{"replies": [ChatMessage]}`.
        :raises AIMLAPIError: A scripted error (or cut stream, or timeout), as the real generator raises it.
        :raises ScriptExhaustedError: The script has no reply left for this request.
        """
        token = _CURRENT_CALL.set(self._call(messages, generation_kwargs))
        try:
            return super(ScriptedChatGenerator, self).run(  # noqa: UP008
                messages, streaming_callback, generation_kwargs, tools=tools, tools_strict=tools_strict
            )
        except _Stop as stop:
            raise stop.error from None
        finally:
            _CURRENT_CALL.reset(token)

    @component.output_types(replies=list[ChatMessage])
    async def run_async(
        self,
        messages: list[ChatMessage] | str,
        streaming_callback: StreamingCallbackT | None = None,
        generation_kwargs: dict[str, Any] | None = None,
        *,
        tools: ToolsType | None = None,
        tools_strict: bool | None = None,
    ) -> dict[str, list[ChatMessage]]:
        """
        Async `run`: same parameters and result; the callback may be sync or async.

        :param messages: The conversation (a string becomes one user message).
        :param streaming_callback: Called (or awaited) with each chunk; makes the request stream.
        :param generation_kwargs: Merged over the init `generation_kwargs`, key by key.
        :param tools: Overrides the init tools; `[]` sends no tools.
        :param tools_strict: Overrides the init `tools_strict`.
        :returns: `{"replies": [ChatMessage]}`.
        :raises AIMLAPIError: A scripted error (or cut stream, or timeout), as the real generator raises it.
        :raises ScriptExhaustedError: The script has no reply left for this request.
        """
        token = _CURRENT_CALL.set(self._call(messages, generation_kwargs))
        try:
            return await super(ScriptedChatGenerator, self).run_async(  # noqa: UP008
                messages, streaming_callback, generation_kwargs, tools=tools, tools_strict=tools_strict
            )
        except _Stop as stop:
            raise stop.error from None
        finally:
            _CURRENT_CALL.reset(token)

    def _call(self, messages: list[ChatMessage] | str, generation_kwargs: dict[str, Any] | None) -> _Call:
        return _Call(_message_list(messages), {**self.generation_kwargs, **(generation_kwargs or {})})

    def _http_client(self, *, async_client: bool, base_url: str, timeout: float) -> Any:
        """An HTTP client whose transport is this generator's script: nothing goes on a network."""
        if async_client:
            return httpx2.AsyncClient(transport=_AsyncTransport(self), base_url=base_url, timeout=timeout)
        return httpx2.Client(transport=_Transport(self), base_url=base_url, timeout=timeout)

    def _answer(self, request: httpx2.Request) -> tuple[Reply, Answer]:
        """Record `request` and take its reply (in one step, so requests[i] got the i-th reply).

        :raises _Stop: The script is exhausted, its function raised, or an item is not a reply.
        """
        body = json.loads(request.content) if request.content else None
        headers = {name.lower(): value for name, value in request.headers.items()}
        path = request.url.path
        if path != CHAT_PATH or request.method != "POST" or not isinstance(body, dict):
            return Reply(), Answer(404, {}, error_body(404, f"Cannot {request.method} {path}", path))
        call = _CURRENT_CALL.get() or _Call([], {})
        with self._lock:
            self._requests.append(ScriptedRequest(list(call.messages), dict(call.generation_kwargs), body, headers))
            number = len(self._requests)
            try:
                item = self._script.next_item(number)
            except ScriptExhausted as exhausted:
                raise _Stop(
                    ScriptExhaustedError(f"{exhausted}: the code made more model requests than the script has replies")
                ) from None
        try:
            reply = self._script.reply_for(item, body)
        except Exception as error:
            raise _Stop(error) from None
        return reply, self._script.answer(reply, body, headers, path)

    # ---- serialization -------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """
        Serialize the generator with its whole script (as given, not what is left of it): a list script as data,
        a function script by import path.

        :returns: The serialized component.
        """
        generation_kwargs = dict(self.generation_kwargs)
        if "response_format" in generation_kwargs:
            generation_kwargs["response_format"] = _response_format_param(generation_kwargs["response_format"])
        return default_to_dict(
            self,
            script=script_to_data(self.script),
            model=self.model,
            streaming_callback=serialize_callable(self.streaming_callback) if self.streaming_callback else None,
            generation_kwargs=generation_kwargs,
            tools=serialize_tools_or_toolset(self.tools),
            tools_strict=self.tools_strict,
            profile=self.profile.to_dict() if self.profile is not None else None,
            max_retries=self.max_retries,
            timeout=self.timeout,
            extra_headers=self.extra_headers,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScriptedChatGenerator:
        """
        Rebuild the generator from :meth:`to_dict` output (a function script and a streaming callback load
        through Haystack's deserialization allowlist).

        :param data: The serialized component.
        :returns: A generator with the whole script to play again.
        """
        params = dict(data.get("init_parameters") or {})
        deserialize_tools_or_toolset_inplace(params, key="tools")
        if params.get("streaming_callback"):
            params["streaming_callback"] = load_callable(params["streaming_callback"], what="the streaming callback")
        params["script"] = script_from_data(params.get("script"))
        return default_from_dict(cls, {**data, "init_parameters": params})


# ---- the transports ----------------------------------------------------------------------------------------


class _Transport(httpx2.BaseTransport):
    """Answers a sync client's requests from the generator's script."""

    def __init__(self, generator: ScriptedChatGenerator) -> None:
        self.generator = generator

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        reply, answer = self.generator._answer(request)
        if reply.delay:
            limit = _read_timeout(request)
            time.sleep(min(reply.delay, limit) if limit is not None else reply.delay)
            if limit is not None and reply.delay > limit:
                raise httpx2.ReadTimeout("timed out", request=request)
        if answer.events is None:
            return _whole(answer)
        return httpx2.Response(200, headers=_stream_headers(answer), stream=_Events(answer.events, reply))


class _AsyncTransport(httpx2.AsyncBaseTransport):
    """Answers an async client's requests from the generator's script."""

    def __init__(self, generator: ScriptedChatGenerator) -> None:
        self.generator = generator

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        reply, answer = self.generator._answer(request)
        if reply.delay:
            limit = _read_timeout(request)
            await asyncio.sleep(min(reply.delay, limit) if limit is not None else reply.delay)
            if limit is not None and reply.delay > limit:
                raise httpx2.ReadTimeout("timed out", request=request)
        if answer.events is None:
            return _whole(answer)
        return httpx2.Response(200, headers=_stream_headers(answer), stream=_AsyncEvents(answer.events, reply))


class _Events(httpx2.SyncByteStream):
    """A streamed answer's server-sent events; a reply's ``cut_after`` breaks it off as a dropped connection."""

    def __init__(self, events: Sequence[str], reply: Reply) -> None:
        self.events, self.reply = events, reply

    def __iter__(self) -> Iterator[bytes]:
        for sent, event in enumerate(self.events):
            if self.reply.cut_after is not None and sent >= self.reply.cut_after:
                raise httpx2.RemoteProtocolError(INCOMPLETE_BODY)
            if sent and self.reply.chunk_delay:
                time.sleep(self.reply.chunk_delay)
            yield f"data: {event}\n\n".encode()


class _AsyncEvents(httpx2.AsyncByteStream):
    """Async `_Events`."""

    def __init__(self, events: Sequence[str], reply: Reply) -> None:
        self.events, self.reply = events, reply

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for sent, event in enumerate(self.events):
            if self.reply.cut_after is not None and sent >= self.reply.cut_after:
                raise httpx2.RemoteProtocolError(INCOMPLETE_BODY)
            if sent and self.reply.chunk_delay:
                await asyncio.sleep(self.reply.chunk_delay)
            yield f"data: {event}\n\n".encode()


def _whole(answer: Answer) -> httpx2.Response:
    data, content_type = encoded_content(answer.content)
    return httpx2.Response(
        answer.status, headers={"content-type": answer.content_type or content_type, **answer.headers}, content=data
    )


def _stream_headers(answer: Answer) -> dict[str, str]:
    return {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", **answer.headers}


def _read_timeout(request: httpx2.Request) -> float | None:
    """The request's read timeout (None: no limit), which a reply's ``delay`` can run into."""
    value = (request.extensions.get("timeout") or {}).get("read")
    return float(value) if value is not None else None
