"""What a cassette never holds: credentials, account and request identifiers, and run-dependent headers.

Applied by the cassette serializers on every save (see :mod:`aiml_agent.testing.cassettes`):

- every request and response header whose name contains token, key, secret, auth, password, session or
  cookie is dropped, and so are account and request identifiers (organization, project, request ids, cf-ray);
- the values of such request headers (``Bearer`` stripped) and of ``*_API_KEY`` environment variables are
  replaced by ``REDACTED`` wherever else they appear (URLs, bodies, other headers), from 6 characters on;
- request headers that change between runs or machines and that matching never reads (``x-stainless-*``,
  ``user-agent``, ``http-referer``/``referer``, ``x-title``) are dropped, so recording twice gives the same file;
- gzip/deflate response bodies are decoded.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from aiml_agent._secrets import MIN_SECRET_LEN, REDACTED, environment_secrets, longest_first
from aiml_agent.testing._mcp_traffic import is_placeholder_header, with_placeholders

PLACEHOLDER_KEY = "aiml-cassette-placeholder-key"  #: the key set while replaying; never a secret

#: A header whose name contains one of these words carries a credential: it is never written.
SECRET_HEADER_WORDS = ("token", "key", "secret", "auth", "password", "session", "cookie")
# Account and request identifiers: no credential, but they tie a file to an account or to a server's logs.
_IDENTIFIER_HEADERS = frozenset({"cf-ray", "openai-organization", "openai-project"})
_IDENTIFIER_PARTS = ("request-id", "requestid", "organization")
# Request headers that differ between runs or machines (SDK and Python versions, retry counts, timeouts) and
# the attribution headers the generator sends; matching never reads headers, so leaving them out loses nothing.
_NOISE_HEADERS = frozenset({"user-agent", "http-referer", "referer", "x-title"})
_NOISE_PREFIXES = ("x-stainless-",)


def _normal(name: str) -> str:
    return name.lower().replace("_", "-")


def is_credential_header(name: str) -> bool:
    """Whether a header's name says it carries a credential (token, key, secret, auth, password, session, cookie)."""
    return any(word in _normal(name) for word in SECRET_HEADER_WORDS)


def is_secret_header(name: str) -> bool:
    """Whether a header is never written: a credential, or an account or request identifier."""
    name = _normal(name)
    return is_credential_header(name) or name in _IDENTIFIER_HEADERS or any(part in name for part in _IDENTIFIER_PARTS)


def is_noise_header(name: str) -> bool:
    """Whether a request header changes between runs or machines (SDK versions, retry counts, attribution)."""
    name = _normal(name)
    return name in _NOISE_HEADERS or name.startswith(_NOISE_PREFIXES)


def _header(headers: dict[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value[0] if isinstance(value, list) and value else value if isinstance(value, str) else None
    return None


def _secret_values(interactions: list[dict[str, Any]]) -> list[str]:
    values = environment_secrets()
    for interaction in interactions:
        for name, value in interaction["request"].get("headers", {}).items():
            if is_secret_header(name) and "cookie" not in name.lower():  # a cookie header holds many values
                for item in value if isinstance(value, list) else [value]:
                    values.add(str(item).removeprefix("Bearer ").removeprefix("bearer ").strip())
    values.discard(PLACEHOLDER_KEY)
    return longest_first({v for v in values if len(v) >= MIN_SECRET_LEN})


def _scrub(value: Any, secrets: list[str]) -> Any:
    from vcr.filters import replace_text

    for secret in secrets:
        value = replace_text(value, secret, REDACTED)
    return value


def _decode_body(response: dict[str, Any]) -> None:
    from vcr.filters import AVAILABLE_DECOMPRESSORS

    headers, body = response.get("headers", {}), response.get("body", {}).get("string")
    encoding = (_header(headers, "content-encoding") or "").strip().lower()
    if encoding not in AVAILABLE_DECOMPRESSORS or not isinstance(body, bytes):
        return
    decoded = AVAILABLE_DECOMPRESSORS[encoding](body)
    if decoded is body:
        return
    for key in [k for k in headers if k.lower() in ("content-encoding", "content-length")]:
        del headers[key]
    headers["content-length"] = [str(len(decoded))]
    try:
        response["body"]["string"] = decoded.decode("utf-8")
    except UnicodeDecodeError:
        response["body"]["string"] = decoded


def scrubbed(cassette_dict: dict[str, Any]) -> dict[str, Any]:
    """A copy of a cassette's data without secret or run-dependent headers, secret values replaced, bodies decoded."""
    data = deepcopy(cassette_dict)
    interactions = data.get("interactions", [])
    secrets = _secret_values(interactions)
    for interaction in interactions:
        request, response = interaction["request"], interaction["response"]
        # an MCP session id is kept as a placeholder: replay needs the header, never its value
        request["headers"] = with_placeholders(
            {
                k: v
                for k, v in request.get("headers", {}).items()
                if is_placeholder_header(k) or not (is_secret_header(k) or is_noise_header(k))
            },
            REDACTED,
        )
        response["headers"] = with_placeholders(
            {
                k: v
                for k, v in response.get("headers", {}).items()
                if is_placeholder_header(k) or not is_secret_header(k)
            },
            REDACTED,
        )
        _decode_body(interaction["response"])
        interaction["request"] = _scrub(interaction["request"], secrets)
        interaction["response"] = _scrub(interaction["response"], secrets)
    return data
