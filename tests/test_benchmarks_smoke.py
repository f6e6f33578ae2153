"""Keep the benchmarks working: each one runs in its quick mode (a few repetitions) and prints its tables.

Timings are never asserted (the machine is shared and noisy); what is checked is that every contender ran,
that the tables have the rows they promise, and that the goal notes are there for the README.
"""

from __future__ import annotations

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
        run, _ = contenders.make_floor(url, stream=False)
        assert "sunny" in run().lower()
        run, _ = contenders.make_floor(url, stream=True)
        assert "sunny" in run().lower()


def test_agent_loop_quick(capsys: pytest.CaptureFixture[str]) -> None:
    tables = _bench("bench_agent_loop").main(["--quick", "--reps", "2"])
    assert len(tables) == 4  # sync/async x plain/streamed
    for table in tables:
        names = _names(table)
        assert names[:3] == ["floor (openai SDK loop)", "haystack Agent + seed", "aiml_agent.Agent"]
        for stats in table.stats:  # each contender ran, or is a peer that says how to install it
            assert len(stats.samples_ns) == 2 or (stats.name != "aiml_agent.Agent" and "[bench]" in stats.missing)
        assert "goal aiml_agent.Agent vs floor" in table.notes[0]
    assert "x floor" in capsys.readouterr().out


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


def test_replay_quick() -> None:
    table, suite = _bench("bench_replay").main(["--quick"])
    assert _names(table)[0] == "replayed test (build Agent + replay + check)"
    assert any("goal replayed test" in note for note in table.notes)
    assert [row[0].split(",")[0] for row in suite.rows] == ["2 test bodies in one process", "pytest", "pytest"]


def test_memory_quick() -> None:
    (grid,) = _bench("bench_memory").main(["--quick", "--runs", "5"])
    assert [row[0] for row in grid.rows] == ["floor (openai SDK loop)", "haystack Agent + seed", "aiml_agent.Agent"]


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
