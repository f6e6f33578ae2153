"""How the generator's openai clients talk HTTP: one SSL context per process, no OpenAI account headers, and
retries left to :mod:`aiml_agent._retries`.

Building the SDK's default HTTP client builds an SSL context and reads the CA bundle every time (25-70 ms);
sharing one context makes a generator cheap to create. The SDK also sends OpenAI settings from the
environment (organization, project, custom headers) with every request; those must never reach AIMLAPI.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from functools import cache
from typing import Any

from openai import AsyncOpenAI, DefaultAsyncHttpxClient, DefaultHttpxClient, OpenAI, omit


def default_http_client(base_url: str, timeout: float, *, async_client: bool) -> Any:
    """The SDK's default HTTP client (its timeout, limits and redirects), verifying with the shared SSL context."""
    kind = _AsyncHttpClient if async_client else _SyncHttpClient
    return kind(base_url=base_url, timeout=timeout, verify=default_ssl_context())


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
    """The openai SDK's client with its own retries off: :mod:`aiml_agent._retries` retries, ``retries`` times."""

    def __init__(self, *, retries: int, **kwargs: Any) -> None:
        super().__init__(max_retries=0, **kwargs)
        self.retries = retries


class AsyncRetryingClient(AsyncOpenAI):
    """Async `RetryingClient`."""

    def __init__(self, *, retries: int, **kwargs: Any) -> None:
        super().__init__(max_retries=0, **kwargs)
        self.retries = retries
