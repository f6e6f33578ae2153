"""``aiml-agent tools --mcp-stdio COMMAND`` / ``--mcp-http URL`` through the console script: an MCP server's tools
as the model sees them, strict or not, next to a TARGET's; failures as one line; no server left running."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from conftest import assert_one_line_error, run_cli
from mcp_support import DEMO_SERVER, HTTPServer, process_gone

STDIO = shlex.join([sys.executable, str(DEMO_SERVER)])


def test_an_mcp_servers_tools_as_the_model_sees_them() -> None:
    result = run_cli("tools", "--mcp-stdio", STDIO)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "add\n  Add two whole numbers.\n  parameters:\n    a (integer, required)\n" in out
    assert "    b (integer, optional, default 2)" in out
    assert "time_now\n  A fixed time (a tool whose name has a dot)." in out
    assert out.rstrip().endswith(f"12 tools from {STDIO}")
    assert "warning: add: parameter 'a' has no description" in result.stderr  # the server's author can fix it


def test_strict_shows_the_strict_schemas_and_why_a_tool_is_sent_non_strict_and_the_server_stops(tmp_path: Path) -> None:
    pid_file = tmp_path / "server.pid"
    result = run_cli("tools", "--mcp-stdio", f"{STDIO} --pid-file {shlex.quote(str(pid_file))}", "--strict")
    assert result.returncode == 0, result.stderr
    assert "forecast  [strict]" in result.stdout
    assert "    days (integer | null, required)  default: 1" in result.stdout
    tag = result.stdout.split("\ntag\n", 1)[1]
    assert tag.startswith("  Free-form labels: a schema strict mode cannot express.\n  sent non-strict: tool 'tag'")
    assert process_gone(int(pid_file.read_text()))  # the command closed the session: the server is gone


def test_json_is_the_request_tools_field_for_an_http_server_and_a_target(tmp_path: Path) -> None:
    target = tmp_path / "more.py"
    target.write_text('def shout(text: str) -> str:\n    """Shout.\n\n    :param text: What to shout.\n    """\n')
    with HTTPServer() as server:
        result = run_cli("tools", str(target), "--mcp-http", server.url, "--json", "--strict")
    assert result.returncode == 0, result.stderr
    sent = {entry["function"]["name"]: entry["function"] for entry in json.loads(result.stdout)}
    assert list(sent)[:2] == ["shout", "add"]
    assert sent["forecast"]["strict"] is True and "strict" not in sent["tag"]


def test_failures_are_one_line() -> None:
    assert_one_line_error(run_cli("tools"), "give a TARGET", "--mcp-stdio")
    assert_one_line_error(
        run_cli("tools", "--mcp-stdio", "aiml-agent-no-such-server --flag"),
        "aiml-agent-no-such-server --flag: cannot connect to MCP server",
    )
    assert_one_line_error(run_cli("tools", "--mcp-http", "localhost:8000/mcp"), "needs an http:// or https:// URL")
    assert_one_line_error(run_cli("tools", "--mcp-http", "http://127.0.0.1:9/mcp"), "cannot connect to MCP server at")
