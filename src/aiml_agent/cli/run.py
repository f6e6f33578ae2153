"""``aiml-agent run TARGET PROMPT``: run an Agent with TARGET's tools and show what it does as it happens.

The terminal side (the streamed output, the summary, the ``--approve`` questions) is in :mod:`._run_terminal`;
this module reads the options, replays or records a cassette around the run, and explains what went wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiml_agent.cli import sessions
from aiml_agent.cli._run_terminal import RunPrinter, TerminalApprover, pending_text, result_json, summary_line
from aiml_agent.cli._shared import (
    TARGET_HELP,
    CLIError,
    Style,
    add_debug,
    agent_for,
    agent_tools,
    json_value,
    positive_int,
)


def add_parser(commands: Any) -> None:
    """Add ``run`` to the command line's subparsers."""
    run = commands.add_parser(
        "run",
        help="run an agent with a module's tools",
        description="Run an Agent with TARGET's tools on PROMPT. The answer streams as it comes; each tool "
        "call is shown with its arguments, result or error and duration; a summary line ends the output. "
        "Needs AIMLAPI_API_KEY, unless --cassette replays a recording.",
    )
    run.add_argument("target", metavar="TARGET", help=TARGET_HELP)
    run.add_argument("prompt", metavar="PROMPT", help="the user message")
    run.add_argument("--model", metavar="M", help="model id (default: the generator's, openai/gpt-5-chat-latest)")
    run.add_argument(
        "--base-url",
        metavar="URL",
        help="API base URL (default: https://api.aimlapi.com/v1)",
    )
    run.add_argument("--strict", action="store_true", help="send tools with strict schemas")
    run.add_argument("--max-steps", metavar="N", type=positive_int, help="at most N model calls (default: the Agent's)")
    run.add_argument("--system", metavar="TEXT", help="system prompt")
    run.add_argument(
        "--deps",
        metavar="JSON",
        help="what RunContext tools receive as ctx.deps: a JSON value, or @FILE holding one "
        """(e.g. --deps '{"user_id": 42}' or --deps @deps.json)""",
    )
    run.add_argument(
        "--approve",
        action="store_true",
        help="ask on the terminal (y/n/e) before a tool call that needs approval runs; without it the run "
        "stops at such a call and lists what waits",
    )
    run.add_argument("--cassette", metavar="FILE", help="replay the run from this vcrpy cassette (no key needed)")
    run.add_argument("--record", action="store_true", help="with --cassette: record the run into FILE instead")
    run.add_argument("--json", action="store_true", help="print the run result as JSON instead of text")
    run.add_argument("--trace", action="store_true", help="print an OpenTelemetry span line per model and tool call")
    run.add_argument("--session", metavar="ID", help="continue the stored conversation ID and save this run to it")
    run.add_argument("--db", metavar="PATH", help=f"with --session: {sessions.DB_HELP}")
    add_debug(run)


def execute(args: argparse.Namespace) -> int:
    """Run the agent; 0 when it finished (whatever its exit reason), 1 on any failure."""
    cassette_file = _check_inputs(args)
    deps = _deps(args.deps)
    tools = agent_tools(args.target)
    session = sessions.open_session(args.session, args.db or sessions.DEFAULT_DB) if args.session else None

    out = sys.stdout
    printer = RunPrinter(out, Style(out), quiet=args.json)
    agent_kwargs: dict[str, Any] = {"streaming_callback": printer}
    if args.approve:
        tools_by_name = {tool.name: tool for tool in tools}
        agent_kwargs["approval_handler"] = TerminalApprover(tools_by_name, sys.stderr, sys.stdin, printer.end_line)

    if args.trace:
        _trace_to_stderr()
    started = time.perf_counter()
    from aiml_agent._retries import refused_connections_fail_fast

    # Nothing listening at the base URL is a setting to fix, not a moment to wait for: say so at once.
    # No retry special case for replays: a request with no recording raises vcrpy's error, which the client does
    # not retry; a recorded 5xx is retried as it was when recording, and the retry replays too.
    with _cassette(cassette_file, record=args.record), refused_connections_fail_fast():
        agent = agent_for(args, tools, **agent_kwargs)
        try:
            result = agent.run(args.prompt, deps=deps, session=session)
        except Exception as error:
            explained = _explain(error, cassette_file)
            if explained is error:
                raise
            raise explained from error
    elapsed = time.perf_counter() - started

    if args.json:
        data = result_json(result, elapsed)
        if session is not None:
            data["session"] = {"id": session.session_id, "db": session.path}
        out.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    else:
        printer.finish(result)
        out.write(pending_text(result, printer.style))
        out.write("\n" + printer.style(summary_line(result, elapsed), "dim") + "\n")
        if session is not None:
            out.write(printer.style(f"saved to session {session.session_id} in {session.path}", "dim") + "\n")
    out.flush()
    return 0


