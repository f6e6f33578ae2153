"""Figure 5 — import time: ``python -c "import aiml_agent"`` in a fresh process each time.

Compared with ``import haystack, openai`` (what a Haystack user of the openai SDK pays), with ``import haystack``
alone (what ``from aiml_agent import Agent`` cannot avoid: any ``haystack.*`` import runs ``haystack/__init__``,
which loads its Pipeline, networkx and telemetry) and with an empty interpreter (Python's own start-up, in every
row). Goals: ``import aiml_agent`` <= 0.1x the baseline, ``from aiml_agent import Agent`` <= 0.5x, and nothing
heavy imported that the user did not ask for: the second table lists, for each statement, which heavy packages
it loads (the lazy exports keep ``import aiml_agent`` free of all of them; the Agent's module imports what a run
needs when the first Agent is made).

    python benchmarks/bench_import.py [--quick] [--reps N]
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable

from _harness import (
    NOT_INSTALLED,
    Stats,
    Table,
    emit,
    goal_note,
    in_order,
    installed,
    interleaved,
    parse_args,
    reps_for,
)

GOALS = {"import aiml_agent": 0.1, "from aiml_agent import Agent": 0.5}
BASELINE = "import haystack, openai"
SEED = "aimlapi-haystack: import its generator"
STATEMENTS = {
    "python -c pass": "pass",
    "import aiml_agent": "import aiml_agent",
    BASELINE: "import haystack, openai",
    "import haystack": "import haystack",
    "import haystack.tools, openai": "import haystack.tools, openai",
    "import aiml_agent.testing": "import aiml_agent.testing",
    "from aiml_agent import tool": "from aiml_agent import tool",
    "from aiml_agent import Agent": "from aiml_agent import Agent",
    SEED: "import haystack_integrations.components.generators.aimlapi",
}
QUICK = ("python -c pass", "import aiml_agent", BASELINE, "import aiml_agent.testing", "from aiml_agent import Agent")
HEAVY = (
    "haystack",
    "haystack_integrations",
    "openai",
    "httpx2",
    "httpx",
    "pydantic",
    "jsonschema",
    "jinja2",
    "docstring_parser",
    "vcr",
    "yaml",
    "pytest",
    "asyncio",
    "concurrent",
    "aiml_agent.testing",
    "aiml_agent.cli",
    "aiml_agent.agent",
    "aiml_agent.generator",
    "aiml_agent.tools",
)
_REPORT = """
import sys
before = set(sys.modules)
{statement}
heavy = {heavy!r}
new = set(sys.modules) - before
print(__import__("json").dumps({{"count": len(new), "heavy": [h for h in heavy if h in new]}}))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "HAYSTACK_TELEMETRY_ENABLED": "False"}


def _runner(statement: str, cpu_ns: list[int]) -> Callable[[], None]:
    """Runs ``statement`` in a fresh interpreter; appends that interpreter's CPU time to ``cpu_ns``."""
    argv = [sys.executable, "-c", statement]
    env = _env()

    def run() -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if out.returncode != 0:
            raise RuntimeError(f"python -c {statement!r} failed:\n{out.stderr[-2000:]}")
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        cpu_ns.append(int(used * 1e9))

    return run


def loaded(statement: str) -> dict[str, object]:
    """How many modules ``statement`` loads in a fresh interpreter, and which of HEAVY."""
    code = _REPORT.format(statement=statement, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], env=_env(), check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> list[Table]:
    args = parse_args(__doc__ or "", argv)
    reps, warmup = reps_for(args, full=15, quick=1)
    wanted = [name for name in STATEMENTS if name in QUICK or not args.quick]
    missing = {} if installed("haystack_integrations.components.generators.aimlapi") else {SEED: NOT_INSTALLED}
    statements = {name: STATEMENTS[name] for name in wanted if name not in missing}
    warmup = 0 if args.quick else 1  # a fresh process each time: one run only to warm the file cache
    child_cpu: dict[str, list[int]] = {name: [] for name in statements}
    runners = {name: _runner(code, child_cpu[name]) for name, code in statements.items()}
    stats = interleaved(runners, reps=reps, warmup=warmup)
    for s in stats:  # the interpreter's CPU time, not this process's (the timed runs only: the warm-up's go)
        s.cpu_ns = child_cpu[s.name][-len(s.samples_ns) :]
    stats = in_order(wanted, stats, missing)
    table = Table(
        "Import, cold (fresh interpreter each time, start-up included; CPU: the interpreter's)",
        stats,
        baseline=BASELINE,
        baseline_label="x haystack+openai",
    )
    for name, goal in GOALS.items():
        table.notes.append(goal_note(table, name, goal, f"{name} vs {BASELINE}", verdict=not args.quick))
    start = {s.name: s.median_ms for s in stats if s.samples_ns}.get("python -c pass", 0.0)
    net = [
        Stats(s.name, [max(0, t - int(start * 1e6)) for t in s.samples_ns], s.missing)
        for s in stats
        if s.name != "python -c pass"
    ]
    net_table = Table(
        "Import, net of interpreter start-up (median of an empty `python -c pass` subtracted)",
        net,
        baseline=BASELINE,
        baseline_label="x haystack+openai",
    )
    lines = []
    for name, code in statements.items():
        if args.quick and name == BASELINE:
            continue  # its module list is not what --quick checks, and it is the slowest to load
        info = loaded(code)
        heavy = ", ".join(info["heavy"]) or "none"  # type: ignore[arg-type]
        lines.append(f"{name}: {info['count']} modules; heavy: {heavy}")
    net_table.notes.extend(lines)
    return emit([table, net_table], args)


if __name__ == "__main__":
    main()
