"""How the generator's openai clients talk HTTP: one SSL context per process, a connection pool whose cost
does not grow with its size, no OpenAI account headers, and retries left to :mod:`aiml_agent._retries`.

Building the SDK's default HTTP client builds an SSL context and reads the CA bundle every time (25-70 ms);
sharing one context makes a generator cheap to create. Its connection pool (httpcore2's) walks every
connection on every request, which at hundreds of concurrent requests costs more than the requests
themselves: the clients here are the SDK's ``httpx2`` clients (so timeouts, redirects, proxies from the
environment and vcrpy's cassettes work as before) with the pools of :mod:`aiml_agent._pool_sync` /
:mod:`aiml_agent._pool_async` in their default transport. The SDK also sends OpenAI settings from the
environment (organization, project, custom headers) with every request; those must never reach AIMLAPI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import Mapping
from functools import cache
from typing import Any

import httpx2
from openai import AsyncOpenAI, DefaultAsyncHttpxClient, DefaultHttpxClient, OpenAI, omit

from aiml_agent._wire import ChatWire

logger = logging.getLogger(__name__)

#: The connection limits of the generator's clients: the SDK's ``max_connections``, and every connection kept
#: alive (the SDK keeps 100, so past 100 concurrent requests it closes and reopens connections all the time).
DEFAULT_HTTP_LIMITS: dict[str, Any] = {
    "max_connections": 1000,
    "max_keepalive_connections": 1000,
    "keepalive_expiry": 5.0,
}


def checked_http_limits(limits: Any) -> dict[str, Any] | None:
    """``http_limits`` as a plain dict (from a mapping or an ``httpx.Limits``-like object), checked.

    :raises ValueError: An unknown key, or a value that is not a positive number (or None: no limit).
    """
    if limits is None:
        return None
    if not isinstance(limits, Mapping):
        limits = {key: getattr(limits, key) for key in DEFAULT_HTTP_LIMITS if hasattr(limits, key)}
    unknown = sorted(set(limits) - set(DEFAULT_HTTP_LIMITS))
    if unknown:
        raise ValueError(f"http_limits: unknown key(s) {unknown}; known: {list(DEFAULT_HTTP_LIMITS)}")
    for key, value in limits.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if value is not None and (not number or value <= 0 or (key != "keepalive_expiry" and value != int(value))):
            kind = "number of seconds" if key == "keepalive_expiry" else "whole number"
            raise ValueError(f"http_limits[{key!r}] must be a positive {kind} or None (no limit), got {value!r}")
    return dict(limits)


def default_http_client(
    base_url: str, timeout: float, *, async_client: bool, limits: Mapping[str, Any] | None = None
) -> Any:
    """The SDK's default HTTP client (its timeout, redirects and proxies from the environment) verifying with the
    shared SSL context, with our pool in its transport; ``limits`` (see `DEFAULT_HTTP_LIMITS`) override the
    defaults key by key."""
    settings = {**DEFAULT_HTTP_LIMITS, **(limits or {})}
    context = default_ssl_context()
    if async_client:
        from aiml_agent._pool_async import AsyncConnectionPool

        client: Any = _AsyncHttpClient(base_url=base_url, timeout=timeout, verify=context)
        _install_pool(client, httpx2.AsyncHTTPTransport, AsyncConnectionPool(context, **settings))
    else:
        from aiml_agent._pool_sync import ConnectionPool

        client = _SyncHttpClient(base_url=base_url, timeout=timeout, verify=context)
        _install_pool(client, httpx2.HTTPTransport, ConnectionPool(context, **settings))
    return client


def _install_pool(client: Any, transport_type: type[Any], pool: Any) -> None:
    """Put ``pool`` in place of httpcore2's in the client's default transport (requests through a proxy from
    the environment keep httpx2's proxy transports); keep httpcore2's if httpx2 moved either."""
    transport: Any = getattr(client, "_transport", None)
    if isinstance(transport, transport_type) and isinstance(getattr(transport, "_pool", None), httpcore_pools()):
        transport._pool = pool
    else:  # pragma: no cover - a future httpx2 that keeps them elsewhere: still correct, only slower
        logger.warning("httpx2's client has no default transport pool where expected: aiml_agent's pool is unused")


@cache
def httpcore_pools() -> tuple[type, ...]:
    import httpcore2

    return (httpcore2.ConnectionPool, httpcore2.AsyncConnectionPool)


class _SyncHttpClient(DefaultHttpxClient):
    """The SDK's default sync client (its defaults), closed when garbage-collected, as the SDK's own one is."""

    def __del__(self) -> None:
        if not self.is_closed:
            with contextlib.suppress(Exception):
                self.close()


_CLOSING: set[asyncio.Task[None]] = set()


class _AsyncHttpClient(DefaultAsyncHttpxClient):
    """The SDK's default async client (its defaults), closed when garbage-collected on the loop it was made on.

    Its connections belong to that loop: closing them from another thread's loop, or after that loop closed,
    only ends in "Event loop is closed" errors; their sockets are then closed with their transports instead.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            self._made_on_loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._made_on_loop = None

    def __del__(self) -> None:
        if not self.is_closed:
            try:
                loop = asyncio.get_running_loop()
                if loop is self._made_on_loop:
                    task = loop.create_task(self.aclose())
                    _CLOSING.add(task)  # keep a reference until done: the loop holds tasks only weakly
                    task.add_done_callback(_CLOSING.discard)
            except Exception:
                pass


def default_ssl_context() -> ssl.SSLContext:
    """The SSL context of the default HTTP clients: the one the SDK's client would build, made once per process.

    ``httpx2.create_ssl_context()`` is what ``httpx2.Client()`` calls for its default ``verify=True``: the
    same CA bundle and verification, ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` honoured. It is cached per value
    of those two variables, so changing them still takes effect for generators warmed up afterwards.
    """
    return _ssl_context_for(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@cache
def _ssl_context_for(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    import httpx2

    return httpx2.create_ssl_context()


def without_openai_environment_headers(api_key: str) -> dict[str, Any]:
    """Client headers that cancel the ones the openai SDK adds from OpenAI's own environment variables.

    The SDK sends ``OPENAI_ORG_ID`` / ``OPENAI_PROJECT_ID`` as ``OpenAI-Organization`` / ``OpenAI-Project`` and every
    header listed in ``OPENAI_CUSTOM_HEADERS`` (whose ``Authorization`` would even replace the AIMLAPI key) with each
    request: OpenAI account settings that must not reach AIMLAPI. Explicit client headers win over them and ``omit``
    removes one; per-request ``extra_headers`` still win over these.
    """
    names = ["OpenAI-Organization", "OpenAI-Project"]
    names += [line.split(":", 1)[0].strip() for line in os.environ.get("OPENAI_CUSTOM_HEADERS", "").split("\n")]
    headers: dict[str, Any] = {name: omit for name in names if name and name.lower() != "authorization"}
    headers["Authorization"] = f"Bearer {api_key}"
    return headers


class RetryingClient(OpenAI):
    """The openai SDK's client with its own retries off: :mod:`aiml_agent._retries` retries, ``retries`` times.

    Chat requests go through ``wire`` (see :mod:`aiml_agent._wire`); the client itself still serves any other
    SDK call a user makes on it.
    """

    def __init__(self, *, retries: int, http_client: Any, **kwargs: Any) -> None:
        super().__init__(max_retries=0, http_client=http_client, **kwargs)
        self.retries = retries
        self.wire = ChatWire(self, http_client)


class AsyncRetryingClient(AsyncOpenAI):
    """Async `RetryingClient`."""

    def __init__(self, *, retries: int, http_client: Any, **kwargs: Any) -> None:
        super().__init__(max_retries=0, http_client=http_client, **kwargs)
        self.retries = retries
        self.wire = ChatWire(self, http_client)
