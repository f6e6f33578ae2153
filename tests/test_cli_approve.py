"""``aiml-agent run`` with tools that need approval: the console script pauses and lists what waits, or with
``--approve`` asks on the terminal (y / n / e with JSON arguments checked before they are used)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import call_cli, cli_command

from aiml_agent.testing import RecordedRequest, Reply, ScriptedServer, ToolCallReply

KEY = "test-key-approve"

REFUND_TOOLS = '''
"""Refund tools for the CLI approval tests."""
from pathlib import Path

from aiml_agent import tool


@tool(requires_approval=True)
def refund(order_id: str, amount: float) -> str:
    """Refund an order.

    Args:
        order_id: The order.
        amount: Euros to refund.
    """
    Path("refunds.log").open("a").write(f"{order_id} {amount}\\n")
    return f"Refunded {amount:g} EUR on {order_id}"
'''


def script() -> list[Reply]:
    call = ToolCallReply("refund", {"order_id": "A-1", "amount": 250}, id="call_r")
    return [Reply(text="Let me refund that.", tool_calls=[call]), Reply(text="Done.")]


def run_approving(folder: Path, server: ScriptedServer, answers: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AIMLAPI_API_KEY", "OPENAI_API_KEY", "NO_COLOR")}
    env.update(HAYSTACK_TELEMETRY_ENABLED="False", AIMLAPI_API_KEY=KEY)
    args = [*cli_command(), "run", "refunds.py", "Refund A-1", "--base-url", server.base_url, *extra]
    return subprocess.run(args, cwd=folder, env=env, input=answers, capture_output=True, text=True, timeout=120)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "refunds.py").write_text(REFUND_TOOLS)
    return tmp_path


def refunds(folder: Path) -> list[str]:
    log = folder / "refunds.log"
    return log.read_text().splitlines() if log.exists() else []


def tool_result_sent(requests: list[RecordedRequest]) -> str:
    return next(m["content"] for m in requests[1].body["messages"] if m["role"] == "tool")


def test_without_approve_the_run_pauses_and_says_what_waits(folder: Path) -> None:
    with ScriptedServer(script()) as server:
        done = run_approving(folder, server, "")
        assert len(server.requests) == 1
    assert done.returncode == 0, done.stderr
    assert refunds(folder) == []
    out = done.stdout
    assert "→ refund(" in out and "⏸ waiting for approval (id call_r)" in out
    assert "The run paused: these tool calls wait for approval and did not run:" in out
    assert '  refund({"order_id": "A-1", "amount": 250})  [id call_r]' in out
    assert "Run again with --approve" in out and "stopped: approval_required" in out


def in_process(
    folder: Path, answers: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *extra: str
) -> tuple[int, str, str, list[RecordedRequest]]:
    """``main()`` in this process (cheaper than a subprocess), stdin holding ``answers``."""
    monkeypatch.chdir(folder)
    monkeypatch.setenv("AIMLAPI_API_KEY", KEY)
    monkeypatch.setattr(sys, "stdin", io.StringIO(answers))
    with ScriptedServer(script()) as server:
        code, out, err = call_cli(capsys, "run", "refunds.py", "Refund A-1", "--base-url", server.base_url, *extra)
        return code, out, err, server.requests


@pytest.mark.usefixtures("isolated_imports")
def test_yes_runs_the_call(folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err, requests = in_process(folder, "y\n", capsys, monkeypatch, "--approve")
    assert code == 0, err
    assert refunds(folder) == ["A-1 250.0"]
    assert 'refund({"order_id": "A-1", "amount": 250}) needs your approval' in err
    assert "run it? [y]es / [n]o / [e]dit arguments:" in err
    assert tool_result_sent(requests) == "Refunded 250 EUR on A-1"
    assert "Done." in out and "stopped:" not in out


def test_edit_asks_again_until_the_arguments_are_valid(folder: Path) -> None:
    answers = 'maybe\ne\n{not json\ne\n{"order_id": "A-1", "amount": "lots"}\ne\n{"order_id": "A-1", "amount": 50}\n'
    with ScriptedServer(script()) as server:
        done = run_approving(folder, server, answers, "--approve")
        requests = server.requests
    assert done.returncode == 0, done.stderr
    assert refunds(folder) == ["A-1 50.0"]
    err = done.stderr
    assert "answer y, n or e" in err and "not valid JSON" in err
    assert "invalid arguments:\n    - amount: Input should be a valid number" in err
    assert tool_result_sent(requests).endswith("Refunded 50 EUR on A-1")


@pytest.mark.usefixtures("isolated_imports")
@pytest.mark.parametrize("answers", ["n\n", ""], ids=["no", "end of input"])
def test_no_or_no_answer_denies_and_the_model_is_told(
    folder: Path, answers: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err, requests = in_process(folder, answers, capsys, monkeypatch, "--approve")
    assert code == 0, err
    assert refunds(folder) == []
    assert tool_result_sent(requests).startswith("Error: the call to tool 'refund' was not approved")
    assert "✗ Error: the call to tool 'refund' was not approved" in out


@pytest.mark.usefixtures("isolated_imports")
def test_json_output_lists_the_pending_calls_and_stays_clean(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err, _ = in_process(folder, "", capsys, monkeypatch, "--json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    assert data["exit_reason"] == "approval_required"
    assert data["pending"] == [{"id": "call_r", "tool_name": "refund", "arguments": {"order_id": "A-1", "amount": 250}}]


@pytest.mark.usefixtures("isolated_imports")
def test_tools_lists_each_tools_controls(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "limits.py").write_text(
        "from aiml_agent import tool\n\n\n"
        "def over_limit(arguments, ctx) -> bool:\n    return True\n\n\n"
        "@tool(timeout=2.5, retries=1, max_output_chars=500, requires_approval=over_limit)\n"
        "def pay(amount: float) -> str:\n"
        '    """Pay.\n\n    Args:\n        amount: Euros.\n    """\n'
        "    return 'paid'\n"
    )
    monkeypatch.chdir(folder)
    code, out, err = call_cli(capsys, "tools", "refunds.py")
    assert code == 0, err
    assert "  controls: needs approval\n" in out
    code, out, err = call_cli(capsys, "tools", "limits.py")
    assert code == 0, err
    assert (
        "  controls: timeout 2.5 s, retries 1, output cut at 500 chars, needs approval when over_limit(arguments) "
        "says so\n" in out
    )
