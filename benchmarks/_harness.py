"""Shared benchmark harness: interleaved timing (wall and CPU), result tables, profiles by package, resident
memory, and the scripted server.

Why interleave: the machine is shared and noisy. Running contender A 200 times and then contender B 200
times lets a burst of load land on one of them only; taking A, B, C, A, B, C, ... (rotating who goes first)
spreads the noise evenly, so the *ratios* between contenders stay meaningful even when absolute times
drift. Every figure reports medians (robust to outliers) and the 90th percentile, the process CPU time per
run (less sensitive than wall time to what else the machine does: the model server is another process, so it
is not counted), plus the ratio to a baseline measured in the same run. ``--quick`` prints the figures without
verdicts: a few repetitions say nothing about a goal.

The scripted model runs in a child process (``python benchmarks/_fast_server.py SCRIPT``), so its
request handling does not compete with the code under test for the GIL, and its memory is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import statistics
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

HERE = Path(__file__).resolve().parent
NOT_INSTALLED = "not installed: pip install -e '.[bench]'"
MODEL = "openai/gpt-5-chat-latest"
API_KEY = "test-key"  # a fake key: the scripted server never checks it


# -- arguments ---------------------------------------------------------------------------------------
def parse_args(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """The options every benchmark takes: ``--quick`` (a smoke run), ``--reps N``, ``--markdown``, ``--profile``."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few repetitions only (keeps it working)")
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions per contender")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument("--profile", action="store_true", help="also show where the time goes (cProfile)")
    return parser.parse_args(argv)


def reps_for(args: argparse.Namespace, full: int, quick: int = 3) -> tuple[int, int]:
    """(repetitions, warm-up runs) for this invocation."""
    reps = args.reps or (quick if args.quick else full)
    return reps, (1 if args.quick else max(3, reps // 10))


# -- timing ------------------------------------------------------------------------------------------
@dataclass
class Stats:
    """Samples of one contender, in nanoseconds: wall clock, and (when measured) the process's CPU time."""

    name: str
    samples_ns: list[int]
    missing: str = ""  # why there are no samples (e.g. a peer that is not installed)
    cpu_ns: list[int] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ns) / 1e6

    @property
    def cpu_ms(self) -> float | None:
        """Median CPU time per run (this process, all its threads), or None when not measured."""
        return statistics.median(self.cpu_ns) / 1e6 if self.cpu_ns else None

    @property
    def p90_ms(self) -> float:
        ordered = sorted(self.samples_ns)
        return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))] / 1e6


