"""Keep the benchmarks working: each one runs in its quick mode (a few repetitions) and prints its tables.

Timings are never asserted (the machine is shared and noisy); what is checked is that every contender ran,
that the tables have the rows they promise, and that the goal notes are there for the README.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _bench(name: str) -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(name)


def _names(table: Any) -> list[str]:
    return [row[0] for row in table.rows()]


def test_harness_interleaves_and_tables_ratios() -> None:
    harness = _bench("_harness")
    calls: list[str] = []
    stats = harness.interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, reps=4, warmup=1)
    assert calls[:2] == ["a", "b"]  # warm-up, then rounds whose first contender rotates
    assert calls[2:] == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert [len(s.samples_ns) for s in stats] == [4, 4]
    table = harness.Table(
        "t", [harness.Stats("base", [2_000_000] * 3), harness.Stats("x", [3_000_000] * 3)], baseline="base"
    )
    assert table.ratio("x") == pytest.approx(1.5)
    assert "1.50x" in table.render() and "| x | 3.000 |" in table.markdown()
    assert "1.50x" in harness.goal_note(table, "x", 1.1, "x vs base") and "MISSED" in harness.goal_note(
        table, "x", 1.1, "x vs base"
    )
    quick = harness.goal_note(table, "x", 1.1, "x vs base", verdict=False)  # --quick: the figure, no verdict
    assert "1.50x" in quick and "met" not in quick and "MISSED" not in quick


def test_tables_show_cpu_per_run_and_can_compare_by_it() -> None:
    harness = _bench("_harness")
    base = harness.Stats("base", [4_000_000] * 3, cpu_ns=[2_000_000] * 3)
    ours = harness.Stats("ours", [3_000_000] * 3, cpu_ns=[1_000_000] * 3)
    table = harness.Table("t", [base, ours], baseline="base", metric="cpu")
    assert table.ratio("ours") == pytest.approx(0.5) and table.ratio("ours", "wall") == pytest.approx(0.75)
    assert "| ours | 3.000 | 3.000 | 1.000 | 3 | 0.50x |" in table.markdown()
    stats = harness.interleaved({"a": lambda: sum(range(10_000))}, reps=3, warmup=0)
    assert len(stats[0].cpu_ns) == 3 and stats[0].cpu_ms is not None


def test_a_peer_that_is_not_installed_is_a_row_saying_so() -> None:
    harness = _bench("_harness")
    stats = harness.in_order(
        ["floor", "peer", "ours"],
        [harness.Stats("ours", [3_000_000]), harness.Stats("floor", [2_000_000])],
        {"peer": harness.NOT_INSTALLED},
    )
    table = harness.Table("t", stats, baseline="floor")
    assert [row[0] for row in table.rows()] == ["floor", "peer", "ours"]
    assert table.rows()[1][1] == "not installed: pip install -e '.[bench]'" and table.ratio("peer") is None
    assert "not measured" in harness.goal_note(table, "peer", 1.1, "peer vs floor")
    assert "| peer | not installed" in table.markdown()
    assert harness.installed("json") and not harness.installed("no_such_package.sub")


def test_scripted_server_subprocess_answers_tool_call_then_text() -> None:
    harness = _bench("_harness")
    contenders = _bench("contenders")
    with harness.scripted_server("loop") as url:
        for stream in (False, True):
            for make in (contenders.make_floor, contenders.make_limit):
                run, run_async = make(url, stream)
                assert "sunny" in run().lower() and "sunny" in asyncio.run(run_async()).lower()
        harness.server_stats(url, reset=True)
        run, _ = contenders.make_limit(url, stream=True)
        run(), run()
        assert harness.server_stats(url)["requests"] == 4


def test_fast_server_speaks_the_scripted_wire_and_counts_connections() -> None:
    """The benchmarks' server: the generator parses its answers (tool calls streamed in fragments), latency holds
    answers back, and the connections it counts are the ones clients opened."""
    import asyncio
    import time

    from haystack.utils import Secret

    from aiml_agent import Agent, AIMLAPIChatGenerator, create_tool

    harness = _bench("_harness")
    contenders = _bench("contenders")
    fast = _bench("_fast_server")
    with fast.FastServer(harness.make_script("loop"), latency=0.05) as server:
        generator = AIMLAPIChatGenerator(api_key=Secret.from_token("k"), api_base_url=server.base_url)
        agent = Agent(generator, [create_tool(contenders.get_weather)])
        started = time.perf_counter()
        results = [agent.run("Weather?", streaming_callback=lambda chunk: None) for _ in range(3)]
        results.append(asyncio.run(agent.run_async("Weather?")))
        assert time.perf_counter() - started >= 8 * 0.05  # 8 answers, each held back 50 ms
        assert all(r["last_message"].text == "It is sunny in Paris, 21 degrees." for r in results)
        assert results[0]["steps"][0].tool_calls[0].tool_call.arguments == {"city": "Paris"}
        stats = harness.server_stats(server.base_url)
    assert stats["requests"] == 8 and stats["connections"] == 2  # one sync, one async connection, each reused


def test_agent_loop_quick(capsys: pytest.CaptureFixture[str]) -> None:
    tables = _bench("bench_agent_loop").main(["--quick", "--reps", "2"])
    assert len(tables) == 4  # sync/async x plain/streamed
    for table in tables:
        names = _names(table)
        assert names[:4] == [
            "limit (bare HTTP loop)",
            "floor (openai SDK loop)",
            "haystack Agent + aimlapi-haystack",
            "aiml_agent.Agent",
        ]
        for stats in table.stats:  # each contender ran, or is a peer that says how to install it
            assert len(stats.samples_ns) == 2 or (stats.name != "aiml_agent.Agent" and "[bench]" in stats.missing)
        assert "goal aiml_agent.Agent CPU/run vs floor" in table.notes[0]
        assert not any(word in note for note in table.notes for word in (", met", "MISSED"))  # --quick: no verdict
    assert "CPU x floor" in capsys.readouterr().out


def test_tool_creation_quick() -> None:
    tables = _bench("bench_tool_creation").main(["--quick"])
    names = _names(tables[0])
    assert {"aiml_agent create_tool", "aiml_agent complete", "haystack create_tool_from_function"} <= set(names)
    assert any("goal aiml_agent complete" in note for note in tables[0].notes)
    assert "aiml_agent complete" in _names(tables[1])  # the pydantic-model variant
    assert _names(tables[2]) == ["create", "tool_spec read", "1st invoke", "2nd invoke"]


def test_tool_creation_uses_fresh_functions() -> None:
    bench = _bench("bench_tool_creation")
    first, second = bench.fresh_functions(2)
    assert first is not second and first.__code__ is not second.__code__
    assert first(**bench.ARGS)[0]["cabin"] == "business"


def test_parallel_tools_quick() -> None:
    sync_table, async_table = _bench("bench_parallel_tools").main(["--quick"])
    assert "aiml_agent run()" in _names(sync_table) and "haystack run() (4 at once)" in _names(sync_table)
    assert "haystack run_async() (4 at once)" in _names(async_table)
    assert any(note.startswith("goal aiml_agent run()") for note in sync_table.notes)


def test_import_quick() -> None:
    table, net = _bench("bench_import").main(["--quick"])
    assert "import aiml_agent" in _names(table)
    notes = {note.split(":")[0]: note for note in net.notes}
    assert notes["import aiml_agent"].endswith("heavy: none")  # the lazy exports load nothing heavy
    agent_heavy = notes["from aiml_agent import Agent"].split("heavy: ")[1].split(", ")
    assert not {"jsonschema", "docstring_parser", "openai", "aiml_agent.tools"} & set(agent_heavy)


def test_replay_quick() -> None:
    table, suite = _bench("bench_replay").main(["--quick"])
    assert _names(table)[0] == "replayed test (build Agent + replay + check)"
    assert any("goal replayed test" in note for note in table.notes)
    assert [row[0].split(",")[0] for row in suite.rows] == ["2 test bodies in one process", "pytest", "pytest"]


def test_concurrency_quick() -> None:
    (grid,) = _bench("bench_concurrency").main(["--quick", "--n", "2"])
    rows = {row[0]: row for row in grid.rows}
    assert list(rows) == ["limit (bare asyncio loop)", "floor (openai SDK loop)", "aiml_agent.Agent"]
    assert grid.headers[-1] == "connections" and all(int(row[-1]) == 2 for row in rows.values())  # 2 workers
    assert float(rows["aiml_agent.Agent"][1]) > 0  # runs/s


def test_memory_quick() -> None:
    (grid,) = _bench("bench_memory").main(["--quick", "--runs", "5"])
    assert [row[0] for row in grid.rows] == [
        "floor (openai SDK loop)",
        "haystack Agent + aimlapi-haystack",
        "aiml_agent.Agent",
    ]


def test_sessions_quick() -> None:
    runs, writers = _bench("bench_sessions").main(["--quick"])
    assert _names(runs)[0] == "no session" and "SQLiteSession, 1000 messages, max_messages=20" in _names(runs)
    assert all(len(stats.samples_ns) == 3 for stats in runs.stats)
    assert any(note.startswith("goal short history") for note in runs.notes)
    assert _names(writers) == ["1 thread x 16 runs", "8 threads x 2 runs"]


def test_catalogue_quick() -> None:
    (table,) = _bench("bench_catalogue").main(["--quick"])
    assert _names(table)[:2] == ["json.loads(catalogue.json)", "load the embedded catalogue"]
    assert all(len(stats.samples_ns) == 5 for stats in table.stats)
    assert any(note.startswith("goal load the embedded catalogue <= 5 ms") for note in table.notes)


def test_batch_quick() -> None:
    (grid,) = _bench("bench_batch").main(["--quick", "--items", "40"])
    names = [row[0] for row in grid.rows]
    assert names == [
        "run_batch concurrency=4",
        "run_batch concurrency=16",
        "run_batch concurrency=64",
        'run_batch concurrency="auto"',
        "asyncio.gather + Semaphore(16)",
        "asyncio.gather + Semaphore(64)",
    ]
    assert all(row[3] == "0" for row in grid.rows[:4])  # run_batch lost no item
    assert grid.notes[0].startswith("goal auto >= 0.90x run_batch concurrency=")


def test_run_all_rejects_unknown_benchmark() -> None:
    with pytest.raises(SystemExit):
        _bench("run_all").main(["--only", "nope"])


def test_tracing_benchmark_compares_instrumented_runs_with_the_uninstrumented_loop() -> None:
    tables = _bench("bench_tracing").main(["--quick"])
    hooks, loop = tables
    assert _names(hooks)[0] == "not instrumented" and "no-op hooks" in _names(hooks)[1]
    assert _names(loop) == [
        "not instrumented",
        "instrumented, spans dropped",
        "instrumented, exported to memory",
        "instrumented, exported, capture_content",
    ]
    assert all(loop.ratio(name) is not None for name in _names(loop))
    from aiml_agent import _observe

    assert _observe.observer is None  # the benchmark leaves nothing instrumented
