"""Figure 1 — agent loop cost: one run = one tool call + a final answer, against a zero-latency model.

Contenders, side by side against the same scripted server: the limit (the loop on bare HTTP), the floor (a
hand-written loop on the openai SDK), Haystack's ``Agent`` with the ``aimlapi-haystack`` generator,
``aiml_agent.Agent``, and, when installed, pydantic-ai and openai-agents. Four tables: sync/async x
plain/streamed. The ratio column is CPU per run (this process) against the floor's. Goals: aiml_agent.Agent
<= 0.75x the floor's CPU not streamed and <= 0.5x streamed; async wall time <= 1.05x the floor's.

    python benchmarks/bench_agent_loop.py [--quick] [--reps N] [--profile] [--markdown]
"""

from __future__ import annotations

import asyncio
from typing import Any

from _harness import (
    NOT_INSTALLED,
    Table,
    emit,
    format_profile,
    goal_note,
    in_order,
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
    aimlapi_haystack_installed,
    make_aiml_agent,
    make_floor,
    make_haystack,
    make_limit,
    make_openai_agents,
    make_pydantic_ai,
)

CPU_GOAL = {False: 0.75, True: 0.5}  # streamed -> goal on CPU per run, x the floor
ASYNC_WALL_GOAL = 1.05
OURS = "aiml_agent.Agent"
LIMIT, FLOOR, HAYSTACK = "limit (bare HTTP loop)", "floor (openai SDK loop)", "haystack Agent + aimlapi-haystack"
PEERS = (("pydantic-ai Agent", make_pydantic_ai), ("openai-agents Runner", make_openai_agents))


def build(base_url: str, stream: bool, peers: bool) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], list[str]]:
    """The sync and async contenders for one mode, those that cannot run (name -> why), and notes."""
    sync: dict[str, Any] = {}
    asyn: dict[str, Any] = {}
    missing: dict[str, str] = {}
    notes: list[str] = []
    makers: list[tuple[str, Any]] = [(LIMIT, make_limit), (FLOOR, make_floor)]
    if aimlapi_haystack_installed():
        makers.append((HAYSTACK, make_haystack))
    else:
        missing[HAYSTACK] = NOT_INSTALLED
    if aiml_agent_ready():
        makers.append((OURS, make_aiml_agent))
    else:
        missing[OURS] = "not importable"
    for name, maker in makers:
        sync[name], asyn[name] = maker(base_url, stream)
    if not peers:
        notes.append("pydantic-ai / openai-agents: skipped in --quick")
    else:
        for name, make_peer in PEERS:
            pair = make_peer(base_url, stream)
            if pair is None:
                missing[name] = NOT_INSTALLED
            else:
                sync[name], asyn[name] = pair
    return sync, asyn, missing, notes


def main(argv: list[str] | None = None) -> list[Table]:
    args = parse_args(__doc__ or "", argv)
    reps, warmup = reps_for(args, full=200, quick=3)
    verdict = not args.quick
    tables: list[Table] = []
    with scripted_server("loop") as url:
        for stream in (False, True):
            sync, asyn, missing, notes = build(url, stream, peers=not args.quick)
            names = [LIMIT, FLOOR, HAYSTACK, OURS] + [name for name, _ in PEERS if name in sync or name in missing]
            kind = "streamed" if stream else "not streamed"
            for label, stats in (
                ("sync run()", interleaved(sync, reps=reps, warmup=warmup)),
                ("async run_async()", interleaved_async(asyn, reps=reps, warmup=warmup)),
            ):
                table = Table(
                    f"Agent loop, {label}, {kind}: 1 tool call + answer",
                    in_order(names, stats, missing),
                    baseline=FLOOR,
                    baseline_label="CPU x floor",
                    notes=list(notes),
                    metric="cpu",
                )
                goal = CPU_GOAL[stream]
                lines = [goal_note(table, OURS, goal, f"{OURS} CPU/run vs floor", verdict=verdict)]
                if label.startswith("async"):
                    what = f"{OURS} wall time vs floor"
                    lines.append(goal_note(table, OURS, ASYNC_WALL_GOAL, what, metric="wall", verdict=verdict))
                limit = table.ratio(LIMIT)
                if limit is not None:
                    lines.append(f"the limit (bare HTTP) is {limit:.2f}x the floor's CPU per run")
                table.notes[:0] = lines
                tables.append(table)
            if args.profile:  # fresh async contenders: the timed ones' clients are bound to a closed loop
                _profile(sync, build(url, stream, peers=not args.quick)[1], kind, runs=max(20, reps // 4))
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
