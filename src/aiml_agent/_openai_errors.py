"""Translate the openai SDK's exceptions into :class:`~aiml_agent.errors.AIMLAPIError` with a useful message.

AIMLAPI answers errors with a flat body ``{"message", "path", "requestId", "statusCode", "timestamp"}``; OpenAI
with ``{"error": {"message", ...}}`` (which the SDK unwraps). Either way the message says the HTTP status, the
server's own words and the request id, and never contains the API key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import openai

from aiml_agent.errors import AIMLAPIError

try:  # transport errors raised while a stream is being read are not wrapped by the openai SDK
    import httpx
    import httpx2

    _TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (httpx2.TransportError, httpx.TransportError)
except ImportError:  # pragma: no cover - openai>=3 always brings httpx2
    _TRANSPORT_ERRORS = ()


# Keys shorter than this are not masked: real AIMLAPI keys are far longer, and masking a short placeholder
# ("abc", "key") would garble ordinary words of the message. The cassette filter scrubs from 6 characters
# (`aiml_agent.testing.cassettes._MIN_SECRET_LEN`): it also scrubs request ids and cookies, and a recording
# is written to disk for good, so it errs further on the safe side.
_MIN_SECRET_LEN = 8


@contextmanager
def translated_errors(*, base_url: str, timeout: object, max_retries: int, secret: str | None) -> Iterator[None]:
    """Re-raise the SDK's request errors (and broken streams) as AIMLAPIError.

    The SDK's error stays attached as ``__cause__`` for debugging, unless the key had to be removed from the
    message: then it is not chained at all, since its own message (in every traceback) still has the key.

    :param base_url: Named in connection and timeout errors.
    :param timeout: The timeout in force (seconds, as the client holds it), named when a request timed out.
    :param max_retries: The retries in force, named when every attempt failed.
    :param secret: The resolved API key, removed from any message (a server might echo it).
    """
    try:
        yield
    except openai.APIStatusError as exc:
        _raise(status_error(exc), exc, secret)
    except openai.APITimeoutError as exc:
        message = f"Request to {base_url} timed out after {timeout}s (max_retries={max_retries})."
        _raise(AIMLAPIError(message), exc, secret)
    except openai.APIConnectionError as exc:
        cause = exc.__cause__ or exc
        message = f"Connection to {base_url} failed: {cause} (max_retries={max_retries})."
        _raise(AIMLAPIError(message), exc, secret)
    except openai.APIError as exc:  # e.g. an error event inside a stream
        message = f"Request to {base_url} failed: {exc.message}"
        _raise(AIMLAPIError(message, server_message=exc.message, body=exc.body), exc, secret)
    except _TRANSPORT_ERRORS as exc:
        message = f"The connection to {base_url} broke while reading the reply: {exc}"
        _raise(AIMLAPIError(message), exc, secret)


def status_error(exc: openai.APIStatusError) -> AIMLAPIError:
    """AIMLAPIError for an HTTP error answer, from AIMLAPI's flat body or OpenAI's error object."""
    body = exc.body
    server_message: str | None = None
    request_id: str | None = None
    if isinstance(body, dict):
        inner = body["error"] if isinstance(body.get("error"), dict) else body
        raw = inner.get("message")
        server_message = "; ".join(map(str, raw)) if isinstance(raw, list) else (str(raw) if raw else None)
        request_id = body.get("requestId") or inner.get("requestId") or body.get("request_id")
    elif isinstance(body, str) and body.strip():
        server_message = body.strip()[:500]
    request_id = request_id or exc.request_id
    request = exc.response.request
    message = f"AIMLAPI request failed: HTTP {exc.status_code} from {request.method} {request.url}"
    message += f": {server_message or exc.message}"
    if request_id:
        message += f" (requestId: {request_id})"
    return AIMLAPIError(
        message, status_code=exc.status_code, server_message=server_message, request_id=request_id, body=body
    )


def _raise(error: AIMLAPIError, original: BaseException, secret: str | None) -> NoReturn:
    """Raise ``error`` from ``original``; without the chain, and with the key masked, when either shows the key."""
    if not secret or len(secret) < _MIN_SECRET_LEN or not (_shows(error, secret) or _shows(original, secret)):
        raise error from original
    raise AIMLAPIError(
        str(error).replace(secret, "***"),
        status_code=error.status_code,
        server_message=error.server_message.replace(secret, "***") if error.server_message else None,
        request_id=error.request_id,
        body=None if secret in str(error.body) else error.body,
    ) from None  # also hides ``original`` (``__suppress_context__``), whose message has the key


def _shows(error: BaseException, secret: str) -> bool:
    return secret in str(error) or secret in str(getattr(error, "body", None))
