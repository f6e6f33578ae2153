"""Run every benchmark, one after the other, and print all their tables (plain or Markdown).

    python benchmarks/run_all.py [--quick] [--markdown] [--only import,agent_loop,...]

``--markdown`` prints the tables ready to paste into the README's results section.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

BENCHMARKS = (
    "import",
    "tool_creation",
    "agent_loop",
    "parallel_tools",
    "replay",
    "memory",
    "concurrency",
    "tracing",
    "sessions",
    "catalogue",
    "mcp",
    "batch",
)


def main(argv: list[str] | None = None) -> dict[str, list[Any]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few repetitions of each (a smoke run)")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help="comma-separated subset of " + ", ".join(BENCHMARKS)
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    passed = [flag for flag, on in (("--quick", args.quick), ("--markdown", args.markdown)) if on]
    print(
        f"# aiml-agent benchmarks: Python {platform.python_version()} on {platform.machine()}, "
        f"{'quick' if args.quick else 'full'} run\n"
    )
    results: dict[str, list[Any]] = {}
    failed: list[str] = []
    for name in chosen:
        started = time.perf_counter()
        print(f"## {name} (python benchmarks/bench_{name}.py {' '.join(passed)})\n".replace(" )", ")"), flush=True)
        try:
            results[name] = importlib.import_module(f"bench_{name}").main(passed)
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"({name}: {time.perf_counter() - started:.1f} s)\n", flush=True)
    if failed:
        sys.exit(f"benchmarks failed: {', '.join(failed)}")
    return results


if __name__ == "__main__":
    main()
