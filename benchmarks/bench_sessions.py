"""What a session adds to an agent run: loading the history before it and saving the run after it.

The model is in process and answers at once, so the figures are the session's own cost (a real model call
takes hundreds of milliseconds or more). Contenders, interleaved, each a one-step run:

- no session (the baseline);
- ``SQLiteSession`` in memory (no disk: the cost of encoding, decoding, repairing and trimming);
- ``SQLiteSession`` on disk with a short history, with 1000 stored messages, and with 1000 stored messages
  but ``max_messages=20`` (only the last 20 are read).

A second table times 8 threads writing runs to one file against one thread writing as many.

Goal: with a short history, a saved run costs <= 15 ms (one fsync of the commit on this disk included).

    python benchmarks/bench_sessions.py [--quick] [--reps N]
"""

from __future__ import annotations

import itertools
import tempfile
import threading
from pathlib import Path
from typing import Any

from _harness import Stats, Table, emit, interleaved, parse_args, reps_for, verdict_line

SHORT_GOAL_MS = 15.0
THREADS = 8


class EchoModel:
    """A chat generator answering at once with the last user message."""

    model = "echo-model"

    def run(self, messages: list[Any], **_: Any) -> dict[str, Any]:
        from haystack.dataclasses import ChatMessage

        usage = {"prompt_tokens": len(messages), "completion_tokens": 2, "total_tokens": len(messages) + 2}
        return {"replies": [ChatMessage.from_assistant(f"echo: {messages[-1].text}", meta={"usage": usage})]}


def filled(session: Any, messages: int) -> Any:
    """``session`` with ``messages`` stored messages (user/assistant pairs), saved as one run."""
    from haystack.dataclasses import ChatMessage

    from aiml_agent import Usage

    start = session.start_run([])
    pairs = [
        message
        for i in range(messages // 2)
        for message in (ChatMessage.from_user(f"q{i}"), ChatMessage.from_assistant(f"a{i}", meta={"n": i}))
    ]
    start.finish({"messages": [*start.messages, *pairs], "exit_reason": "text", "usage": Usage()})
    return session


def main(argv: list[str] | None = None) -> list[Table]:
    args = parse_args(__doc__ or "", argv)
    reps, warmup = reps_for(args, full=200, quick=3)
    from aiml_agent import Agent, SQLiteSession

    agent = Agent(EchoModel())
    counter = itertools.count()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        sessions = {
            "SQLiteSession in memory": SQLiteSession("memory", ":memory:"),
            "SQLiteSession, short history": SQLiteSession("short", path, max_messages=10),
            "SQLiteSession, 1000 messages": filled(SQLiteSession("long", path), 1000),
            "SQLiteSession, 1000 messages, max_messages=20": filled(
                SQLiteSession("trimmed", path, max_messages=20), 1000
            ),
        }

        def with_session(session: Any) -> Any:
            return lambda: agent.run(f"question {next(counter)}", session=session)

        contenders = {"no session": lambda: agent.run(f"question {next(counter)}")}
        contenders.update({name: with_session(session) for name, session in sessions.items()})
        stats = interleaved(contenders, reps=reps, warmup=warmup)
        table = Table("Agent run with a session (in-process model, one step)", stats, baseline="no session")
        short = next(s for s in stats if s.name == "SQLiteSession, short history")
        what = "short history, per saved run"
        table.notes.append(verdict_line(what, short.median_ms, SHORT_GOAL_MS, "ms", verdict=not args.quick))

        runs_each = max(2, reps // 10)
        writers = Table(
            f"{THREADS * runs_each} saved runs on one file: {THREADS} threads at once vs one thread",
            [_writers(path, 1, THREADS * runs_each), _writers(path, THREADS, runs_each)],
            baseline=f"1 thread x {THREADS * runs_each} runs",
        )
        for session in sessions.values():
            session.close()
    return emit([table, writers], args)


def _writers(path: Path, threads: int, runs_each: int) -> Stats:
    """Wall time of ``threads`` threads each saving ``runs_each`` runs to its own session of ``path``."""
    import time

    from aiml_agent import Agent, SQLiteSession

    def write(index: int) -> None:
        agent = Agent(EchoModel())
        session = SQLiteSession(f"writer-{threads}-{index}", path, max_messages=10)
        for run in range(runs_each):
            agent.run(f"run {run}", session=session)
        session.close()

    workers = [threading.Thread(target=write, args=(i,)) for i in range(threads)]
    started = time.perf_counter_ns()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return Stats(f"{threads} thread{'s' if threads > 1 else ''} x {runs_each} runs", [time.perf_counter_ns() - started])


if __name__ == "__main__":
    main()
