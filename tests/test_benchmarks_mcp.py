"""Keep the MCP benchmark working (quick mode); timings are never asserted."""

from __future__ import annotations

from test_benchmarks_smoke import _bench, _names


def test_mcp_quick() -> None:
    (table,) = _bench("bench_mcp").main(["--quick", "--reps", "2"])
    assert _names(table) == [
        "floor (mcp SDK Client)",
        "SDK Client on a loop thread",
        "MCPTool.invoke_async",
        "MCPTool.invoke (sync)",
    ]
    assert all(len(stats.samples_ns) == 2 for stats in table.stats)
    assert table.notes[0].startswith("goal MCPTool.invoke_async vs the thread hop <= 1.15x")
