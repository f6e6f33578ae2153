"""``aiml-agent run``: the console script against ScriptedServer, recorded to a cassette, replayed offline."""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import WEATHER_TOOLS, call_cli, run_cli

from aiml_agent.testing import RecordedRequest, Reply, ScriptedServer, ToolCallReply

PROMPT = "What's the weather in Paris, and the time on Mars?"
KEY = "test-key-7f3a9c"


def script() -> list[Reply]:
    return [
        Reply(
            text="Let me check.",
            tool_calls=[
                ToolCallReply("get_weather", {"city": "Paris"}, id="call_w"),
                ToolCallReply("get_time", {"tz": "Mars/Olympus"}, id="call_t"),
            ],
            usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        ),
        Reply(
            text="It is sunny in Paris.",
            usage={"prompt_tokens": 40, "completion_tokens": 6, "total_tokens": 46},
            cost={"credits_used": 42, "usd_spent": 0.000021},
        ),
    ]


EXPECTED_OUTPUT = """\
Let me check.

→ get_weather({"city": "Paris"})  T
  ← Sunny, 22 celsius in Paris
→ get_time({"tz": "Mars/Olympus"})  T
  ✗ Error: tool 'get_time' failed: ValueError: unknown time zone 'Mars/Olympus'

It is sunny in Paris.

2 steps · 61 tokens (50 prompt + 11 completion) · cost 42 credits, $0.000021 · T
"""


def without_timings(text: str) -> str:
    return re.sub(r"\b\d+(\.\d+)? m?s\b", "T", text)


@dataclass
class Recording:
    folder: Path
    cassette: Path
    stdout: str
    stderr: str
    returncode: int
    requests: list[RecordedRequest]


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    """One run recorded against ScriptedServer into a cassette (the server is stopped afterwards)."""
    folder = tmp_path_factory.mktemp("cli_run")
    (folder / "weather.py").write_text(WEATHER_TOOLS)
    with ScriptedServer(script()) as server:
        args = ["run", "weather.py", PROMPT, "--base-url", server.base_url, "--cassette", "run.yaml", "--record"]
        result = run_cli(*args, cwd=folder, key=KEY)
        requests = server.requests
    return Recording(folder, folder / "run.yaml", result.stdout, result.stderr, result.returncode, requests)


