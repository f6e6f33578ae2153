"""Translate the openai SDK's exceptions into :class:`~aiml_agent.errors.AIMLAPIError` with a useful message.

AIMLAPI answers errors with a flat body ``{"message", "path", "requestId", "statusCode", "timestamp"}``; OpenAI
with ``{"error": {"message", ...}}`` (which the SDK unwraps). Either way the message says the HTTP status, the
server's own words and the request id, and never contains the API key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import openai

from aiml_agent.errors import AIMLAPIError

try:  # transport errors raised while a stream is being read are not wrapped by the openai SDK
    import httpx
    import httpx2

    _TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (httpx2.TransportError, httpx.TransportError)
except ImportError:  # pragma: no cover - openai>=3 always brings httpx2
    _TRANSPORT_ERRORS = ()


@contextmanager
def translated_errors(*, base_url: str, timeout: float, max_retries: int, secret: str | None) -> Iterator[None]:
    """Re-raise the SDK's request errors (and broken streams) as AIMLAPIError.

    :param base_url: Named in connection and timeout errors.
    :param timeout: The timeout in force, named when a request timed out.
    :param max_retries: The retries in force, named when every attempt failed.
    :param secret: The resolved API key, removed from any message (a server might echo it).
    """
    try:
        yield
    except openai.APIStatusError as exc:
        raise _redacted(status_error(exc), secret) from exc
    except openai.APITimeoutError as exc:
        message = f"Request to {base_url} timed out after {timeout}s (max_retries={max_retries})."
        raise _redacted(AIMLAPIError(message), secret) from exc
    except openai.APIConnectionError as exc:
        cause = exc.__cause__ or exc
        message = f"Connection to {base_url} failed: {cause} (max_retries={max_retries})."
        raise _redacted(AIMLAPIError(message), secret) from exc
    except openai.APIError as exc:  # e.g. an error event inside a stream
        message = f"Request to {base_url} failed: {exc.message}"
        raise _redacted(AIMLAPIError(message, server_message=exc.message, body=exc.body), secret) from exc
    except _TRANSPORT_ERRORS as exc:
        message = f"The connection to {base_url} broke while reading the reply: {exc}"
        raise _redacted(AIMLAPIError(message), secret) from exc


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


def _redacted(error: AIMLAPIError, secret: str | None) -> AIMLAPIError:
    # Very short "keys" (test placeholders) would garble ordinary words; real keys are long.
    if not secret or len(secret) < 8 or (secret not in str(error) and secret not in str(error.body)):
        return error
    return AIMLAPIError(
        str(error).replace(secret, "***"),
        status_code=error.status_code,
        server_message=error.server_message.replace(secret, "***") if error.server_message else None,
        request_id=error.request_id,
    )
