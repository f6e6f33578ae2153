"""Figure 4 — replay: a cassette-backed agent test with 3 model calls (2 tool rounds + the answer).

The cassette is first recorded against the scripted server into a temporary folder, then replayed:

- in process, interleaved: the whole test body (build the Agent, replay under ``aiml_agent.testing.cassette``,
  check the answer), the replay alone (Agent reused), and the same run live against the scripted server
  over loopback, for scale. Goal: a replayed test <= 10 ms after warm-up;
- a suite of 100 such tests: run one after the other in process, and as a real pytest run of a generated
  test module (``@pytest.mark.vcr``, recorded with ``--record-mode=once``, replayed with the plugin's
  defaults), timed from the outside (interpreter start-up, imports and collection included).

    python benchmarks/bench_replay.py [--quick] [--reps N]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from _harness import (
    API_KEY,
    HERE,
    MODEL,
    Grid,
    Table,
    emit,
    interleaved,
    parse_args,
    reps_for,
    scripted_server,
    verdict_line,
)
from contenders import PROMPT, get_weather

GOAL_MS = 10.0
SCRIPT = "steps-3"


def build_agent(base_url: str) -> Any:
    from haystack.utils import Secret

    from aiml_agent import Agent, AIMLAPIChatGenerator, create_tool

    generator = AIMLAPIChatGenerator(api_key=Secret.from_token(API_KEY), api_base_url=base_url, model=MODEL)
    return Agent(chat_generator=generator, tools=[create_tool(get_weather)])


def check(result: dict[str, Any]) -> None:
    """What the test asserts: 3 model calls, the final answer."""
    assert "sunny" in result["last_message"].text.lower(), result["last_message"]
    assert len(result["steps"]) == 3, result["steps"]


def test_body(path: Path, base_url: str) -> None:
    """One replayed test, as a user writes it."""
    from aiml_agent.testing import cassette

    agent = build_agent(base_url)
    with cassette(path):
        check(agent.run(PROMPT))


PYTEST_MODULE = '''
import os
import pytest
from haystack.utils import Secret
from aiml_agent import Agent, AIMLAPIChatGenerator, create_tool


def get_weather(city: str) -> str:
    """Get the current weather for a city.

    :param city: The city name.
    """
    return f"Sunny in {city}, 21 degrees."


@pytest.mark.vcr
@pytest.mark.parametrize("n", range(COUNT))
def test_weather(n):
    generator = AIMLAPIChatGenerator(api_key=Secret.from_token("test-key"), model="MODEL",
                                     api_base_url=os.environ["BENCH_BASE_URL"])
    agent = Agent(chat_generator=generator, tools=[create_tool(get_weather)])
    result = agent.run("PROMPT")
    assert "sunny" in result["last_message"].text.lower()
    assert len(result["steps"]) == 3
'''


def pytest_suite(count: int, folder: Path) -> tuple[float, float]:
    """Record a generated ``count``-test module, then replay it; (wall seconds, pytest's own seconds)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pytest.ini").write_text("[pytest]\n")
    module = PYTEST_MODULE.replace("COUNT", str(count)).replace("MODEL", MODEL).replace("PROMPT", PROMPT)
    (folder / "test_suite.py").write_text(textwrap.dedent(module))
    env = {**os.environ, "HAYSTACK_TELEMETRY_ENABLED": "False", "PYTHONPATH": str(HERE)}
    env.pop("AIMLAPI_API_KEY", None)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_suite.py"]
    with scripted_server(SCRIPT) as url:
        env["BENCH_BASE_URL"] = url
        subprocess.run([*argv, "--record-mode=once"], cwd=folder, env=env, check=True, capture_output=True)
    env["BENCH_BASE_URL"] = "http://127.0.0.1:9/v1"  # nothing listens there: a replay must not need it
    start = time.perf_counter()
    out = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"replayed pytest suite failed:\n{out.stdout[-3000:]}\n{out.stderr[-2000:]}")
    found = re.search(r"passed in ([\d.]+)s", out.stdout)
    return wall, float(found.group(1)) if found else float("nan")


def main(argv: list[str] | None = None) -> list[Any]:
    args = parse_args(__doc__ or "", argv)
    reps, warmup = reps_for(args, full=100, quick=2)
    suite = 2 if args.quick else 100
    with tempfile.TemporaryDirectory(prefix="aiml-bench-replay-") as tmp:
        folder = Path(tmp)
        path = folder / "agent_3_calls.yaml"
        with scripted_server(SCRIPT) as url:
            from aiml_agent.testing import cassette

            live = build_agent(url)
            with cassette(path, mode="once"):
                check(live.run(PROMPT))
            reused = build_agent(url)

            def replay_only() -> None:
                with cassette(path):
                    check(reused.run(PROMPT))

            stats = interleaved(
                {
                    "replayed test (build Agent + replay + check)": lambda: test_body(path, url),
                    "replay only (Agent reused)": replay_only,
                    "live run over loopback (no cassette)": lambda: check(live.run(PROMPT)),
                },
                reps=reps,
                warmup=warmup,
            )
        start = time.perf_counter_ns()
        for _ in range(suite):
            test_body(path, url)
        in_process = (time.perf_counter_ns() - start) / 1e9
        wall, inside = pytest_suite(suite, folder / "suite")
    table = Table(
        "Replay: one agent test with 3 model calls from a cassette (after warm-up)",
        stats,
        baseline=GOAL_MS,
        baseline_label=f"x {GOAL_MS:g} ms goal",
    )
    table.notes.append(verdict_line("replayed test", stats[0].median_ms, GOAL_MS, "ms", verdict=not args.quick))
    rows = [
        [
            f"{suite} test bodies in one process, one after the other",
            f"{in_process:.2f}",
            f"{1000 * in_process / suite:.1f}",
        ],
        [
            f"pytest, {suite} @pytest.mark.vcr tests: wall (start-up, imports included)",
            f"{wall:.2f}",
            f"{1000 * wall / suite:.1f}",
        ],
        [f"pytest, {suite} tests: as pytest reports it", f"{inside:.2f}", f"{1000 * inside / suite:.1f}"],
    ]
    suite_grid = Grid(f"Replay: a suite of {suite} such tests", ["how", "total s", "per test ms"], rows)
    return emit([table, suite_grid], args)


if __name__ == "__main__":
    main()
