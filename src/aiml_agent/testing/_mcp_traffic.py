"""MCP traffic in cassettes: what of a JSON-RPC request has to match, and the session header kept as a placeholder.

An MCP client numbers its JSON-RPC requests in the order it happens to send them (concurrent tool calls race)
and describes itself in ``_meta`` / ``clientInfo``: neither says what is asked, so a request matches on its
method and params only. A session id is needed again on replay (the client echoes it, and ends the session
with a ``DELETE`` only when it has one), so the header stays, with ``REDACTED`` for its value.
"""

from __future__ import annotations

from typing import Any

#: Headers kept in a cassette with ``REDACTED`` for their value.
PLACEHOLDER_HEADERS = frozenset({"mcp-session-id"})
_UNMATCHED = ("id",)
_PARAMS_UNMATCHED = ("_meta", "clientInfo")


def matched_part(body: Any) -> Any:
    """What of a parsed request body must match: all of it, but of a JSON-RPC message (or a batch of them) only
    its method and params, without ``_meta`` and ``clientInfo``."""
    if isinstance(body, list):
        return [matched_part(item) for item in body]
    if not (isinstance(body, dict) and body.get("jsonrpc") == "2.0"):
        return body
    matched = {key: value for key, value in body.items() if key not in _UNMATCHED}
    params = matched.get("params")
    if isinstance(params, dict):
        matched["params"] = {key: value for key, value in params.items() if key not in _PARAMS_UNMATCHED}
    return matched


def is_placeholder_header(name: str) -> bool:
    """Whether a header is kept with a placeholder value (a protocol needs it echoed back)."""
    return name.lower() in PLACEHOLDER_HEADERS


def with_placeholders(headers: dict[str, Any], placeholder: str) -> dict[str, Any]:
    """``headers`` with the value of each placeholder header replaced by ``placeholder``."""
    return {name: [placeholder] if is_placeholder_header(name) else value for name, value in headers.items()}
