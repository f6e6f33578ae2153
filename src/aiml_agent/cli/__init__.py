"""The ``aiml-agent`` command line: see the tools a model gets, run an agent, read a cassette.

This module only builds the argument parser and turns failures into one line on stderr. Each command
lives in its own module and is imported when it runs, so ``aiml-agent --help`` never loads Haystack
or the openai SDK.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from importlib import import_module
from typing import NoReturn

from aiml_agent.cli import sessions_cmd
from aiml_agent.cli.common import CLIError

__all__ = ["CLIError", "build_parser", "main"]

PROG = "aiml-agent"

_TARGET_HELP = (
    "a .py file or an importable module (e.g. my_tools.py, mypkg.tools), optionally with :NAME to pick one "
    "object (e.g. my_tools.py:toolset). Its Tool and Toolset objects (@tool functions included) are the tools; "
    "a module with none offers every public function defined in it."
)


_EXAMPLES = f"""examples:
  {PROG} tools my_tools.py --strict                  the tools as the model sees them (strict)
  {PROG} tools my_tools.py --model google/gemini-2.5-flash   ... as that model receives them
  {PROG} tools my_tools.py --strict --exercise 50    call each tool 50 times as a model may, list crashes
  {PROG} models --family anthropic --tools            models and what each accepts
  {PROG} tools --mcp-stdio "python server.py"         an MCP server's tools, as the model sees them
  {PROG} run my_tools.py "Weather in Paris?"          run an agent (needs AIMLAPI_API_KEY)
  {PROG} run my_tools.py "..." --cassette run.yaml --record   record a run, then replay it offline
  {PROG} run my_tools.py "My orders?" --deps '{{"user_id": 42}}'   ctx.deps for RunContext tools
  {PROG} batch my_tools.py questions.jsonl --out answers.jsonl   run an agent over a JSONL file (resumable)
  {PROG} cassette show cassettes/test_agent.yaml      read what a test recorded
  {PROG} run my_tools.py "And tomorrow?" --session ada   continue a stored conversation
  {PROG} sessions show ada                           read it, with usage and cost per run

Run '{PROG} COMMAND --help' for the options of one command."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr, pointing at ``--help``."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def _add_debug(parser: argparse.ArgumentParser, *, default: object = argparse.SUPPRESS) -> None:
    parser.add_argument(
        "--debug", action="store_true", default=default, help="show the full traceback when something fails"
    )


