"""Figure 2 — tool creation from a 5-parameter function with a docstring.

Each repetition gets a *fresh* function (its source compiled anew, outside the timed part), so no cache
keyed on the function or its code object can make a repetition free. Contenders:

- ``create_tool`` alone (what ``@tool`` costs at import time of the user's module);
- the complete tool: created, ``tool_spec`` read (what the generator sends), first ``invoke`` validated
  and run;
- Haystack's ``create_tool_from_function``, alone and complete (the baseline).

Goals: <= 0.5 ms to decorate, <= 2 ms complete. A breakdown (manual phase timing + cProfile by package)
says where the time goes.

    python benchmarks/bench_tool_creation.py [--quick] [--reps N] [--profile]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from _harness import (
    Stats,
    Table,
    emit,
    format_profile,
    interleaved,
    parse_args,
    profile_by_package,
    reps_for,
    top_functions,
    verdict_line,
)

SOURCE = '''
from typing import Literal

def search_flights(origin: str, destination: str, date: str, passengers: int = 1,
                   cabin: Literal["economy", "premium", "business", "first"] = "economy") -> list[dict]:
    """Search flights between two airports on a given day.

    Returns the cheapest matching flights first.

    :param origin: IATA code of the departure airport, e.g. "CDG".
    :param destination: IATA code of the arrival airport, e.g. "JFK".
    :param date: Departure date in ISO format (YYYY-MM-DD).
    :param passengers: How many seats to book.
    :param cabin: The cabin class.
    :returns: The matching flights.
    """
    return [{"origin": origin, "destination": destination, "date": date, "seats": passengers, "cabin": cabin}]
'''
# The same tool with one parameter a pydantic model: outside aiml_agent's fast path for simple types.
MODEL_SOURCE = SOURCE.replace(
    "from typing import Literal",
    """from typing import Literal
from pydantic import BaseModel


class Traveller(BaseModel):
    name: str
    age: int | None = None
