"""``aiml-agent batch TARGET INPUTS --out FILE``: run an agent over a JSONL file, resumably, and sum it up.

TARGET is what ``aiml-agent run`` takes (its tools make an Agent with ``--model``, ``--base-url``, ``--system``),
or a module holding an Agent (``TARGET:NAME``, or a variable named ``agent``), which is used as it is. ``--out``
is the batch's checkpoint: outcomes are appended as they finish, so rerunning the command resumes; once every
input has an outcome the file is rewritten in input order.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from aiml_agent.cli._shared import (
    TARGET_HELP,
    CLIError,
    Style,
    add_debug,
    agent_for,
    agent_tools,
    load_module,
    positive_int,
    usage_text,
)

if TYPE_CHECKING:
    from aiml_agent.agent import Agent
    from aiml_agent.batch import BatchResult

_AGENT_OPTIONS = ("model", "base_url", "system", "strict", "max_steps")
_STOPPED = {
    "out_of_credits": "out of credits (HTTP 403)",
    "unauthorized": "the API key was refused or is missing",
    "rate_limited": "only rate-limit (429) answers for a long time",
    "interrupted": "interrupted",
}


def add_parser(commands: Any) -> None:
    """Add ``batch`` to the command line's subparsers."""
    batch = commands.add_parser(
        "batch",
        help="run an agent over every input of a JSONL file",
        description="Run an agent once for every line of INPUTS (a prompt as a JSON string, or an object with "
        "id, prompt or messages, deps), many at a time, appending each outcome to --out as it finishes. "
        "Rerunning the same command resumes: inputs whose id is already in --out are skipped. A summary ends "
        "the output. Exit status 0 when every input has an outcome, 1 when the batch stopped early (e.g. out "
        "of credits), 130 when interrupted.",
    )
    batch.add_argument(
        "target",
        metavar="TARGET",
        help=TARGET_HELP + " Or a module holding an Agent (TARGET:NAME, or a variable named 'agent'), used as it is.",
    )
    batch.add_argument("inputs", metavar="INPUTS", help="a JSONL file: one input a line")
    batch.add_argument("--out", metavar="FILE", required=True, help="the results (JSONL), also the checkpoint")
    batch.add_argument(
        "--concurrency",
        metavar="N|auto",
        type=_concurrency,
        default="auto",
        help="items at once, or 'auto' to adapt to the server's rate limit (default)",
    )
    batch.add_argument("--ray", action="store_true", help="run on Ray workers (RAY_ADDRESS, else a local Ray)")
    batch.add_argument("--model", metavar="M", help="model id (default: the generator's, openai/gpt-5-chat-latest)")
    batch.add_argument("--base-url", metavar="URL", help="API base URL (default: https://api.aimlapi.com/v1)")
    batch.add_argument("--system", metavar="TEXT", help="system prompt")
    batch.add_argument("--strict", action="store_true", help="send tools with strict schemas")
    batch.add_argument("--max-steps", metavar="N", type=positive_int, help="at most N model calls an input")
    batch.add_argument("--retry-errors", action="store_true", help="run again the inputs that failed last time")
    batch.add_argument("--no-progress", action="store_true", help="no progress bar (there is none off a terminal)")
    add_debug(batch)


def _concurrency(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a whole number of at least 1, got {text!r}") from None


def execute(args: argparse.Namespace) -> int:
    """Run the batch: 0 when every input has an outcome, 1 when it stopped early, 130 when interrupted."""
    inputs, out = Path(args.inputs), Path(args.out)
    if not inputs.is_file():
        raise CLIError(f"no such inputs file: {inputs}")
    if out.resolve() == inputs.resolve():
        raise CLIError("--out must not be the inputs file")
    agent = _agent(args)

    from aiml_agent.batch import BatchInterrupted, run_batch
    from aiml_agent.batch._checkpoint import sort_by_index

    stdout = sys.stdout
    style = Style(stdout)
    try:
        result = run_batch(
            agent,
            inputs,
            args.concurrency,
            checkpoint=out,
            progress=not args.no_progress,
            executor="ray" if args.ray else "local",
            keep_items=False,
            retry_errors=args.retry_errors,
        )
    except BatchInterrupted as interrupted:
        result = interrupted.result
    except ValueError as error:  # e.g. --out is not a batch's results file
        raise CLIError(str(error)) from error
    if result.complete:
        sort_by_index(out)
    _summary(stdout, style, result, out)
    if result.stopped == "interrupted":
        return 130
    return 0 if result.complete else 1


def _agent(args: argparse.Namespace) -> Agent:
    """The Agent TARGET holds (used as it is), or one made with TARGET's tools and the command's options."""
    from aiml_agent.agent import Agent

    module_spec, _, attribute = args.target.partition(":")
    module = load_module(module_spec)
    held = getattr(module, attribute or "agent", None)
    if isinstance(held, Agent):
        given = [f"--{name.replace('_', '-')}" for name in _AGENT_OPTIONS if getattr(args, name)]
        if given:
            raise CLIError(
                f"{args.target} is an Agent, used as it is: {', '.join(given)} cannot change it "
                "(set those in the Agent, or pass a module of tools)"
            )
        return held
    from aiml_agent.testing.cassettes import KEY_ENV

    if not os.environ.get(KEY_ENV) and not args.ray:
        raise CLIError(f"set {KEY_ENV} (the agent made from {args.target}'s tools reads the key from it)")
    return agent_for(args, agent_tools(args.target))


def _summary(out: TextIO, style: Style, result: BatchResult, file: Path) -> None:
    """What happened, in three lines or so: counts, exit reasons, tokens and cost, time, where the results are."""
    totals = result.totals
    counts = [f"{totals.items} items", style(f"{totals.ok} ok", "green")]
    counts.append(style(f"{totals.error} failed", "red") if totals.error else "0 failed")
    if totals.resumed:
        counts.append(f"{totals.resumed} from an earlier run")
    if totals.exit_reasons:
        ordered = sorted(totals.exit_reasons.items(), key=lambda pair: -pair[1])
        counts.append("exit reasons: " + ", ".join(f"{reason} {count}" for reason, count in ordered))
    out.write("batch: " + " · ".join(counts) + "\n")
    spent = [usage_text(totals.usage.to_dict(), totals.cost) or "no tokens reported"]
    if totals.retries:
        spent.append(f"{totals.retries} requests sent again")
    spent.append(f"{totals.wall_time:.1f} s")
    out.write(style(" · ".join(spent), "dim") + "\n")
    if result.stopped is not None:
        why = _STOPPED.get(result.stopped, result.stopped)
        detail = f": {result.stop_message}" if result.stopped != "interrupted" and result.stop_message else ""
        out.write(style(f"stopped: {why}{detail}", "bold", "red") + "\n")
        out.write(f"results so far: {file}; run the same command again to go on from there\n")
    else:
        out.write(f"results: {file} (in input order)\n")
    out.flush()