def _deps(text: str | None) -> Any:
    """The ``--deps`` value for ``RunContext.deps`` (None when not given)."""
    if text is None:
        return None
    try:
        return json_value(text)
    except CLIError as error:
        raise CLIError(f"--deps: {error}") from None


def _trace_to_stderr() -> None:
    """``--trace``: instrument the run and print each span on one line to stderr as it ends."""
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
    except ImportError:
        raise CLIError("--trace needs the OpenTelemetry SDK: pip install opentelemetry-sdk") from None
    from aiml_agent.tracing import instrument, span_line

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr, formatter=span_line)))
    instrument(tracer_provider=provider)


def _check_inputs(args: argparse.Namespace) -> Path | None:
    """Fail early, before anything heavy is imported, on a missing key, cassette or flag combination."""
    from aiml_agent.testing.cassettes import KEY_ENV, cassette_path

    has_key = bool(os.environ.get(KEY_ENV))
    if args.record and not args.cassette:
        raise CLIError("--record needs --cassette FILE (the file to record into)")
    if args.db and not args.session:
        raise CLIError("--db needs --session ID (the conversation to continue)")
    if not args.cassette:
        if not has_key:
            raise CLIError(f"set {KEY_ENV} or pass --cassette FILE to replay a recorded run")
        return None
    file = cassette_path(args.cassette)
    if args.record:
        if not has_key:
            raise CLIError(f"recording calls the real API: set {KEY_ENV} (or drop --record to replay {file})")
        if not file.parent.is_dir():
            raise CLIError(f"cannot record into {file}: no such directory {file.parent}")
    elif not file.is_file():
        raise CLIError(f"no such cassette: {file} (record it with --record)")
    return file


@contextmanager
def _cassette(file: Path | None, *, record: bool) -> Iterator[None]:
    """Replay from ``file``, or record into it (``rewrite``: a failed run keeps the old file)."""
    if file is None:
        with nullcontext():
            yield
        return
    from aiml_agent.testing import cassette
    from aiml_agent.testing.cassettes import UnplayedInteractionsError

    if not record:
        try:
            with cassette(file, mode="none"):
                yield
        except UnplayedInteractionsError as error:
            unplayed = str(error).splitlines()[0]
            raise CLIError(f"the run did not replay the whole cassette: {unplayed} Re-record with --record.") from error
        return
    with cassette(file, mode="rewrite"):
        yield


def _explain(error: Exception, cassette_file: Path | None) -> Exception:
    """One line for what went wrong during the run; errors we have no better words for pass through."""
    from aiml_agent.errors import AIMLAPIError, SessionStoreError, StrictSchemaError

    for cause in _chain(error):
        if type(cause).__name__ == "CannotOverwriteExistingCassetteException":
            return CLIError(f"{cassette_file}: {_mismatch(cause)}; re-record with --record if the change is wanted")
    if isinstance(error, StrictSchemaError):
        return CLIError(f"a tool cannot be sent strict: {error} (drop --strict, or mark the tool strict=False)")
    if isinstance(error, (AIMLAPIError, SessionStoreError)):
        return CLIError(" ".join(str(error).split()))
    return error


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _mismatch(error: Any) -> str:
    """Why vcrpy found no recording for a request, in one line (the first lines of the body diff)."""
    request = getattr(error, "failed_request", None)
    what = f"{request.method} {urlsplit(request.uri).path}" if request is not None else "a request"
    reason = getattr(error, "reason", None)
    if reason == "already_played":
        return f"the run made more requests than were recorded ({what} has no recording left)"
    similar = getattr(error, "similar_requests", None) or []
    failed = similar[0][2] if similar else []
    details = []
    for name, message in failed:
        changed = [
            " ".join(line.split())
            for line in str(message).splitlines()
            if line[:1] in "-+" and not line.startswith(("---", "+++"))
        ]
        details.append(f"{name} differs" + (": " + " / ".join(changed[:2]) if changed else ""))
    return f"no recording matches {what}" + (f" ({'; '.join(details)})" if details else "")