def installed(module: str) -> bool:
    """True when ``module`` can be imported (peers live in the optional ``bench`` extra)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a missing parent package
        return False


def in_order(names: list[str], stats: list[Stats], missing: dict[str, str]) -> list[Stats]:
    """``stats`` in the order of ``names``, with an empty row saying why for each contender in ``missing``."""
    by_name = {s.name: s for s in stats}
    return [by_name.get(name) or Stats(name, [], missing=missing.get(name, "did not run")) for name in names]


def _rounds(names: list[str], reps: int) -> Iterator[list[str]]:
    """Each round runs every contender once; who goes first rotates from round to round."""
    for i in range(reps):
        k = i % len(names)
        yield names[k:] + names[:k]


def interleaved(contenders: dict[str, Callable[[], Any]], *, reps: int, warmup: int) -> list[Stats]:
    """Time each sync contender ``reps`` times (wall and CPU), interleaved, after ``warmup`` untimed runs of each."""
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    samples: dict[str, list[int]] = {name: [] for name in names}
    cpu: dict[str, list[int]] = {name: [] for name in names}
    for order in _rounds(names, reps):
        gc.collect()
        for name in order:
            fn = contenders[name]
            start, start_cpu = time.perf_counter_ns(), time.process_time_ns()
            fn()
            cpu[name].append(time.process_time_ns() - start_cpu)
            samples[name].append(time.perf_counter_ns() - start)
    return [Stats(name, samples[name], cpu_ns=cpu[name]) for name in names]


def interleaved_async(contenders: dict[str, Callable[[], Awaitable[Any]]], *, reps: int, warmup: int) -> list[Stats]:
    """Like :func:`interleaved`, for coroutine functions, all in one event loop."""
    return asyncio.run(interleaved_on_loop(contenders, reps=reps, warmup=warmup))


async def interleaved_on_loop(
    contenders: dict[str, Callable[[], Awaitable[Any]]], *, reps: int, warmup: int
) -> list[Stats]:
    """:func:`interleaved_async` on the running loop (for contenders holding resources opened on it)."""
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            await contenders[name]()
    samples: dict[str, list[int]] = {name: [] for name in names}
    cpu: dict[str, list[int]] = {name: [] for name in names}
    for order in _rounds(names, reps):
        gc.collect()
        for name in order:
            fn = contenders[name]
            start, start_cpu = time.perf_counter_ns(), time.process_time_ns()
            await fn()
            cpu[name].append(time.process_time_ns() - start_cpu)
            samples[name].append(time.perf_counter_ns() - start)
    return [Stats(name, samples[name], cpu_ns=cpu[name]) for name in names]


# -- tables ------------------------------------------------------------------------------------------
@dataclass
class Table:
    """One printed result: rows of medians with their ratio to a baseline row (or to a fixed value).

    ``metric`` is what the ratio compares: ``"wall"`` (median wall time) or ``"cpu"`` (median CPU time per run).
    """

    title: str
    stats: list[Stats]
    baseline: str | float | None = None
    baseline_label: str = ""
    notes: list[str] = field(default_factory=list)
    metric: str = "wall"

    def _value(self, s: Stats, metric: str | None = None) -> float | None:
        if not s.samples_ns:
            return None
        return s.cpu_ms if (metric or self.metric) == "cpu" else s.median_ms

    def _base_ms(self, metric: str | None = None) -> float | None:
        if isinstance(self.baseline, (int, float)):
            return float(self.baseline)
        for s in self.stats:
            if s.name == self.baseline:
                return self._value(s, metric)
        return None

    def ratio(self, name: str, metric: str | None = None) -> float | None:
        """``name``'s median over the baseline's, by ``metric`` (the table's own by default)."""
        base = self._base_ms(metric)
        for s in self.stats:
            value = self._value(s, metric)
            if s.name == name and base and value is not None:
                return value / base
        return None

    @property
    def _has_cpu(self) -> bool:
        return any(s.cpu_ns for s in self.stats)

    def rows(self) -> list[tuple[str, ...]]:
        out = []
        for s in self.stats:
            cpu = (f"{s.cpu_ms:.3f}" if s.cpu_ms is not None else "-",) if self._has_cpu else ()
            if not s.samples_ns:
                out.append((s.name, s.missing or "no samples", "-", *(("-",) if cpu else ()), "0", "-"))
                continue
            ratio = self.ratio(s.name)
            shown = f"{ratio:.2f}x" if ratio is not None else "-"
            out.append((s.name, f"{s.median_ms:.3f}", f"{s.p90_ms:.3f}", *cpu, str(len(s.samples_ns)), shown))
        return out

    def _header(self) -> tuple[str, ...]:
        label = self.baseline_label or (f"x {self.baseline}" if self.baseline is not None else "ratio")
        cpu = ("CPU ms/run",) if self._has_cpu else ()
        return ("contender", "median ms", "p90 ms", *cpu, "n", label)

    def grid(self) -> Grid:
        return Grid(self.title, list(self._header()), [list(r) for r in self.rows()], self.notes)

    def render(self) -> str:
        return self.grid().render()

    def markdown(self) -> str:
        return self.grid().markdown()


@dataclass
class Grid:
    """A plain table of strings (first column left-aligned, the others right-aligned), with notes below."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        rows = [self.headers, *self.rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.headers))]
        lines = [self.title, "-" * len(self.title)]
        for j, r in enumerate(rows):
            lines.append("  ".join([r[0].ljust(widths[0])] + [c.rjust(widths[i]) for i, c in enumerate(r) if i]))
            if j == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.headers) + " |", "|" + "---|" * len(self.headers)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        lines += ["", *[f"- {note}" for note in self.notes]] if self.notes else []
        return "\n".join(lines)


def verdict_line(what: str, value: float | None, limit: float, unit: str = "x", *, verdict: bool = True) -> str:
    """``goal WHAT <= LIMIT: VALUE, met|MISSED``; without ``verdict`` (``--quick``), the figure only."""
    shown = "not measured" if value is None else (f"{value:.2f}{unit}" if unit == "x" else f"{value:.1f} {unit}")
    goal = f"{limit:g}{unit}" if unit == "x" else f"{limit:g} {unit}"
    if value is None or not verdict:
        return f"goal {what} <= {goal}: {shown}" + ("" if value is None else " (quick run: no verdict)")
    return f"goal {what} <= {goal}: {shown}, {'met' if value <= limit else 'MISSED'}"


def goal_note(
    table: Table, name: str, limit: float, what: str, *, metric: str | None = None, verdict: bool = True
) -> str:
    """A line saying whether ``name``'s ratio in ``table`` (by ``metric``) meets the goal ``<= limit``."""
    ratio = table.ratio(name, metric)
    if ratio is None:
        return f"goal {what} <= {limit:g}x: not measured ({name} missing)"
    return verdict_line(what, ratio, limit, verdict=verdict)


def emit(tables: list[Any], args: argparse.Namespace) -> list[Any]:
    """Print the tables (plain or Markdown) and return them for run_all and the smoke test."""
    for t in tables:
        print(t.markdown() if args.markdown else t.render())
        print()
    return tables


# -- resident memory ---------------------------------------------------------------------------------
def rss_bytes() -> int:
    """This process's resident set size now (``ru_maxrss``, the peak, where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakRSS(threading.Thread):
    """Samples the resident set size every ``interval`` seconds until stopped; keeps the peak, and the CPU time
    the sampling itself took (``cpu_seconds``), to subtract from the process's."""

    def __init__(self, interval: float = 0.002) -> None:
        super().__init__(daemon=True)
        self.peak = rss_bytes()
        self.interval = interval
        self.cpu_seconds = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        start = time.thread_time()
        while not self._done.wait(self.interval):
            self.peak = max(self.peak, rss_bytes())
        self.cpu_seconds = time.thread_time() - start

    def stop(self) -> int:
        self._done.set()
        self.join()
        return max(self.peak, rss_bytes())


# -- where the time goes -----------------------------------------------------------------------------
_STDLIB = sysconfig.get_paths()["stdlib"]
_WAIT_WORDS = ("select", "poll", "recv", "send", "acquire", "sleep", "connect", "wait", "accept")


def _owner(filename: str, funcname: str) -> str:
    """Name the package a profiled function belongs to (what we own vs Haystack vs the SDK vs Python)."""
    if filename == "~":  # built-in: waiting on a socket or a lock, or C helpers
        return "wait (socket/select/lock)" if any(w in funcname for w in _WAIT_WORDS) else "builtins (C)"
    path = filename.replace("\\", "/")
    if "/aiml_agent/" in path:
        return "aiml_agent"
    if "/benchmarks/" in path:
        return "benchmark code"
    if "site-packages/" in path:
        top = path.split("site-packages/", 1)[1].split("/", 1)[0]
        if top == "haystack_integrations":
            return "haystack_integrations (aimlapi-haystack)"
        return top.removesuffix(".py")
    if path.startswith(_STDLIB):
        rel = path[len(_STDLIB) :].lstrip("/")
        return "stdlib:" + rel.split("/", 1)[0].removesuffix(".py")
    return "other"


def profile_by_package(fn: Callable[[], Any], runs: int) -> list[tuple[str, float]]:
    """Run ``fn`` ``runs`` times under cProfile; own time (tottime) per package, in ms per run."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        fn()
    profiler.disable()
    totals: dict[str, float] = {}
    for (filename, _line, funcname), (_cc, _nc, tottime, _ct, _callers) in pstats.Stats(profiler).stats.items():
        owner = _owner(filename, funcname)
        totals[owner] = totals.get(owner, 0.0) + tottime
    return sorted(((k, v * 1000 / runs) for k, v in totals.items()), key=lambda kv: -kv[1])


def top_functions(fn: Callable[[], Any], runs: int, *, contains: str = "", limit: int = 12) -> list[str]:
    """The functions with most cumulative time (optionally only those whose file contains ``contains``)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        fn()
    profiler.disable()
    rows = []
    for (filename, line, funcname), (_cc, nc, _tt, cumtime, _callers) in pstats.Stats(profiler).stats.items():
        if contains in filename:
            short = filename.split("site-packages/")[-1].split("/src/")[-1]
            text = f"{cumtime * 1000 / runs:8.3f} ms/run  {nc / runs:6.1f} calls  {short}:{line}({funcname})"
            rows.append((cumtime, text))
    return [text for _, text in sorted(rows, reverse=True)[:limit]]


def format_profile(title: str, rows: list[tuple[str, float]], limit: int = 10) -> str:
    total = sum(v for _, v in rows) or 1.0
    lines = [f"{title} (own time per run, cProfile; profiling inflates absolute times)"]
    lines += [f"  {name:<32} {ms:8.3f} ms  {100 * ms / total:5.1f}%" for name, ms in rows[:limit]]
    return "\n".join(lines)


# -- the scripted model ------------------------------------------------------------------------------
def _tool_rounds(body: dict[str, Any]) -> int:
    return sum(1 for m in body.get("messages", []) if m.get("role") == "assistant" and m.get("tool_calls"))


def make_script(spec: str) -> Callable[[dict[str, Any]], Any]:
    """A stateless scripted model (a function of the request), so contenders can share one server.

    ``loop``: one ``get_weather`` call, then an answer. ``steps-K``: K-1 tool rounds, then an answer.
    ``parallel-N-NAME``: N calls of tool NAME (argument ``i``) in one turn, then an answer.
    """
    from aiml_agent.testing import Reply, ToolCallReply

    kind, *rest = spec.split("-")
    if kind == "loop":
        rounds, calls = 1, [("get_weather", {"city": "Paris"})]
    elif kind == "steps":
        rounds, calls = int(rest[0]) - 1, [("get_weather", {"city": "Paris"})]
    elif kind == "parallel":
        rounds, calls = 1, [(rest[1], {"i": i}) for i in range(int(rest[0]))]
    else:
        raise ValueError(f"unknown script {spec!r}: use loop, steps-K or parallel-N-NAME")

    def script(body: dict[str, Any]) -> Any:
        done = _tool_rounds(body)
        if done >= rounds:
            return Reply(text="It is sunny in Paris, 21 degrees.")
        return Reply(
            tool_calls=[ToolCallReply(name, args, id=f"call_{done}_{i}") for i, (name, args) in enumerate(calls)]
        )

    return script


@contextmanager
def scripted_server(spec: str, *, latency: float = 0.0) -> Iterator[str]:
    """Start the fast scripted server (``_fast_server.py``) with script ``spec`` in a child process; yield its
    base URL. ``latency``: seconds the model "thinks" before each answer."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_fast_server.py"), spec, "--latency", str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"scripted server did not start (got {url!r}, exit code {proc.poll()})")
        yield url
    finally:
        if proc.stdin:
            proc.stdin.close()  # the child exits when its stdin closes
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def server_stats(base_url: str, *, reset: bool = False) -> dict[str, int]:
    """The fast server's counters (connections that made a chat request, requests, open connections);
    ``reset=True`` zeroes them (and returns the values before)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("POST" if reset else "GET", "/_stats")
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()
