"""``aiml-agent run --deps``: what ``RunContext`` tools receive as ``ctx.deps``, inline JSON or ``@file``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error, call_cli, run_cli

from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply

KEY = "test-key-5d1e"

ORDER_TOOLS = '''
from aiml_agent import RunContext


def my_orders(ctx: RunContext) -> str:
    """List the orders of the current user."""
    return f"orders of user {ctx.deps['user_id']} in {ctx.deps['shop']['name']}"
'''

DEPS = {"user_id": 42, "shop": {"name": "Acme"}}


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "orders.py").write_text(ORDER_TOOLS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("AIMLAPI_API_KEY", KEY)
    return tmp_path


def run_with(capsys: pytest.CaptureFixture[str], deps_argument: str) -> tuple[int, str, str]:
    script = [Reply(tool_calls=[ToolCallReply("my_orders", {})]), "You have two orders."]
    with ScriptedServer(script) as server:
        code, _, err = call_cli(
            capsys, "run", "orders.py", "My orders?", "--base-url", server.base_url, "--json", "--deps", deps_argument
        )
        requests = server.requests
    tool_message = [m for m in requests[-1].body["messages"] if m["role"] == "tool"]
    return code, tool_message[0]["content"] if tool_message else "", err


def test_inline_json_reaches_the_tool_as_ctx_deps(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, result, err = run_with(capsys, json.dumps(DEPS))

    assert (code, err) == (0, "")
    assert result == "orders of user 42 in Acme"


def test_a_json_file_reaches_the_tool_as_ctx_deps(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "deps.json").write_text(json.dumps(DEPS, indent=2))

    code, result, err = run_with(capsys, "@deps.json")

    assert (code, err) == (0, "")
    assert result == "orders of user 42 in Acme"


def test_bad_deps_are_one_line_before_anything_runs(folder: Path) -> None:
    (folder / "broken.json").write_text('{"user_id": 42,}')
    cases = [
        (["--deps", "{user_id: 42}"], ["--deps: the value is not valid JSON", "line 1, column 2", "@file.json"]),
        (["--deps", "@missing.json"], ["--deps: no such file: missing.json"]),
        (["--deps", "@broken.json"], ["--deps: broken.json is not valid JSON", "line 1, column 16"]),
        (["--deps", "@."], ["--deps: cannot read ."]),
    ]
    for extra, fragments in cases:
        # a server that is never called: bad input fails before any request
        assert_one_line_error(
            run_cli("run", "orders.py", "hi", "--base-url", "http://127.0.0.1:9/v1", *extra, cwd=folder, key=KEY),
            *fragments,
        )


def test_deps_is_in_the_run_help() -> None:
    shown = run_cli("run", "--help")
    assert "--deps JSON" in shown.stdout and "@FILE" in shown.stdout
