"""Figure 7 — model catalogue: loading the embedded snapshot, and what `profile_for` costs per request.

The generator asks `profile_for(model)` on every request, and the first one loads the catalogue (read, parse,
index 268 models). Contenders:

- ``json.loads`` of the catalogue file (read and parse only: the baseline);
- loading the embedded catalogue (read, parse, build the model objects and the id/alias index);
- the first `profile_for` of a process (loading included: the cache directory is looked at, then the snapshot);
- `profile_for` once loaded (what every later request pays).

Goal: the catalogue loads in under 5 ms.

    python benchmarks/bench_catalogue.py [--quick] [--reps N]
"""

from __future__ import annotations

import json
import os
import tempfile

from _harness import Table, emit, interleaved, parse_args, reps_for, verdict_line

GOAL_MS = 5.0
MODELS = ("openai/gpt-4o", "claude-sonnet-4-5", "google/gemini-2.5-flash", "acme/unknown-model")


def main(argv: list[str] | None = None) -> list[Table]:
    args = parse_args(__doc__ or "", argv)
    reps, warmup = reps_for(args, full=300, quick=5)
    os.environ["AIML_AGENT_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-catalogue-")  # no refreshed cache
    from aiml_agent.profiles import _lookup, _store, profile_for

    def first_profile() -> None:
        _store.reset_catalogue()
        _lookup._profile.cache_clear()
        profile_for(MODELS[0])

    def loaded_profiles() -> None:
        for model in MODELS:
            profile_for(model)

    stats = interleaved(
        {
            "json.loads(catalogue.json)": lambda: json.loads(_store.EMBEDDED.read_bytes()),
            "load the embedded catalogue": _store.embedded_catalogue,
            "first profile_for of a process": first_profile,
            f"profile_for, loaded (x{len(MODELS)} models)": loaded_profiles,
        },
        reps=reps,
        warmup=warmup,
    )
    table = Table(
        f"Model catalogue: {len(_store.embedded_catalogue())} models, {_store.EMBEDDED.stat().st_size:,} bytes",
        stats,
        baseline="json.loads(catalogue.json)",
        baseline_label="x json.loads",
    )
    by_name = {s.name: s for s in stats}
    for name in ("load the embedded catalogue", "first profile_for of a process"):
        ms = by_name[name].median_ms
        table.notes.append(verdict_line(name, ms, GOAL_MS, "ms", verdict=not args.quick))
    return emit([table], args)


if __name__ == "__main__":
    main()