def test_run_streams_the_answer_and_shows_each_tool_call_and_a_summary(recording: Recording) -> None:
    assert recording.returncode == 0, recording.stderr
    assert without_timings(recording.stdout) == EXPECTED_OUTPUT
    assert "\x1b[" not in recording.stdout  # stdout is a pipe: plain text
    assert recording.stderr == ""

    first, second = recording.requests
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert first.body["stream"] is True and first.body["messages"] == [{"role": "user", "content": PROMPT}]
    assert [tool["function"]["name"] for tool in first.body["tools"]] == ["get_weather", "get_time"]
    tool_messages = [m for m in second.body["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["call_w", "call_t"]
    assert "Sunny, 22 celsius in Paris" in tool_messages[0]["content"]
    assert "unknown time zone 'Mars/Olympus'" in tool_messages[1]["content"]


def test_the_recorded_cassette_holds_no_key_and_replays_offline(recording: Recording) -> None:
    assert recording.cassette.is_file()
    assert KEY not in recording.cassette.read_text()
    assert not list(recording.folder.glob(".*recording*"))  # the side file was moved into place

    replay = run_cli("run", "weather.py", PROMPT, "--cassette", "run.yaml", cwd=recording.folder)  # no key

    assert replay.returncode == 0, replay.stderr
    assert without_timings(replay.stdout) == EXPECTED_OUTPUT


def test_trace_prints_a_line_per_span_to_stderr(recording: Recording) -> None:
    replay = run_cli("run", "weather.py", PROMPT, "--cassette", "run.yaml", "--trace", cwd=recording.folder)

    assert replay.returncode == 0, replay.stderr
    assert without_timings(replay.stdout) == EXPECTED_OUTPUT  # the answer is untouched: spans go to stderr
    names = [line.split(" ms ")[0].rsplit(maxsplit=1)[0] for line in replay.stderr.splitlines()]
    assert names[0] == names[3] == "span chat openai/gpt-5-chat-latest"
    assert sorted(names[1:3]) == ["span execute_tool get_time", "span execute_tool get_weather"]  # concurrent
    assert names[4:] == ["span invoke_agent"]
    error_line = next(line for line in replay.stderr.splitlines() if "get_time" in line)
    assert "ERROR ValueError" in error_line and "call.id=call_t" in error_line


def test_replay_of_a_changed_prompt_fails_naming_the_difference(
    recording: Recording, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(recording.folder)
    monkeypatch.setattr(sys, "path", list(sys.path))
    retries = count_retries(monkeypatch)
    started = time.perf_counter()
    code, _, err = call_cli(capsys, "run", "weather.py", "What's the weather in Rome?", "--cassette", "run")

    assert retries == [] and time.perf_counter() - started < 5  # default retries, yet none: it fails at once
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("aiml-agent: error: run.yaml: no recording matches POST /v1/chat/completions")
    assert '+ "content": "What\'s the weather in Rome?"' in err and "--record" in err


def count_retries(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record each retry the generator makes (its number), still waiting as it would."""
    from aiml_agent import _retries

    retries: list[int] = []
    real = _retries.delay

    def counting(attempt: int, error: BaseException) -> float:
        retries.append(attempt)
        return real(attempt, error)

    monkeypatch.setattr(_retries, "delay", counting)
    return retries


@pytest.mark.usefixtures("isolated_imports")
def test_a_recorded_server_error_replays_with_the_retry_that_followed_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weather.py").write_text(WEATHER_TOOLS)
    monkeypatch.setenv("AIMLAPI_API_KEY", KEY)
    retries = count_retries(monkeypatch)
    overloaded = Reply.error(503, "Overloaded", headers={"retry-after-ms": "10"})
    with ScriptedServer([overloaded, Reply(text="Sunny.")]) as server:
        args = ["run", "weather.py", "Weather?", "--base-url", server.base_url, "--cassette", "retry", "--record"]
        code, out, err = call_cli(capsys, *args)
    assert (code, err, retries) == (0, "", [1]) and out.startswith("Sunny.")
    monkeypatch.delenv("AIMLAPI_API_KEY")

    code, out, err = call_cli(capsys, "run", "weather.py", "Weather?", "--cassette", "retry")

    assert (code, err) == (0, "") and out.startswith("Sunny.")  # the 503, then the retry's answer
    assert retries == [1, 1]


def test_cassette_show_reads_the_cassettes_the_cli_records(recording: Recording) -> None:
    shown = run_cli("cassette", "show", "run.yaml", cwd=recording.folder)

    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert f"  user: {PROMPT}" in out
    assert "  tools (2): get_weather, get_time" in out
    assert '  assistant → get_weather({"city": "Paris"})  [call_w]' in out
    assert "  tool [call_w]: Sunny, 22 celsius in Paris" in out
    assert "  assistant: It is sunny in Paris." in out
    assert "  15 tokens (10 prompt + 5 completion)\n" in out
    assert "  46 tokens (40 prompt + 6 completion) · cost 42 credits, $0.000021\n" in out
    # the same words as the summary line of the run that recorded it
    assert "total: 2 requests · 61 tokens (50 prompt + 11 completion) · cost 42 credits, $0.000021\n" in out


def test_run_json_with_model_system_strict_and_max_steps(tmp_path: Path) -> None:
    (tmp_path / "weather.py").write_text(WEATHER_TOOLS)
    with ScriptedServer([Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Oslo", "unit": None})])]) as server:
        result = run_cli(
            "run", "weather.py", "Weather in Oslo?", "--base-url", server.base_url, "--json", "--strict",
            "--model", "acme/model-1", "--system", "Be brief.", "--max-steps", "1",
            cwd=tmp_path, key=KEY,
        )  # fmt: skip
        (request,) = server.requests

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # nothing but the JSON on stdout
    assert data["exit_reason"] == "max_steps"
    assert data["usage"]["requests"] == 1
    (step,) = data["steps"]
    (call,) = step["tool_calls"]
    assert call["tool_call"]["arguments"] == {"city": "Oslo", "unit": None}
    assert call["result"] == "Sunny, 22 celsius in Oslo" and call["error"] is False  # null -> the default
    assert [m["role"] for m in data["messages"]] == ["system", "user", "assistant", "tool"]

    assert request.body["model"] == "acme/model-1"
    assert request.body["messages"][0] == {"role": "system", "content": "Be brief."}
    for tool in request.body["tools"]:
        function = tool["function"]
        assert function["strict"] is True and function["parameters"]["additionalProperties"] is False
        assert sorted(function["parameters"]["required"]) == sorted(function["parameters"]["properties"])


def test_an_api_error_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "weather.py").write_text(WEATHER_TOOLS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("AIMLAPI_API_KEY", KEY)
    with ScriptedServer([Reply.error(401, "Invalid API key provided", request_id="req-123")]) as server:
        code, _, err = call_cli(capsys, "run", "weather.py", "hi", "--base-url", server.base_url)

    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    for fragment in ("aiml-agent: error: ", "HTTP 401", "Invalid API key provided", "req-123"):
        assert fragment in err
    assert KEY not in err


def test_summary_line_names_cost_and_why_the_run_stopped() -> None:
    from aiml_agent import Usage
    from aiml_agent.cli._run_terminal import summary_line

    result = {
        "steps": [object()] * 3,
        "usage": Usage(requests=3, prompt_tokens=7, completion_tokens=3, total_tokens=10, usd_spent=1.5e-06),
        "exit_reason": "max_steps",
    }
    line = summary_line(result, 1.5)
    assert line == "3 steps · 10 tokens (7 prompt + 3 completion) · cost $0.0000015 · 1.50 s · stopped: max_steps"
    assert summary_line({"steps": [object()], "usage": Usage(), "exit_reason": "text"}, 0.25) == "1 step · 250 ms"


def test_usage_text_is_one_wording_for_every_command() -> None:
    from aiml_agent.cli._shared import usage_text

    assert usage_text({"prompt_tokens": 7, "completion_tokens": 3}) == "10 tokens (7 prompt + 3 completion)"
    assert usage_text({"total_tokens": 12}) == "12 tokens"  # some servers send only the total
    assert usage_text({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "requests": 1}) == ""
    assert usage_text(None, {"credits_used": 3, "usd_spent": 1.5e-06, "other": 2, "flag": True, "note": "x"}) == (
        "cost 3 credits, $0.0000015, other 2"
    )
    assert usage_text(None, None) == ""
