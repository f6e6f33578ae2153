"""One logical model request (all its attempts): its ``X-Client-Request-Id``, how many attempts were made, its
answer's JSON, and the AIMLAPIError a failure becomes."""

from __future__ import annotations

import json
from typing import Any

from aiml_agent._http import AsyncRetryingClient, RetryingClient
from aiml_agent._openai_errors import translated
from aiml_agent._request import CLIENT_REQUEST_ID_HEADER
from aiml_agent._responses import not_json_answer, wire_meta
from aiml_agent._retries import Attempts
from aiml_agent.errors import AIMLAPIError


class Exchange:
    """One logical request: made once per `run` / `run_async` call, shared by the retries of that call.

    :param client: The client the request goes through (its base URL, timeout and key are named in errors).
    :param args: The ``create`` arguments (their ``X-Client-Request-Id`` header is the request's id).
    """

    def __init__(self, client: RetryingClient | AsyncRetryingClient, args: dict[str, Any]) -> None:
        self.client = client
        self.url = str(client.base_url).rstrip("/")
        self.attempts = Attempts()
        headers = args.get("extra_headers") or {}
        self.client_request_id = next(
            (str(v) for k, v in headers.items() if k.lower() == CLIENT_REQUEST_ID_HEADER.lower()), None
        )

    def answer(self, response: Any) -> Any:
        """A whole answer's JSON data; AIMLAPIError naming the server when the body is not JSON."""
        try:
            return json.loads(response.content)
        except json.JSONDecodeError as error:
            raise not_json_answer(error, self.url) from None
        except UnicodeDecodeError as error:
            raise AIMLAPIError(f"The answer from {self.url} is not JSON: {error}") from None

    def wire(self, response: Any) -> dict[str, Any]:
        """What the exchange tells about the reply: ids and cost headers (see `wire_meta`)."""
        return wire_meta(response.headers, self.client_request_id)

    def failure(self, error: BaseException) -> AIMLAPIError | None:
        """The AIMLAPIError to raise for ``error`` (None: not a request failure, raise it as it is)."""
        return translated(
            error,
            base_url=self.url,
            timeout=self.client.timeout,
            attempts=max(self.attempts.count, 1),
            secret=self.client.api_key,
            client_request_id=self.client_request_id,
        )
