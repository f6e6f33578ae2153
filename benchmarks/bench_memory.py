"""Figure 6 — memory: 200 concurrent ``run_async`` calls (1 tool call + answer each) on one agent.

Each contender runs in a child process of its own (imports done, one warm-up run, ``gc.collect()``), so
the baseline is that same process just before the 200 runs. Reported: resident memory before, the peak
while the runs are in flight (sampled from /proc every 2 ms; ``ru_maxrss`` where /proc is missing), the
growth per run, and in a second child the peak of Python allocations per run (tracemalloc; skipped with
``--quick``). The scripted
server is a separate process, so its memory is not counted.

    python benchmarks/bench_memory.py [--quick] [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

from _harness import HERE, NOT_INSTALLED, Grid, PeakRSS, emit, rss_bytes, scripted_server

CONTENDERS = ("floor (openai SDK loop)", "haystack Agent + aimlapi-haystack", "aiml_agent.Agent")


def child(name: str, url: str, runs: int, trace: bool) -> dict[str, Any]:
    """Measure one contender in this (fresh) process."""
    sys.path.insert(0, str(HERE))
    from contenders import make_aiml_agent, make_floor, make_haystack

    maker = {CONTENDERS[0]: make_floor, CONTENDERS[1]: make_haystack, CONTENDERS[2]: make_aiml_agent}[name]
    _, run_async = maker(url, False)

    async def main() -> dict[str, Any]:
        await asyncio.gather(*(run_async() for _ in range(min(runs, 10))))  # warm-up: pools, lazy imports
        gc.collect()
        if trace:
            import tracemalloc

            tracemalloc.start()
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            results = await asyncio.gather(*(run_async() for _ in range(runs)))
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            return {"traced_peak": peak - before, "ok": len(results)}
        before = rss_bytes()
        maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        sampler = PeakRSS()
        sampler.start()
        start = time.perf_counter()
        results = await asyncio.gather(*(run_async() for _ in range(runs)))
        wall = time.perf_counter() - start
        peak = sampler.stop()
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return {
            "before": before,
            "peak": max(peak, maxrss if maxrss > maxrss_before else 0),
            "wall": wall,
            "ok": len(results),
        }

    return asyncio.run(main())


def _measure(name: str, url: str, runs: int, trace: bool) -> dict[str, Any]:
    argv = [sys.executable, str(HERE / "bench_memory.py"), "--child", name, url, str(runs)]
    out = subprocess.run(
        [*argv, *(["--trace"] if trace else [])],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HAYSTACK_TELEMETRY_ENABLED": "False"},
    )
    if out.returncode != 0:
        raise RuntimeError(f"memory child for {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> list[Grid]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=None, help="concurrent runs (default 200)")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("NAME", "URL", "RUNS"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        name, url, runs = args.child
        print(json.dumps(child(name, url, int(runs), args.trace)))
        return []
    runs = args.runs or (20 if args.quick else 200)
    rows = []
    mb = 1024 * 1024
    with scripted_server("loop") as url:
        from contenders import aiml_agent_ready, aimlapi_haystack_installed

        for name in CONTENDERS:
            if (name, aimlapi_haystack_installed()) == (CONTENDERS[1], False):
                rows.append([name, NOT_INSTALLED, "-", "-", "-", "-"])
                continue
            if name == CONTENDERS[2] and not aiml_agent_ready():
                continue
            rss = _measure(name, url, runs, trace=False)
            traced = "-" if args.quick else f"{_measure(name, url, runs, trace=True)['traced_peak'] / runs / 1024:.1f}"
            growth = rss["peak"] - rss["before"]
            rows.append(
                [
                    name,
                    f"{rss['before'] / mb:.1f}",
                    f"{rss['peak'] / mb:.1f}",
                    f"{growth / runs / 1024:.1f}",
                    traced,
                    f"{rss['wall']:.2f}",
                ]
            )
    grid = Grid(
        f"Memory: {runs} concurrent run_async (1 tool call + answer each), one agent",
        [
            "contender",
            "RSS before MB",
            "peak RSS MB",
            "RSS growth KB/run",
            "traced peak KB/run",
            f"wall s ({runs} runs)",
        ],
        rows,
        ["baseline = the same child process after imports and a warm-up, just before the runs"],
    )
    ns = argparse.Namespace(markdown=args.markdown)
    return emit([grid], ns)


if __name__ == "__main__":
    main()
