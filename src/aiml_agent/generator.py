"""`AIMLAPIChatGenerator`: Haystack's OpenAI chat generator pointed at AIMLAPI, without the known defects of the
AIMLAPI integration ``aimlapi-haystack``.

Same API as that integration's generator (``haystack_integrations...aimlapi.AIMLAPIChatGenerator``), plus
``tools_strict`` and ``profile``. What it does differently, and why:

- requests are shaped by the model's :class:`~aiml_agent.profiles.ModelProfile` (see :mod:`aiml_agent._request`):
  a Gemini or Claude model gets schemas its API accepts, not OpenAI's;
- ``AIMLAPI_BASE_URL``, ``AIMLAPI_MAX_RETRIES`` and ``AIMLAPI_TIMEOUT`` are read (``aimlapi-haystack`` documents
  the last two but reads ``OPENAI_*``);
- OpenAI's own settings the openai SDK takes from the environment (``OPENAI_ORG_ID``, ``OPENAI_PROJECT_ID``,
  ``OPENAI_CUSTOM_HEADERS``) are not sent to AIMLAPI, nor another project's attribution headers;
- a missing key fails before any request with an error naming ``AIMLAPI_API_KEY``;
- failed requests raise :class:`~aiml_agent.errors.AIMLAPIError` with status, server message, request id and the
  number of attempts (retries: :mod:`aiml_agent._retries`), never holding the key;
- every request carries a fresh ``X-Client-Request-Id``, kept with ``x-inference-id`` in the reply's ``meta``;
- ``run(tools=[])`` sends no tools; generation kwargs the openai SDK does not know still reach the request body;
- malformed tool-call arguments, reasoning and AIMLAPI's cost are kept in the reply (see :mod:`aiml_agent._responses`).
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import os
import threading
import weakref
from collections.abc import Mapping
from functools import cache
from typing import Any

from haystack import component, default_from_dict, default_to_dict, logging
from haystack.components.generators.chat import OpenAIChatGenerator
from haystack.dataclasses import (
    ChatMessage,
    ComponentInfo,
    StreamingCallbackT,
    StreamingChunk,
    select_streaming_callback,
)
from haystack.tools import (
    ToolsType,
    deserialize_tools_or_toolset_inplace,
    flatten_tools_or_toolsets,
    serialize_tools_or_toolset,
)
from haystack.utils import Secret, serialize_callable
from haystack.utils.auth import SecretType
from haystack.utils.http_client import init_http_client
from openai.resources.chat.completions import Completions
from pydantic import BaseModel

from aiml_agent import _observe
from aiml_agent._exchange import Exchange
from aiml_agent._haystack import load_callable, resolve_run_annotations  # load_callable: allowlists this module
from aiml_agent._http import (
    AsyncRetryingClient,
    RetryingClient,
    checked_http_limits,
    default_http_client,
    without_openai_environment_headers,
)
from aiml_agent._request import chat_arguments, response_format_for
from aiml_agent._responses import check_finish_reason, completion_replies
from aiml_agent._retries import call_with_retries, call_with_retries_async
from aiml_agent._streams import read_stream, read_stream_async, stream_to_message
from aiml_agent._wire import events, events_async
from aiml_agent.errors import AIMLAPIError, MissingAPIKeyError
from aiml_agent.profiles import ModelProfile, profile_for

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.aimlapi.com/v1"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3


class _DefaultBaseURL(str):
    """The ``api_base_url`` default: equal to AIMLAPI's URL, but recognisable as "not given" (then
    ``AIMLAPI_BASE_URL`` applies, and ``to_dict`` writes ``None``)."""


_NOT_GIVEN_BASE_URL = _DefaultBaseURL(DEFAULT_BASE_URL)

# Guards every generator's per-loop client table (threads each running their own loop share a generator).
# Module-level rather than per instance, so that a generator stays copyable; it is held only for dict work.
_ASYNC_CLIENTS_LOCK = threading.Lock()


@component
class AIMLAPIChatGenerator(OpenAIChatGenerator):
    """
    Completes chats with the models served by AIMLAPI (OpenAI-compatible chat completions).

    Usage example:
    ```python
    from haystack.dataclasses import ChatMessage
    from aiml_agent import AIMLAPIChatGenerator

    client = AIMLAPIChatGenerator(model="openai/gpt-5-chat-latest")
    reply = client.run([ChatMessage.from_user("What's Natural Language Processing?")])["replies"][0]
    print(reply.text, reply.meta["usage"], reply.meta.get("cost"))
    ```
    """

    def __init__(
        self,
        *,
        api_key: Secret = Secret.from_env_var("AIMLAPI_API_KEY"),  # noqa: B008 - aimlapi-haystack's default
        model: str = "openai/gpt-5-chat-latest",
        streaming_callback: StreamingCallbackT | None = None,
        api_base_url: str | None = _NOT_GIVEN_BASE_URL,
        generation_kwargs: dict[str, Any] | None = None,
        tools: ToolsType | None = None,
        timeout: float | None = None,
        extra_headers: dict[str, Any] | None = None,
        max_retries: int | None = None,
        http_client_kwargs: dict[str, Any] | None = None,
        tools_strict: bool = False,
        profile: ModelProfile | dict[str, Any] | None = None,
        http_limits: Mapping[str, Any] | None = None,
    ) -> None:
        """
        Creates an AIMLAPIChatGenerator.

        :param api_key: The AIMLAPI key; read from `AIMLAPI_API_KEY` by default, resolved only when first used.
        :param model: The AIMLAPI model name.
        :param streaming_callback: Called with each `StreamingChunk`; setting it makes requests stream.
        :param api_base_url: The API base URL; when not given (or `None`), `AIMLAPI_BASE_URL`, else AIMLAPI's.
        :param generation_kwargs: Request parameters (`temperature`, `max_tokens`, `response_format`, `n`,
            `stream`, provider-specific ones...). Run-time `generation_kwargs` are merged over these, key by key.
            Parameters the openai SDK does not know are sent in the body as they are.
        :param tools: Tools or Toolsets the model may call.
        :param timeout: Request timeout in seconds; defaults to `AIMLAPI_TIMEOUT`, else 30.
        :param extra_headers: HTTP headers added to every request.
        :param max_retries: Retries (with backoff) on timeouts, broken connections, 408/409/429 and 5xx (never
            on other 4xx: 403 is AIMLAPI's "out of credits"); defaults to `AIMLAPI_MAX_RETRIES`, else 3.
        :param http_client_kwargs: Keyword arguments for a plain `httpx.Client` / `httpx.AsyncClient` built by
            Haystack's `init_http_client` (for what `http_limits` does not cover: certificates, HTTP/2, a custom
            transport...). That client is several times slower per request than the default one.
        :param tools_strict: Send tool schemas in strict mode (see `aiml_agent.strict`); `run` can override it.
            A model without a strict mode gets non-strict schemas (one warning says so).
        :param profile: What the model accepts (a `ModelProfile`, or its `to_dict()`); `None` asks
            `profile_for(model)` on every request.
        :param http_limits: Connection limits of the default HTTP clients: `max_connections` (open at once, default
            1000), `max_keepalive_connections` (kept open when idle, default 1000) and `keepalive_expiry` (seconds
            an idle connection is kept, default 5); a value of `None` means no limit. An `httpx.Limits` works too.
        :raises TypeError: When `api_key` is not a `Secret` (a plain string would be written out by `to_dict`).
        :raises ValueError: When `http_limits` has an unknown key or a bad value, or comes with `http_client_kwargs`.
        """
        if not isinstance(api_key, Secret):
            raise TypeError(
                f"api_key must be a haystack Secret, not {type(api_key).__name__}: pass "
                "Secret.from_env_var('AIMLAPI_API_KEY') (the default) or Secret.from_token(...)."
            )
        if isinstance(profile, dict):
            profile = ModelProfile.from_dict(profile)
        elif profile is not None and not isinstance(profile, ModelProfile):
            raise TypeError(f"profile must be a ModelProfile or None, not {type(profile).__name__}")
        resolve_run_annotations(type(self))
        super(AIMLAPIChatGenerator, self).__init__(  # noqa: UP008 - zero-arg super fails under @component
            api_key=api_key,
            model=model,
            streaming_callback=streaming_callback,
            api_base_url=None if api_base_url is _NOT_GIVEN_BASE_URL else api_base_url,
            generation_kwargs=generation_kwargs,
            timeout=timeout,
            max_retries=max_retries,
            tools=tools,
            tools_strict=tools_strict,
            http_client_kwargs=http_client_kwargs,
        )
        self.extra_headers = extra_headers
        self.profile: ModelProfile | None = profile
        self.http_limits = checked_http_limits(http_limits)
        if self.http_limits is not None and http_client_kwargs:
            raise ValueError(
                "Pass either http_limits (the default, fast HTTP client with these limits) or http_client_kwargs "
                "(a plain httpx client; put its limits there as 'limits'), not both."
            )
        self.client: RetryingClient | None = None
        self.async_client: AsyncRetryingClient | None = None
        # An async client belongs to the event loop it runs on (its connections do): one per loop.
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncRetryingClient] = (
            weakref.WeakKeyDictionary()
        )

    # ---- client set-up -------------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Create the sync client (once); without ``http_client_kwargs`` it shares the process's SSL context."""
        if self.client is None:
            self.client = self._new_client(RetryingClient)

    async def warm_up_async(self) -> None:
        """Create the async client of the running event loop (once per loop), see `_async_client`."""
        self._async_client()

    def _async_client(self) -> AsyncRetryingClient:
        """The running loop's async client, made on first use there.

        A client made under another loop (an earlier ``asyncio.run``, another thread's loop) cannot be used on
        this one, so each loop gets its own, and a run keeps the one it got: another thread making its client
        meanwhile cannot swap it. ``self.async_client`` is the latest one handed out (Haystack's attribute).
        """
        loop = asyncio.get_running_loop()
        with _ASYNC_CLIENTS_LOCK:
            client = self._async_clients.get(loop)
            if client is None or client.is_closed():
                # A client keeps its loop alive (through its connections), so entries of closed loops would
                # never leave the weak table by themselves.
                for closed in [other for other in self._async_clients if other.is_closed()]:
                    del self._async_clients[closed]
                client = self._async_clients[loop] = self._new_client(AsyncRetryingClient)
            self.async_client = client
        return client

    async def close_async(self) -> None:
        """Close the running loop's async client; the clients of other loops are left to those loops."""
        with _ASYNC_CLIENTS_LOCK:
            client = self._async_clients.pop(asyncio.get_running_loop(), None)
            if client is not None and self.async_client is client:
                self.async_client = None
        if client is not None:
            await client.close()

    def __copy__(self) -> AIMLAPIChatGenerator:
        """A copy with no client yet: settings changed on it (e.g. ``max_retries``) apply to the clients it makes."""
        clone = self.__class__.__new__(self.__class__)
        clone.__dict__.update(self.__dict__)
        clone.client = clone.async_client = None
        clone._async_clients = weakref.WeakKeyDictionary()
        return clone

    def _new_client(self, kind: type[Any]) -> Any:
        """A new sync or async client; key, base URL, timeout and retries are resolved once, here."""
        kwargs = self._client_kwargs()
        http_client = self._http_client(
            async_client=kind is AsyncRetryingClient, base_url=kwargs["base_url"], timeout=kwargs["timeout"]
        )
        return kind(http_client=http_client, **kwargs)

    def _http_client(self, *, async_client: bool, base_url: str, timeout: float) -> Any:
        """The HTTP client for the openai SDK client.

        With ``http_client_kwargs``: Haystack's ``init_http_client`` (an ``httpx`` client, as Haystack's own
        generator makes it). Without: the SDK's own default client (same timeout, redirects), on aiml_agent's
        connection pool (``http_limits``), verifying with one SSL context per process instead of building one, and
        reading the CA bundle, for every generator (25-70 ms each).
        """
        if self.http_client_kwargs:
            if async_client:
                return init_http_client(self.http_client_kwargs, async_client=True)
            return init_http_client(self.http_client_kwargs, async_client=False)
        return default_http_client(base_url, timeout, async_client=async_client, limits=self.http_limits)

    def _client_kwargs(self) -> dict[str, Any]:
        """The client's settings, resolved (environment read) once per client: its error messages name these."""
        api_key = self._resolve_api_key()
        return {
            "api_key": api_key,
            "base_url": self._base_url,
            "timeout": self._effective_timeout(),
            "retries": self._effective_max_retries(),
            "default_headers": without_openai_environment_headers(api_key),
        }

    @property
    def _base_url(self) -> str:
        """The base URL given, else ``AIMLAPI_BASE_URL``, else AIMLAPI's."""
        return self.api_base_url or os.environ.get("AIMLAPI_BASE_URL", "").strip() or DEFAULT_BASE_URL

    def _resolve_api_key(self) -> str:
        """The key, or a MissingAPIKeyError naming the environment variable(s) to set; raised before any request."""
        try:
            key = self.api_key.resolve_value()
        except ValueError:
            key = None
        if not key:
            named = self.api_key.to_dict().get("env_vars") if self.api_key.type is SecretType.ENV_VAR else None
            env_vars = [v for v in named or () if v != "AIMLAPI_API_KEY"]
            also = f" (this generator reads {', '.join(env_vars)})" if env_vars else ""
            raise MissingAPIKeyError(
                f"No AIMLAPI API key: set the AIMLAPI_API_KEY environment variable{also} or pass "
                "api_key=Secret.from_token(...). No request was sent."
            )
        return str(key)

    def _effective_timeout(self) -> float:
        if self.timeout is not None:
            return float(self.timeout)
        return _number_from_env("AIMLAPI_TIMEOUT", DEFAULT_TIMEOUT, float)

    def _effective_max_retries(self) -> int:
        if self.max_retries is not None:
            return int(self.max_retries)
        return _number_from_env("AIMLAPI_MAX_RETRIES", DEFAULT_MAX_RETRIES, int)

    # ---- serialization -------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """
        Serialize this component to a dictionary (never a resolved key; a pydantic `response_format` as JSON schema).

        What was not given stays unset (``api_base_url: None`` reads ``AIMLAPI_BASE_URL`` again when loaded).

        :returns: The serialized component.
        """
        generation_kwargs = dict(self.generation_kwargs)
        if "response_format" in generation_kwargs:
            generation_kwargs["response_format"] = _response_format_param(generation_kwargs["response_format"])
        return default_to_dict(
            self,
            api_key=self.api_key,
            model=self.model,
            streaming_callback=serialize_callable(self.streaming_callback) if self.streaming_callback else None,
            api_base_url=self.api_base_url,
            generation_kwargs=generation_kwargs,
            tools=serialize_tools_or_toolset(self.tools),
            timeout=self.timeout,
            extra_headers=self.extra_headers,
            max_retries=self.max_retries,
            http_client_kwargs=self.http_client_kwargs,
            tools_strict=self.tools_strict,
            profile=self.profile.to_dict() if self.profile is not None else None,
            http_limits=self.http_limits,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AIMLAPIChatGenerator:
        """
        Rebuild the generator from :meth:`to_dict` output (a streaming callback loads through the allowlist).

        :param data: The serialized component.
        :returns: The generator.
        """
        data = copy.deepcopy(data)  # deserializing works in place; leave the caller's dict as it was
        params = data.setdefault("init_parameters", {})
        deserialize_tools_or_toolset_inplace(params, key="tools")
        if params.get("streaming_callback"):
            params["streaming_callback"] = load_callable(params["streaming_callback"], what="the streaming callback")
        return default_from_dict(cls, data)

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
        Sends the chat to the model and returns its replies.

        :param messages: The conversation (a string becomes one user message).
        :param streaming_callback: Called with each chunk; overrides the init callback; makes the request stream.
        :param generation_kwargs: Merged over the init `generation_kwargs`, key by key.
        :param tools: Overrides the init tools; `[]` sends no tools.
        :param tools_strict: Overrides the init `tools_strict`.
        :returns: `{"replies": [ChatMessage, ...]}`.
        :raises AIMLAPIError: When the request fails (after retries), a stream breaks off or the answer is unusable.
        :raises ModelCapabilityError: When the request needs what the model does not take (e.g. tools).
        """
        self.warm_up()
        client = self.client
        assert isinstance(client, RetryingClient)
        callback = select_streaming_callback(self.streaming_callback, streaming_callback, requires_async=False)
        args = self._request(messages, callback is not None, generation_kwargs, tools, tools_strict)
        if args is None:
            return {"replies": []}
        if args["stream"] and callback is None:
            callback = _discard_chunk  # stream=True without a callback: stream, then return the whole reply
        with _observe.model_call(self.model, self._base_url, args, streaming=args["stream"]) as observed:
            exchange = Exchange(client, args)
            failure: AIMLAPIError | None = None
            try:
                request = client.wire.build(args)
                stream = args["stream"]
                response = call_with_retries(
                    lambda: client.wire.send(request, stream=stream), client.retries, exchange.attempts
                )
                if callback is not None:
                    info = ComponentInfo.from_component(self)
                    chunks = read_stream(events(response), callback, info, exchange.url)
                    replies = [stream_to_message(chunks, exchange.url, exchange.wire(response))]
                else:
                    answer = exchange.answer(response)
                    replies = completion_replies(answer, base_url=exchange.url, wire=exchange.wire(response))
            except Exception as error:
                failure = exchange.failure(error)
                if failure is None:
                    raise
            if failure is not None:
                raise failure  # outside the except block: nothing of the SDK's exception (it holds the key) is chained
            observed.finish(replies)
        return _checked(replies)

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
        :returns: `{"replies": [ChatMessage, ...]}`.
        :raises AIMLAPIError: When the request fails (after retries), a stream breaks off or the answer is unusable.
        :raises ModelCapabilityError: When the request needs what the model does not take (e.g. tools).
        """
        client = self._async_client()  # this loop's, kept for the whole run whatever other loops do
        async_callback = streaming_callback or self.streaming_callback  # sync or async: both are called correctly
        args = self._request(messages, async_callback is not None, generation_kwargs, tools, tools_strict)
        if args is None:
            return {"replies": []}
        if args["stream"] and async_callback is None:
            async_callback = _discard_chunk
        with _observe.model_call(self.model, self._base_url, args, streaming=args["stream"]) as observed:
            exchange = Exchange(client, args)
            failure: AIMLAPIError | None = None
            try:
                request = client.wire.build(args)
                stream = args["stream"]
                response = await call_with_retries_async(
                    lambda: client.wire.send_async(request, stream=stream), client.retries, exchange.attempts
                )
                if async_callback is not None:
                    info = ComponentInfo.from_component(self)
                    chunks = await read_stream_async(events_async(response), async_callback, info, exchange.url)
                    replies = [stream_to_message(chunks, exchange.url, exchange.wire(response))]
                else:
                    answer = exchange.answer(response)
                    replies = completion_replies(answer, base_url=exchange.url, wire=exchange.wire(response))
            except Exception as error:
                failure = exchange.failure(error)
                if failure is None:
                    raise
            if failure is not None:
                raise failure  # outside the except block: nothing of the SDK's exception (it holds the key) is chained
            observed.finish(replies)
        return _checked(replies)

    def _request(
        self,
        messages: list[ChatMessage] | str,
        has_callback: bool,
        generation_kwargs: dict[str, Any] | None,
        tools: ToolsType | None,
        tools_strict: bool | None,
    ) -> dict[str, Any] | None:
        """The `create` arguments (None when there are no messages); they stream with a callback or `stream=True`."""
        conversation = _message_list(messages)
        if not conversation:
            return None
        kwargs = {**self.generation_kwargs, **(generation_kwargs or {})}
        strict = tools_strict if tools_strict is not None else self.tools_strict
        return chat_arguments(
            model=self.model,
            messages=conversation,
            generation_kwargs=kwargs,
            tools=flatten_tools_or_toolsets(tools if tools is not None else self.tools),
            strict=bool(strict),
            profile=self.effective_profile,
            stream=has_callback or bool(kwargs.get("stream")),
            headers=dict(self.extra_headers or {}),
            known_parameters=_create_parameters(),
        )

    @property
    def effective_profile(self) -> ModelProfile:
        """The profile requests are shaped by: the one given, else `profile_for(model)` (asked on every request,
        so a refreshed catalogue applies at once)."""
        return self.profile if self.profile is not None else profile_for(self.model)


def _message_list(messages: list[ChatMessage] | str) -> list[ChatMessage]:
    """A string as one user message; a list of ChatMessages as it is."""
    if isinstance(messages, str):
        return [ChatMessage.from_user(messages)]
    if isinstance(messages, list) and all(isinstance(message, ChatMessage) for message in messages):
        return messages
    raise TypeError(f"messages must be a str or a list of ChatMessage, got {type(messages).__name__}")


def _checked(replies: list[ChatMessage]) -> dict[str, list[ChatMessage]]:
    for reply in replies:
        check_finish_reason(reply)  # logs truncated / filtered replies
    return {"replies": replies}


def _discard_chunk(_: StreamingChunk) -> None:
    """Callback used when `stream=True` is asked for without a callback: stream, then return the whole reply."""


def _response_format_param(response_format: Any) -> Any:
    """A pydantic model class becomes OpenAI's strict `json_schema` response format (JSON-serializable)."""
    if isinstance(response_format, type) and issubclass(response_format, BaseModel):
        return response_format_for(response_format)
    return response_format


@cache
def _create_parameters() -> frozenset[str]:
    """Names `chat.completions.create` accepts; other generation kwargs go to `extra_body`."""
    return frozenset(inspect.signature(Completions.create).parameters) - {"self"}


def _number_from_env(name: str, default: Any, kind: type) -> Any:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}.") from None
