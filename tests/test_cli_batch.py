"""``aiml-agent batch``: the console script against ScriptedServer — results in input order, a summary, resuming
after an out-of-credits 403 and after the process was killed, an Agent module used as it is, a progress bar on a
terminal only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from batch_support import answer_script, question, read_jsonl
from conftest import call_cli, cli_command

from aiml_agent.testing import Reply, ScriptedServer

KEY = "test-key-batch-0042"
TOOLS = '''
def lookup(city: str) -> str:
    """Look a city up.

    :param city: The city.
    """
    return f"{city} is lovely"
'''
AGENTS = """
import os
from haystack.utils import Secret
from aiml_agent import Agent, AIMLAPIChatGenerator

def _generator(model):
    return AIMLAPIChatGenerator(api_key=Secret.from_token("t"), api_base_url=os.environ["TEST_BASE_URL"], model=model)

agent = Agent(_generator("model-a"), system_prompt="Answer as A.")
other = Agent(_generator("model-b"))
"""


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("AIMLAPI_API_KEY", "OPENAI_API_KEY", "NO_COLOR")}
    return {**base, "HAYSTACK_TELEMETRY_ENABLED": "False", **extra}


def batch(cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli_command(), "batch", *args], cwd=cwd, env=env(**extra), capture_output=True, text=True, timeout=120
    )


def write_inputs(folder: Path, count: int) -> Path:
    path = folder / "inputs.jsonl"
    with path.open("w", encoding="utf-8") as file:
        for i in range(count):
            file.write(json.dumps({"id": f"q{i}", "prompt": f"question {i}"}) + "\n")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "tools.py").write_text(TOOLS, encoding="utf-8")
    (tmp_path / "agents.py").write_text(AGENTS, encoding="utf-8")
    write_inputs(tmp_path, 30)
    return tmp_path


def test_batch_writes_results_in_input_order_and_sums_up(folder: Path) -> None:
    with ScriptedServer(answer_script(delay=0.02), max_concurrent=3) as server:
        args = ["tools.py", "inputs.jsonl", "--out", "out.jsonl", "--base-url", server.base_url, "--system", "Hi."]
        done = batch(folder, *args, "--concurrency", "8", AIMLAPI_API_KEY=KEY)
        refused = server.refused
        again = batch(folder, *args, AIMLAPI_API_KEY=KEY)
        assert len(server.requests) == 30 + refused  # the rerun asked for nothing
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "batch: 30 items · 30 ok · 0 failed · exit reasons: text 30"
    assert lines[1].startswith("180 tokens (90 prompt + 90 completion) · cost 60 credits, $0.00003 · ")
    assert f"{refused} requests sent again" in lines[1] and refused > 0
    assert lines[2] == "results: out.jsonl (in input order)"
    recorded = read_jsonl(folder / "out.jsonl")
    assert [line["id"] for line in recorded] == [f"q{i}" for i in range(30)]
    assert all(line["text"] == f"answer: question {i}" for i, line in enumerate(recorded))
    assert done.stderr == ""  # no progress bar off a terminal

    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0].endswith("30 from an earlier run · exit reasons: text 30")


def test_out_of_credits_stops_with_status_1_and_the_same_command_finishes(folder: Path) -> None:
    args = ["tools.py", "inputs.jsonl", "--out", "out.jsonl", "--concurrency", "1"]
    with ScriptedServer(answer_script(), credits=12) as server:
        stopped = batch(folder, *args, "--base-url", server.base_url, AIMLAPI_API_KEY=KEY)
    assert stopped.returncode == 1, stopped.stderr
    assert "stopped: out of credits (HTTP 403): AIMLAPI request failed: HTTP 403" in stopped.stdout
    assert "results so far: out.jsonl; run the same command again to go on from there" in stopped.stdout
    assert len(read_jsonl(folder / "out.jsonl")) == 12

    with ScriptedServer(answer_script()) as server:
        finished = batch(folder, *args, "--base-url", server.base_url, AIMLAPI_API_KEY=KEY)
        assert len(server.requests) == 18
    assert finished.returncode == 0, finished.stderr
    assert "30 items · 30 ok · 0 failed · 12 from an earlier run" in finished.stdout
    assert [line["id"] for line in read_jsonl(folder / "out.jsonl")] == [f"q{i}" for i in range(30)]


def test_a_killed_batch_resumes_with_no_item_lost_or_repeated(folder: Path) -> None:
    write_inputs(folder, 300)
    out = folder / "out.jsonl"
    with ScriptedServer(answer_script(delay=0.02)) as server:
        args = ["tools.py", "inputs.jsonl", "--out", "out.jsonl", "--base-url", server.base_url]
        process = subprocess.Popen(
            [*cli_command(), "batch", *args, "--concurrency", "4"],
            cwd=folder,
            env=env(AIMLAPI_API_KEY=KEY),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while (not out.exists() or out.read_text().count("\n") < 40) and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        written = out.read_text(encoding="utf-8")
        whole_lines = written[: written.rfind("\n") + 1].splitlines()  # a last line may be cut off
        finished = {json.loads(line)["id"].removeprefix("q") for line in whole_lines}
        served = len(server.requests)
        rerun = batch(folder, *args, AIMLAPI_API_KEY=KEY)
        asked_again = [question(r.body) for r in server.requests[served:]]
    assert process.returncode == -signal.SIGKILL and served < 300
    assert rerun.returncode == 0, rerun.stderr
    recorded = read_jsonl(out)
    assert Counter(line["id"] for line in recorded) == Counter(f"q{i}" for i in range(300))  # once each
    assert all(line["text"] == f"answer: question {i}" for i, line in enumerate(recorded))
    assert len(finished) >= 40 and not {f"question {i}" for i in finished} & set(asked_again)
    assert len(asked_again) == 300 - len(finished)  # the rerun asked for exactly what had no outcome


def test_ctrl_c_ends_with_a_summary_and_status_130(folder: Path) -> None:
    out = folder / "out.jsonl"
    with ScriptedServer(answer_script(delay=0.05)) as server:
        args = ["tools.py", "inputs.jsonl", "--out", "out.jsonl", "--base-url", server.base_url, "--concurrency", "1"]
        process = subprocess.Popen(
            [*cli_command(), "batch", *args],
            cwd=folder,
            env=env(AIMLAPI_API_KEY=KEY),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while (not out.exists() or out.read_text().count("\n") < 3) and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    finished = len(read_jsonl(out))
    assert 3 <= finished < 30
    assert stdout.splitlines()[0].startswith(f"batch: {finished} items · {finished} ok · 0 failed")
    assert "stopped: interrupted\nresults so far: out.jsonl; run the same command again" in stdout


def test_a_module_holding_an_agent_is_used_as_it_is(folder: Path) -> None:
    with ScriptedServer(answer_script()) as server:
        by_default = batch(folder, "agents.py", "inputs.jsonl", "--out", "a.jsonl", TEST_BASE_URL=server.base_url)
        by_name = batch(folder, "agents.py:other", "inputs.jsonl", "--out", "b.jsonl", TEST_BASE_URL=server.base_url)
        models = Counter(r.body["model"] for r in server.requests)
        systems = {r.body["messages"][0]["content"] for r in server.requests if r.body["model"] == "model-a"}
    assert by_default.returncode == 0 and by_name.returncode == 0, by_default.stderr + by_name.stderr
    assert models == {"model-a": 30, "model-b": 30} and systems == {"Answer as A."}


@pytest.mark.usefixtures("isolated_imports")
def test_bad_input_is_one_line(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(folder)
    monkeypatch.setenv("TEST_BASE_URL", "http://127.0.0.1:9/v1")

    def fails(*args: str) -> str:
        code, out, err = call_cli(capsys, "batch", *args)
        assert code == 1 and out == "" and len(err.splitlines()) == 1 and "Traceback" not in err, err
        return err

    assert "no such inputs file: nope.jsonl" in fails("tools.py", "nope.jsonl", "--out", "o.jsonl")
    assert "set AIMLAPI_API_KEY" in fails("tools.py", "inputs.jsonl", "--out", "o.jsonl")
    assert "agents.py is an Agent, used as it is: --model, --system cannot change it" in fails(
        "agents.py", "inputs.jsonl", "--out", "o.jsonl", "--model", "x", "--system", "y"
    )
    (folder / "notes.jsonl").write_text('{"a": 1}\n', encoding="utf-8")
    monkeypatch.setenv("AIMLAPI_API_KEY", KEY)
    assert "notes.jsonl line 1 is not a batch result" in fails("tools.py", "inputs.jsonl", "--out", "notes.jsonl")
    code, _, err = call_cli(capsys, "batch", "tools.py", "inputs.jsonl", "--out", "o.jsonl", "--concurrency", "fast")
    assert code == 2 and "expected 'auto' or a whole number of at least 1, got 'fast'" in err


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_a_progress_bar_shows_on_a_terminal(folder: Path) -> None:
    import pty

    controller, terminal = pty.openpty()
    with ScriptedServer(lambda body: Reply(text="ok", delay=0.02)) as server:
        process = subprocess.Popen(
            [*cli_command(), "batch", "tools.py", "inputs.jsonl", "--out", "out.jsonl", "--base-url", server.base_url],
            cwd=folder,
            env=env(AIMLAPI_API_KEY=KEY, TERM="xterm", COLUMNS="160"),
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
        )
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: the process is gone
                break
            if not chunk:
                break
            shown += chunk
        stdout, _ = process.communicate(timeout=60)
    os.close(controller)
    text = shown.decode("utf-8", "replace")
    assert process.returncode == 0 and "30 ok" in stdout
    assert "30/30" in text and "batch" in text and "concurrency auto" in text
