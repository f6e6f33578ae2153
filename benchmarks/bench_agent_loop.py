"""Figure 1 — agent loop overhead: one run = one tool call + a final answer, against a zero-latency model.

Contenders, side by side against the same scripted server: the floor (a hand-written loop on the openai
SDK), Haystack's ``Agent`` with the seed ``aimlapi-haystack`` generator, ``aiml_agent.Agent``, and, when
installed, pydantic-ai and openai-agents (non-streamed only). Four tables: sync/async x plain/streamed.
Goal: aiml_agent.Agent <= 1.10x the floor in each.

    python benchmarks/bench_agent_loop.py [--quick] [--reps N] [--profile]
"""

from __future__ import annotations

import asyncio
from typing import Any

from _harness import (
    Table,
    emit,
    format_profile,
    goal_note,
    interleaved,
    interleaved_async,
    parse_args,
    profile_by_package,
    reps_for,
    scripted_server,
    top_functions,
)
from contenders import (
    aiml_agent_ready,
    make_aiml_agent,
    make_floor,
    make_haystack,
    make_openai_agents,
    make_pydantic_ai,
)

GOAL = 1.10
OURS = "aiml_agent.Agent"


def build(base_url: str, stream: bool, peers: bool) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The sync and async contenders for one mode, and notes about any that could not run."""
    sync: dict[str, Any] = {}
    asyn: dict[str, Any] = {}
    notes: list[str] = []
    makers: list[tuple[str, Any]] = [("floor (openai SDK loop)", make_floor),
                                     ("haystack Agent + seed", make_haystack)]
    if aiml_agent_ready():
        makers.append((OURS, make_aiml_agent))
    else:
        notes.append(f"{OURS}: not importable yet")
    for name, maker in makers:
        sync[name], asyn[name] = maker(base_url, stream)
    if not peers:
        notes.append("pydantic-ai / openai-agents: skipped in --quick")
    elif not stream:
        for name, maker in (("pydantic-ai Agent", make_pydantic_ai), ("openai-agents Runner", make_openai_agents)):
            pair = maker(base_url)
            if pair is None:
                notes.append(f"{name}: not installed (pip install '.[bench]')")
            else:
                sync[name], asyn[name] = pair
    return sync, asyn, notes


def main(argv: list[str] | None = None) -> list[Table]:
    args = parse_args(__doc__ or "", argv)
    reps, warmup = reps_for(args, full=200, quick=3)
    tables: list[Table] = []
    with scripted_server("loop") as url:
        for stream in (False, True):
            sync, asyn, notes = build(url, stream, peers=not args.quick)
            kind = "streamed" if stream else "not streamed"
            for label, stats in (("sync run()", interleaved(sync, reps=reps, warmup=warmup)),
                                 ("async run_async()", interleaved_async(asyn, reps=reps, warmup=warmup))):
                table = Table(f"Agent loop, {label}, {kind}: 1 tool call + answer", stats,
                              baseline="floor (openai SDK loop)", baseline_label="x floor", notes=list(notes))
                table.notes.insert(0, goal_note(table, OURS, GOAL, f"{OURS} vs floor"))
                tables.append(table)
            if args.profile:
                _profile(sync, asyn, kind, runs=max(20, reps // 4))
    return emit(tables, args)


def _profile(sync: dict[str, Any], asyn: dict[str, Any], kind: str, runs: int) -> None:
    """Where each contender's time goes, by package (ours vs Haystack vs the openai SDK vs Python)."""
    for name, fn in sync.items():
        print(format_profile(f"[{kind}, sync] {name}", profile_by_package(fn, runs)))
    for name, afn in asyn.items():
        loop = asyncio.new_event_loop()
        try:
            def once(loop: asyncio.AbstractEventLoop = loop, afn: Any = afn) -> Any:
                return loop.run_until_complete(afn())

            print(format_profile(f"[{kind}, async] {name}", profile_by_package(once, runs)))
        finally:
            loop.close()
    if OURS in sync:
        print(f"[{kind}, sync] {OURS}: top aiml_agent functions by cumulative time")
        print("\n".join("  " + line for line in top_functions(sync[OURS], runs, contains="aiml_agent")))
    print()


if __name__ == "__main__":
    main()
