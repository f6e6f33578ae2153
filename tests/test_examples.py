"""Every example runs offline from its committed cassette, as a user runs it: a subprocess with no API key.

The runs start together (module fixture) so the suite waits for the slowest one, not for their sum.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
REPLAY_LINE = "[replay: no AIMLAPI_API_KEY set, so the model's answers come from cassettes/examples/"
TIMEOUT = 180

# Lines each example must print, in this order (the cassettes hold ScriptedServer's scripted answers).
EXPECTED = {
    "quickstart": [
        "A: Natural Language Processing (NLP) is the branch of artificial intelligence",
        "usage: 8 prompt + 19 completion = 27 tokens",
        "cost: 63 credits, $0.0000315",
    ],
    "weather_agent": [
        'tool get_weather({"city": "Paris", "unit": "celsius"}) -> {"city": "Paris", "temperature": 18.0',
        "Assistant: It's 18 °C and partly cloudy in Paris",
        "2 model calls, 80 tokens, 63 credits, exit reason: text",
    ],
    "toolset_from_class": [
        "tools: add, complete, list_items",
        'step 2: list_items({}) -> [{"id": 1, "title": "Buy milk", "due": null, "done": true}',
        "[x] 1. Buy milk",
        "[ ] 2. Book the dentist (due Friday)",
    ],
    "strict_tools": [
        '  express: {"type": ["boolean", "null"]',
        "required: ['customer', 'items', 'ship_to', 'gift_note', 'express'], additionalProperties: False",
        "place_order called with: gift_note=None, express=False,",
        "null for gift_note, express: the function got its Python default instead",
        "Assistant: Order ORD-0001 is placed",
    ],
    "streaming": [
        "[calling get_time ...]",
        '[get_time({"city": "Tokyo"}) returned \'21:30\']',
        "It's 21:30 in Tokyo, so most shops are closing.",
        "(2 model calls, 61 tokens)",
    ],
    "approval": [
        "First run (exit reason: approval_required)",
        '    waiting for approval: refund({"order_id": "A-1001", "amount_eur": 250, "reason": "arrived broken"})',
        "Resumed run (exit reason: text)",
        "  step 1 (resumed from the saved messages)",
        '"amount_eur": 100, "reason": "arrived broken"} -> Refunded 100 EUR on A-1001 (arrived broken).',
        "refunds made: ['A-1001: 100 EUR']",
        "Assistant: I'm sorry your espresso machine arrived broken. I've refunded 100 EUR",
    ],
    "switch_models": [
        "== openai/gpt-4o: family openai, schema dialect openai, strict tools: yes",
        'plan_trip({"traveller": "Ada", "stops": [{"city": "Lyon", "nights": 2}',
        "Assistant: Ada's trip: Lyon for two nights",
        "== google/gemini-2.5-flash: family google, schema dialect google, strict tools: no",
        "-> Ada: Lyon -> Marseille, 3 nights, budget 600 EUR",
        "Assistant: Ada's trip: Lyon for two nights",
    ],
    "parallel_async": [
        "then 3 tool calls in",
        'fetch_hotels({"city": "Lisbon", "nights": 3}) took',
        "-> the tool calls ran concurrently",
        "Assistant: Lisbon looks good",
    ],
    "traced_agent": [
        "span chat openai/gpt-5-chat-latest",
        "span execute_tool get_exchange_rate",
        "span invoke_agent",
        "cost.usd=3.15e-05",
        "Assistant: 250 euros are about 270 US dollars",
    ],
    "chat_session": [  # two processes: turns 1-2, then turn 3 from the database after a restart
        'tool book_table({"restaurant": "Casa do Rio", "day": "Friday", "time": "20:00", "people": 2})',
        "Assistant: Done: Casa do Rio, Friday at 20:00, for 2 people. Your reference is R-1024.",
        'tool change_booking({"reference": "R-1024", "people": 4}) -> Booking R-1024 now for 4 people.',
        "[restarting: a new process continues the conversation from the database]",
        "[new process: session 'ada' has 8 messages from 2 runs]",
        "Assistant: You're eating at Casa do Rio on Friday at 20:00, for 4 people. Your booking reference is R-1024.",
        "run 1 (openai/gpt-5-chat-latest): 73 tokens, 63 credits, exit reason: text",
        "run 3 (openai/gpt-5-chat-latest): 100 tokens, 63 credits, exit reason: text",
    ],
    "mcp_agent": [
        "[replay: the MCP server's answers come from the same cassette; no server is started]",
        "tools from the MCP server: wx_forecast, wx_air_quality",
        'tool wx_forecast({"city": "Lisbon", "days": 2}) -> {"city": "Lisbon", "days": [{"day": 0, "high_celsius": 24.0',
        'tool local_time({"city": "Lisbon"}) -> It is 14:05 in Lisbon.',
        "Assistant: Lisbon looks great: sunny both days",
        "2 model calls, 109 tokens, exit reason: text",
    ],
    "batch_eval": [
        "france     ✓ Paris",
        "brazil     ✗ Brasilia     (expected Brasília)",
        "score: 7/8 correct",
        "8 items: 8 ok, 0 failed · 16 model requests · 392 tokens · 504 credits",
        "rerun with the same checkpoint: 8 resumed, 0 model requests",
    ],
}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AIMLAPI_API_KEY", "OPENAI_API_KEY")}
    env["HAYSTACK_TELEMETRY_ENABLED"] = "False"
    return env


def _start(args: list[str], cwd: Path = ROOT, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args,
        cwd=cwd,
        env={**_env(), **env},
        text=True,
        encoding="utf-8",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, subprocess.Popen[str]]]:
    """All example runs, started at once: each script, the example test file under pytest, and an edited script."""
    edited = tmp_path_factory.mktemp("edited") / "quickstart.py"
    source = (EXAMPLES / "quickstart.py").read_text(encoding="utf-8")
    assert "Answer in one sentence." in source
    edited.write_text(source.replace("Answer in one sentence.", "Answer in two sentences."), encoding="utf-8")
    started = {name: _start([sys.executable, str(EXAMPLES / f"{name}.py")]) for name in EXPECTED}
    started["pytest"] = _start(
        [
            sys.executable,
            "-m",
            "pytest",
            "examples/test_replayable_agent.py",
            "-q",
            "-p",
            "no:cacheprovider",
            "--record-mode=none",
        ]
    )
    started["unit"] = _start(
        [sys.executable, "-m", "pytest", "examples/test_agent_unit.py", "-q", "-p", "no:cacheprovider"]
    )
    # OPENAI_LOG=info: the client would log "Retrying request" on stderr for every retry
    started["edited"] = _start([sys.executable, str(edited)], PYTHONPATH=str(EXAMPLES), OPENAI_LOG="info")
    yield started
    for process in started.values():
        if process.poll() is None:
            process.kill()
            process.communicate()


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"{process.args} still running after {TIMEOUT} s; its output so far:\n{stdout}\n{stderr}")
    return process.returncode, stdout, stderr


def _assert_in_order(text: str, expected: list[str]) -> None:
    position = 0
    for line in expected:
        found = text.find(line, position)
        assert found >= 0, f"{line!r} missing (or out of order) in:\n{text}"
        position = found + len(line)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_example_replays_offline(runs: dict[str, subprocess.Popen[str]], name: str) -> None:
    code, stdout, stderr = _finish(runs[name])
    assert code == 0, f"examples/{name}.py failed:\n{stdout}\n{stderr}"
    assert f"{REPLAY_LINE}{name}.yaml" in stdout
    _assert_in_order(stdout, EXPECTED[name])


def test_example_test_file_passes_by_replay(runs: dict[str, subprocess.Popen[str]]) -> None:
    code, stdout, stderr = _finish(runs["pytest"])
    assert code == 0, f"{stdout}\n{stderr}"
    assert "2 passed" in stdout
    cassettes = ROOT / "cassettes" / "examples" / "test_replayable_agent"
    assert sorted(p.name for p in cassettes.iterdir()) == [
        "test_agent_looks_up_the_order.yaml",
        "test_agent_looks_up_the_order_async.yaml",
    ]


def test_unit_test_example_passes_without_http(runs: dict[str, subprocess.Popen[str]]) -> None:
    code, stdout, stderr = _finish(runs["unit"])
    assert code == 0, f"{stdout}\n{stderr}"
    assert "7 passed" in stdout


def test_edited_prompt_fails_the_replay_with_a_diff(runs: dict[str, subprocess.Popen[str]]) -> None:
    code, stdout, stderr = _finish(runs["edited"])
    assert code != 0
    assert "no longer matches the recording in cassettes/examples/quickstart.yaml" in stderr
    assert """-      "content": "What's Natural Language Processing? Answer in one sentence.",""" in stderr
    assert """+      "content": "What's Natural Language Processing? Answer in two sentences.",""" in stderr
    assert "Natural Language Processing (NLP) is" not in stdout  # no stale answer was printed
    assert "Retrying request" not in stderr  # with the default retries, a request with no recording is not retried


def _copy_quickstart(root: Path) -> None:
    """examples/quickstart.py and its plumbing under ``root``, so recording never touches the repository."""
    (root / "examples").mkdir()
    for name in ("_support.py", "_recording.py", "quickstart.py"):
        shutil.copy(EXAMPLES / name, root / "examples" / name)


def _quickstart(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "examples/quickstart.py", *args],
        cwd=root,
        env={**_env(), **env},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_record_offline_writes_a_cassette_without_secrets(tmp_path: Path) -> None:
    """``--record`` without a key records against ScriptedServer (how the committed cassettes were made)."""
    _copy_quickstart(tmp_path)
    recorded = _quickstart(tmp_path, "--record")
    assert recorded.returncode == 0, recorded.stderr
    assert "[recording cassettes/examples/quickstart.yaml against a local ScriptedServer" in recorded.stdout
    text = (tmp_path / "cassettes" / "examples" / "quickstart.yaml").read_text(encoding="utf-8")
    assert "Answer in one sentence." in text and "the branch of artificial intelligence" in text
    assert "cost: 63 credits" in recorded.stdout
    for secret in ("offline-recording-key", "authorization", "bearer", "api-key"):
        assert secret not in text.lower()


def test_with_a_key_runs_live_and_record_rerecords(tmp_path: Path) -> None:
    """A key means a live run (no cassette read or written); ``--record`` with a key records the live traffic."""
    from aiml_agent.testing import Reply, ScriptedServer

    _copy_quickstart(tmp_path)
    key = "sk-fake-live-KEY-0123456789"
    with ScriptedServer([Reply(text="Live answer one."), Reply(text="Live answer two.")]) as server:
        live = _quickstart(tmp_path, AIMLAPI_API_KEY=key, AIMLAPI_BASE_URL=server.base_url)
        recorded = _quickstart(tmp_path, "--record", AIMLAPI_API_KEY=key, AIMLAPI_BASE_URL=server.base_url)
        requests, base_url = server.requests, server.base_url

    assert live.returncode == 0, live.stderr
    assert "A: Live answer one." in live.stdout and "[replay" not in live.stdout
    assert recorded.returncode == 0, recorded.stderr
    assert f"[recording cassettes/examples/quickstart.yaml against {base_url}]" in recorded.stdout
    assert "A: Live answer two." in recorded.stdout
    assert [r.headers["authorization"] for r in requests] == [f"Bearer {key}"] * 2
    text = (tmp_path / "cassettes" / "examples" / "quickstart.yaml").read_text(encoding="utf-8")
    assert "Live answer two." in text and "Live answer one." not in text and key not in text

    replayed = _quickstart(tmp_path)  # and the new recording replays with no key, the server gone
    assert replayed.returncode == 0, replayed.stderr
    assert "A: Live answer two." in replayed.stdout
