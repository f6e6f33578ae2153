"""Tracing cost: the agent loop (1 tool call + answer, zero-latency model) uninstrumented and instrumented.

Uninstrumented runs go through four no-op hooks (a global read each); the first table shows what they cost
per run beside the run itself. The second compares ``aiml_agent.instrument()`` with spans dropped (a provider
without processors), exported to memory, and exported with ``capture_content=True``, against the same loop
uninstrumented, interleaved in one run.

    python benchmarks/bench_tracing.py [--quick] [--reps N]
"""

from __future__ import annotations

import time
from typing import Any

from _harness import Stats, Table, emit, interleaved, parse_args, reps_for, scripted_server
from contenders import make_aiml_agent

UNINSTRUMENTED = "not instrumented"


def hook_cost_ns(calls: int = 200_000) -> float:
    """Nanoseconds one uninstrumented hook costs (enter, finish, exit), averaged over ``calls``."""
    from aiml_agent import _observe

    started = time.perf_counter_ns()
    for _ in range(calls):
        with _observe.tool_call(None) as scope:  # type: ignore[arg-type]
            scope.finish(None)
    return (time.perf_counter_ns() - started) / calls


def main(argv: list[str] | None = None) -> list[Table]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from aiml_agent import _observe, tracing

    args = parse_args(__doc__ or "", argv)
    reps, warmup = reps_for(args, full=200, quick=3)
    exporter = InMemorySpanExporter()
    exporting = TracerProvider()
    exporting.add_span_processor(SimpleSpanProcessor(exporter))
    observers: dict[str, Any] = {UNINSTRUMENTED: None}
    for name, provider, content in (
        ("instrumented, spans dropped", TracerProvider(), False),
        ("instrumented, exported to memory", exporting, False),
        ("instrumented, exported, capture_content", exporting, True),
    ):
        tracing.instrument(tracer_provider=provider, capture_content=content)
        observers[name] = _observe.observer
    tracing.uninstrument()

    with scripted_server("loop") as url:
        run, _ = make_aiml_agent(url, stream=False)

        def contender(observer: Any) -> Any:
            def once() -> Any:
                _observe.observer = observer
                try:
                    return run()
                finally:
                    _observe.observer = None
                    exporter.clear()

            return once

        stats = interleaved({name: contender(o) for name, o in observers.items()}, reps=reps, warmup=warmup)
    per_hook = hook_cost_ns()
    base = next(s for s in stats if s.name == UNINSTRUMENTED)
    hooks_per_run = 4  # one run, two model calls, one tool call
    hooks = Stats(f"the {hooks_per_run} no-op hooks of one run", [round(per_hook * hooks_per_run)])
    tables = [
        Table(
            "Uninstrumented: the hooks' own cost per run",
            [base, hooks],
            baseline=UNINSTRUMENTED,
            baseline_label="x run",
            notes=[f"one no-op hook: {per_hook:.0f} ns"],
        ),
        Table(
            "Agent loop with tracing (sync, 1 tool call + answer)",
            stats,
            baseline=UNINSTRUMENTED,
            baseline_label="x uninstrumented",
        ),
    ]
    return emit(tables, args)


if __name__ == "__main__":
    main()
