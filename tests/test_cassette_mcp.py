"""The cassette defaults for MCP traffic: JSON-RPC requests match on method and params (not ids or the client's
``_meta``), and session ids are written as a placeholder. End to end in tests/test_mcp_http.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from vcr.request import Request

from aiml_agent.testing.cassettes import REDACTED, json_body, scrubbed


def rpc(id_: Any, method: str, params: dict[str, Any]) -> Request:
    body = {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}
    return Request("POST", "http://127.0.0.1:1/mcp", json.dumps(body).encode(), {})


def test_json_rpc_requests_match_whatever_their_ids_and_meta() -> None:
    meta = {"_meta": {"io.modelcontextprotocol/clientInfo": {"name": "aiml-agent", "version": "0.1.0"}}}
    recorded = rpc(3, "tools/call", {"name": "add", "arguments": {"a": 1}, **meta})
    json_body(rpc(7, "tools/call", {"name": "add", "arguments": {"a": 1}}), recorded)
    json_body(rpc("x-9", "tools/call", {"name": "add", "arguments": {"a": 1}, "_meta": {"other": 1}}), recorded)
    handshake = rpc(0, "initialize", {"protocolVersion": "2025-11-25", "clientInfo": {"version": "0.2.0"}})
    json_body(rpc(0, "initialize", {"protocolVersion": "2025-11-25", "clientInfo": {"version": "0.1.0"}}), handshake)


@pytest.mark.parametrize(
    "changed",
    [
        rpc(3, "tools/call", {"name": "add", "arguments": {"a": 2}}),
        rpc(3, "tools/call", {"name": "sub", "arguments": {"a": 1}}),
        rpc(3, "tools/list", {"name": "add", "arguments": {"a": 1}}),
        rpc(0, "initialize", {"protocolVersion": "2026-07-28"}),
    ],
)
def test_a_different_method_or_params_does_not_match(changed: Request) -> None:
    recorded = rpc(3, "tools/call", {"name": "add", "arguments": {"a": 1}})
    handshake = rpc(0, "initialize", {"protocolVersion": "2025-11-25"})
    with pytest.raises(AssertionError):
        json_body(changed, handshake if changed.body and b"initialize" in changed.body else recorded)


def test_an_id_still_matters_outside_json_rpc() -> None:
    recorded = Request("POST", "http://x/v1/chat/completions", b'{"id":1,"model":"m"}', {})
    with pytest.raises(AssertionError):
        json_body(Request("POST", "http://x/v1/chat/completions", b'{"id":2,"model":"m"}', {}), recorded)


def test_session_ids_are_kept_as_a_placeholder() -> None:
    interaction = {
        "request": {"method": "POST", "uri": "http://x/mcp", "body": None, "headers": {"Mcp-Session-Id": ["abc123"]}},
        "response": {"status": {"code": 200}, "headers": {"mcp-session-id": ["abc123"]}, "body": {"string": ""}},
    }
    data = scrubbed({"version": 1, "interactions": [interaction]})
    saved = data["interactions"][0]
    assert saved["request"]["headers"] == {"Mcp-Session-Id": [REDACTED]}
    assert saved["response"]["headers"] == {"mcp-session-id": [REDACTED]}
    assert interaction["request"]["headers"] == {"Mcp-Session-Id": ["abc123"]}  # the input is left as it was