def build_parser() -> argparse.ArgumentParser:
    """Build the parser for all commands (cheap: imports nothing beyond the standard library)."""
    parser = _Parser(
        prog=PROG,
        description="Tool-using assistants on the AIMLAPI chat completion API.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_debug(parser, default=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    tools = commands.add_parser(
        "tools",
        help="show the tools a module or an MCP server defines, as the model will see them",
        description="Show every tool TARGET (and each MCP server given) defines as the model will see it: "
        "name, description and parameters with types and descriptions. Warns about undocumented functions "
        "and parameters.",
    )
    tools.add_argument("target", metavar="TARGET", nargs="?", help=_TARGET_HELP)
    tools.add_argument(
        "--mcp-stdio",
        metavar="COMMAND",
        action="append",
        default=[],
        help='the tools of the MCP server this command starts, e.g. "python server.py" (repeatable)',
    )
    tools.add_argument(
        "--mcp-http",
        metavar="URL",
        action="append",
        default=[],
        help="the tools of the MCP server at this streamable HTTP URL (repeatable)",
    )
    tools.add_argument(
        "--strict",
        action="store_true",
        help="show the tools as strict function calling sends them (or why one cannot be strict)",
    )
    tools.add_argument(
        "--model",
        metavar="M",
        help="show the tools exactly as model M receives them (its schema dialect, strict only where it has a "
        "strict mode); default: OpenAI's rules",
    )
    tools.add_argument("--json", action="store_true", help="print the exact JSON sent in the request's 'tools' field")
    tools.add_argument("--check", action="store_true", help="exit with status 1 when there are warnings (for CI)")
    tools.add_argument(
        "--exercise",
        type=int,
        metavar="N",
        help="then call every tool with N argument sets its schema allows (with --strict: the strict schema, nulls "
        "included) and list the calls that crashed it; exit status 1 when one did (needs Hypothesis)",
    )
    tools.add_argument("--seed", type=int, default=0, help="the seed --exercise draws arguments with (default: 0)")
    _add_debug(tools)

    run = commands.add_parser(
        "run",
        help="run an agent with a module's tools",
        description="Run an Agent with TARGET's tools on PROMPT. The answer streams as it comes; each tool "
        "call is shown with its arguments, result or error and duration; a summary line ends the output. "
        "Needs AIMLAPI_API_KEY, unless --cassette replays a recording.",
    )
    run.add_argument("target", metavar="TARGET", help=_TARGET_HELP)
    run.add_argument("prompt", metavar="PROMPT", help="the user message")
    run.add_argument("--model", metavar="M", help="model id (default: the generator's, openai/gpt-5-chat-latest)")
    run.add_argument(
        "--base-url",
        metavar="URL",
        help="API base URL (default: https://api.aimlapi.com/v1)",
    )
    run.add_argument("--strict", action="store_true", help="send tools with strict schemas")
    run.add_argument(
        "--max-steps", metavar="N", type=_positive_int, help="at most N model calls (default: the Agent's)"
    )
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
    run.add_argument("--db", metavar="PATH", help=f"with --session: {sessions_cmd.DB_HELP}")
    _add_debug(run)

    models = commands.add_parser(
        "models",
        help="list the models and what each accepts",
        description="List AIMLAPI's chat models with what each accepts: tools, strict tools, response_format, "
        "a system role, parallel_tool_calls. From the catalogue in force: refreshed, cached, or the snapshot "
        "embedded in aiml-agent.",
    )
    models.add_argument("--family", metavar="F", help="only models of family F (openai, anthropic, google, ...)")
    models.add_argument("--tools", action="store_true", help="only models with tool calling")
    models.add_argument("--json", action="store_true", help="print the models and their profiles as JSON")
    models.add_argument(
        "--refresh", action="store_true", help="fetch AIMLAPI's model list first (no key needed) and cache it"
    )
    models.add_argument(
        "--base-url", metavar="URL", help="with --refresh: the API base URL (default: AIMLAPI_BASE_URL or AIMLAPI's)"
    )
    _add_debug(models)

    sessions_cmd.add_parser(commands, _add_debug)

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
        help=_TARGET_HELP + " Or a module holding an Agent (TARGET:NAME, or a variable named 'agent'), used as it is.",
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
    batch.add_argument("--max-steps", metavar="N", type=_positive_int, help="at most N model calls an input")
    batch.add_argument("--retry-errors", action="store_true", help="run again the inputs that failed last time")
    batch.add_argument("--no-progress", action="store_true", help="no progress bar (there is none off a terminal)")
    _add_debug(batch)

    cassette = commands.add_parser(
        "cassette",
        help="work with recorded cassettes",
        description="Work with vcrpy cassettes recorded by tests and examples.",
    )
    cassette_commands = cassette.add_subparsers(dest="cassette_command", metavar="ACTION", parser_class=_Parser)
    cassette_commands.required = True
    show = cassette_commands.add_parser(
        "show",
        help="print a cassette as a readable transcript",
        description="Print a cassette as a transcript: each request's messages by role, the tools offered, "
        "the model's reply and tool calls (streams reassembled) and the tokens used.",
    )
    show.add_argument("file", metavar="FILE", help="a vcrpy YAML cassette")
    show.add_argument(
        "--full", action="store_true", help="repeat every request's whole conversation (default: only new messages)"
    )
    _add_debug(show)
    _add_debug(cassette)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def _concurrency(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a whole number of at least 1, got {text!r}") from None


_LIBRARY_LOGGERS = ("aiml_agent", "haystack", "openai", "httpx", "httpx2", "vcr")

_COMMANDS: dict[str, str] = {
    "tools": "aiml_agent.cli.tools_cmd",
    "run": "aiml_agent.cli.run_cmd",
    "models": "aiml_agent.cli.models_cmd",
    "batch": "aiml_agent.cli.batch_cmd",
    "cassette": "aiml_agent.cli.cassette_cmd",
    "sessions": "aiml_agent.cli.sessions_cmd",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status: 0 done, 1 failed (or warnings under ``--check``).

    Usage errors exit through ``SystemExit(2)`` and ``--help`` through ``SystemExit(0)``, as argparse does.
    """
    _tolerate_narrow_encodings()
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    debug = bool(getattr(args, "debug", False))
    try:
        command = import_module(_COMMANDS[args.command])
        with nullcontext() if debug else _quiet_library_logs():
            return int(command.execute(args))
    except CLIError as error:
        return _fail(str(error), debug=debug)
    except BrokenPipeError:  # e.g. `aiml-agent run ... | head`: the reader left; stop quietly
        _silence_stdout()
        return 1
    except KeyboardInterrupt:
        sys.stdout.flush()
        sys.stderr.write(f"\n{PROG}: interrupted\n")
        return 130
    except Exception as error:
        text = " ".join(str(error).split()) or "(no message)"
        return _fail(f"{type(error).__name__}: {text} (run with --debug for the traceback)", debug=debug)


def _fail(message: str, *, debug: bool) -> int:
    """Report the exception being handled: its traceback only with --debug, then one line."""
    sys.stdout.flush()
    if debug:
        traceback.print_exc()
    sys.stderr.write(f"{PROG}: error: {message}\n")
    return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # pragma: no cover - stdout without a file descriptor
        pass


def _tolerate_narrow_encodings() -> None:
    """On a console that cannot encode '→' or '✗' (e.g. cp1252), print a replacement instead of crashing."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        reconfigure = getattr(stream, "reconfigure", None)
        if encoding != "utf8" and callable(reconfigure):
            reconfigure(errors="replace")


@contextmanager
def _quiet_library_logs() -> Iterator[None]:
    """Hide library warnings (e.g. the generator's note on malformed tool arguments): the command's own
    output already says what happened. Levels are restored afterwards, so calling ``main()`` in-process
    leaves the caller's logging as it was."""
    loggers = [logging.getLogger(name) for name in _LIBRARY_LOGGERS]
    saved = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, saved):
            logger.setLevel(level)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