""",
).replace("passengers: int = 1", "passengers: list[Traveller] | None = None")
ARGS: dict[str, Any] = {
    "origin": "CDG",
    "destination": "JFK",
    "date": "2026-12-01",
    "passengers": 2,
    "cabin": "business",
}
DECORATE_GOAL_MS, COMPLETE_GOAL_MS = 0.5, 2.0


def fresh_functions(count: int, source: str = SOURCE) -> list[Callable[..., Any]]:
    """``count`` distinct function objects with distinct code objects, all from ``source``."""
    out = []
    for i in range(count):
        namespace: dict[str, Any] = {}
        exec(compile(source, f"<tool source {i}>", "exec"), namespace)
        out.append(namespace["search_flights"])
    return out


def _consumer(pool: list[Callable[..., Any]], make: Callable[[Callable[..., Any]], Any]) -> Callable[[], Any]:
    it = iter(pool)
    return lambda: make(next(it))


def _complete(create: Callable[[Callable[..., Any]], Any]) -> Callable[[Callable[..., Any]], Any]:
    return _complete_with(create, ARGS)


def _complete_with(
    create: Callable[[Callable[..., Any]], Any], args: dict[str, Any]
) -> Callable[[Callable[..., Any]], Any]:
    """Create the tool, read its ``tool_spec`` (what the generator sends), invoke it once with ``args``."""

    def make(func: Callable[..., Any]) -> Any:
        tool = create(func)
        _ = tool.tool_spec
        return tool.invoke(**args)

    return make


def creators() -> dict[str, Callable[[Callable[..., Any]], Any]]:
    """Name -> function that turns a Python function into a tool (or a complete, used tool)."""
    from haystack.tools import create_tool_from_function

    out: dict[str, Callable[[Callable[..., Any]], Any]] = {}
    try:
        from aiml_agent.tools import create_tool, tool
    except Exception as exc:
        print(f"(aiml_agent.tools not importable yet: {exc!r})")
    else:
        out["aiml_agent create_tool"] = create_tool
        out["aiml_agent @tool"] = tool
        out["aiml_agent complete"] = _complete(create_tool)
    out["haystack create_tool_from_function"] = create_tool_from_function
    out["haystack complete"] = _complete(create_tool_from_function)
    return out


def phases(
    create: Callable[[Callable[..., Any]], Any], funcs: list[Callable[..., Any]], args: dict[str, Any] = ARGS
) -> list[Stats]:
    """Manual timing of each phase of a complete tool: create, tool_spec read, 1st and 2nd invoke."""
    samples: dict[str, list[int]] = {k: [] for k in ("create", "tool_spec read", "1st invoke", "2nd invoke")}
    for func in funcs:
        t0 = time.perf_counter_ns()
        tool = create(func)
        t1 = time.perf_counter_ns()
        _ = tool.tool_spec
        t2 = time.perf_counter_ns()
        tool.invoke(**args)
        t3 = time.perf_counter_ns()
        tool.invoke(**args)
        t4 = time.perf_counter_ns()
        for key, value in zip(samples, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            samples[key].append(value)
    return [Stats(k, v) for k, v in samples.items()]


def main(argv: list[str] | None = None) -> list[Table]:
    args = parse_args(__doc__ or "", argv)
    reps, warmup = reps_for(args, full=400, quick=5)
    makers = creators()
    contenders = {name: _consumer(fresh_functions(reps + warmup), make) for name, make in makers.items()}
    stats = interleaved(contenders, reps=reps, warmup=warmup)
    table = Table(
        "Tool creation: 5-parameter function with a docstring (fresh function each time)",
        stats,
        baseline="haystack create_tool_from_function",
        baseline_label="x haystack",
    )
    by_name = {s.name: s for s in stats}
    for name, goal in (("aiml_agent create_tool", DECORATE_GOAL_MS), ("aiml_agent complete", COMPLETE_GOAL_MS)):
        if name in by_name:
            ms = by_name[name].median_ms
            table.notes.append(verdict_line(name, ms, goal, "ms", verdict=not args.quick))
    n = reps if args.quick else max(20, reps // 4)
    model_args = {**ARGS, "passengers": [{"name": "Ada", "age": 36}]}
    plain = {"aiml_agent complete": "aiml_agent create_tool", "haystack complete": "haystack create_tool_from_function"}
    model_stats = interleaved(
        {
            name: _consumer(fresh_functions(n + 1, MODEL_SOURCE), _complete_with(makers[create], model_args))
            for name, create in plain.items()
            if create in makers
        },
        reps=n,
        warmup=1,
    )
    tables = [
        table,
        Table(
            "Complete tool when a parameter is a list of pydantic models (no fast path)",
            model_stats,
            baseline="haystack complete",
            baseline_label="x haystack",
        ),
    ]
    if "aiml_agent create_tool" in makers:
        from aiml_agent.tools import create_tool

        tables.append(Table("aiml_agent complete tool, by phase", phases(create_tool, fresh_functions(n))))
        tables.append(
            Table(
                "aiml_agent complete tool, pydantic-model parameter, by phase",
                phases(create_tool, fresh_functions(n, MODEL_SOURCE), model_args),
            )
        )
    from haystack.tools import create_tool_from_function

    tables.append(Table("haystack complete tool, by phase", phases(create_tool_from_function, fresh_functions(n))))
    emit(tables, args)
    if args.profile:
        for name in ("aiml_agent complete", "haystack complete"):
            if name in makers:
                make = makers[name]
                pools = iter(fresh_functions(n)), iter(fresh_functions(n))
                by_package = profile_by_package(lambda make=make, pool=pools[0]: make(next(pool)), n)
                heaviest = top_functions(lambda make=make, pool=pools[1]: make(next(pool)), n, limit=15)
                print(format_profile(name, by_package))
                print("\n".join("  " + line for line in heaviest))
                print()
    return tables


if __name__ == "__main__":
    main()
