"""Turn a failed request into an :class:`~aiml_agent.errors.AIMLAPIError` that says what went wrong.

AIMLAPI answers errors with one of two bodies: problem+json ``{"title", "status", "message", "requestId",
"timestamp", "error": {"name", "message"}}`` or the older flat ``{"message", "path", "requestId",
"statusCode", "timestamp"}`` (``statusCode`` a number or a string); OpenAI-compatible servers with ``{"error":
{"message", ...}}``. Whichever it is, the error names the HTTP status, the server's own words (a 400 "Body
validation error" keeps its Expected/Received hints), the request id, how many attempts were made and the
``X-Client-Request-Id`` they carried.

The openai SDK's exception is never chained to ours: it holds the request, and so the ``Authorization`` header
with the API key (and a server may echo the key in its message). What we raise holds no key anywhere: any
echo of it in a message or body is masked.
"""

from __future__ import annotations

from typing import Any

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
_MASK = "***"
_OUT_OF_CREDITS = (
    "on AIMLAPI a 403 means the account is out of credits: top up the balance at https://aimlapi.com/app/billing/ "
    "(not retried: retrying cannot help)"
)


def translated(
    error: BaseException,
    *,
    base_url: str,
    timeout: object,
    attempts: int,
    secret: str | None,
    client_request_id: str | None,
) -> AIMLAPIError | None:
    """The AIMLAPIError to raise for ``error``, or None when ``error`` is not about the request (raise it as is).

    :param error: What the SDK, the transport or the answer's parsing raised.
    :param base_url: Named in connection and timeout errors.
    :param timeout: The timeout in force (seconds), named when a request timed out.
    :param attempts: How many times the request was sent.
    :param secret: The resolved API key, masked wherever it shows.
    :param client_request_id: The ``X-Client-Request-Id`` of the request.
    """
    result: AIMLAPIError
    if isinstance(error, AIMLAPIError):
        result = error
    elif isinstance(error, openai.APIStatusError):
        result = status_error(error)
    elif isinstance(error, openai.APITimeoutError):
        result = AIMLAPIError(f"Request to {base_url} timed out after {timeout}s.")
    elif isinstance(error, openai.APIConnectionError):
        cause = error.__cause__ or error
        result = AIMLAPIError(f"Connection to {base_url} failed: {cause or type(cause).__name__}.")
    elif isinstance(error, openai.APIError):  # an error event inside a stream
        result = AIMLAPIError(
            f"The server at {base_url} reported an error in the stream: {error.message}",
            server_message=error.message,
            body=error.body,
        )
    elif isinstance(error, _TRANSPORT_ERRORS):
        result = AIMLAPIError(f"The connection to {base_url} broke while reading the reply: {error}")
    else:
        return None
    return _finished(result, attempts, client_request_id, secret)


def status_error(error: openai.APIStatusError) -> AIMLAPIError:
    """AIMLAPIError for an HTTP error answer (problem+json, AIMLAPI's flat body or OpenAI's error object)."""
    body = error.body
    server_message, request_id = server_words(body)
    request_id = request_id or error.request_id
    request = error.response.request
    message = f"AIMLAPI request failed: HTTP {error.status_code} from {request.method} {request.url}"
    message += f": {server_message or error.message}"
    if request_id:
        message += f" (requestId: {request_id})"
    if error.status_code == 403:
        message += f"; {_OUT_OF_CREDITS}"
    return AIMLAPIError(
        message, status_code=error.status_code, server_message=server_message, request_id=request_id, body=body
    )


def server_words(body: Any) -> tuple[str | None, str | None]:
    """``(message, request id)`` from an error body of any of the known shapes."""
    if isinstance(body, str):
        return (body.strip()[:500] or None), None
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    inner: dict[str, Any] = error if isinstance(error, dict) else {}
    parts = [_text(body.get("message")), _text(inner.get("message"))]
    if not any(parts):
        parts.append(_text(body.get("title")) or _text(body.get("detail")))
    words: list[str] = []
    for part in parts:
        if part and not any(part in seen for seen in words):
            words.append(part)
    request_id = body.get("requestId") or inner.get("requestId") or body.get("request_id")
    return ("\n".join(words) or None), (str(request_id) if request_id else None)


def _text(value: Any) -> str | None:
    """A message as text: AIMLAPI sends a string, or a list of validation hints (kept, one per line)."""
    if isinstance(value, list):
        return "\n".join(str(item) for item in value if item) or None
    return str(value).strip() or None if value else None


def _finished(error: AIMLAPIError, attempts: int, client_request_id: str | None, secret: str | None) -> AIMLAPIError:
    """A fresh error with the attempts and the client request id told, and the key masked everywhere."""
    noun = "attempt" if attempts == 1 else "attempts"
    message = f"{error} [{attempts} {noun}"
    message += f", X-Client-Request-Id {client_request_id}]" if client_request_id else "]"
    finished = AIMLAPIError(
        _masked(message, secret),
        status_code=error.status_code,
        server_message=_masked(error.server_message, secret),
        request_id=error.request_id,
        body=_masked(error.body, secret),
        attempts=attempts,
        client_request_id=client_request_id,
    )
    finished.__suppress_context__ = True
    return finished


def _masked(value: Any, secret: str | None) -> Any:
    """``value`` (text or JSON data) with every occurrence of ``secret`` replaced."""
    if not secret or len(secret) < _MIN_SECRET_LEN:
        return value
    if isinstance(value, str):
        return value.replace(secret, _MASK)
    if isinstance(value, dict):
        return {_masked(k, secret): _masked(v, secret) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v, secret) for v in value]
    return value
