"""The ``aiml-agent`` command line: see the tools a model gets, run an agent, read a cassette.

One module per command (:mod:`.tools`, :mod:`.run`, :mod:`.models`, :mod:`.sessions`, :mod:`.batch`,
:mod:`.cassette`), each with its ``add_parser`` and ``execute``, and :mod:`._shared` for what they share. This
module builds the parser and turns failures into one line on stderr. The command modules import the library
only when a command runs, so ``aiml-agent --help`` never loads Haystack or the openai SDK.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext

from aiml_agent.cli import batch, cassette, models, run, sessions, tools
from aiml_agent.cli._shared import PROG, CLIError, Parser, add_debug

__all__ = ["CLIError", "build_parser", "main"]

_COMMANDS = {"tools": tools, "run": run, "models": models, "sessions": sessions, "batch": batch, "cassette": cassette}

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


def build_parser() -> argparse.ArgumentParser:
    """Build the parser for all commands (cheap: imports nothing beyond the standard library)."""
    parser = Parser(
        prog=PROG,
        description="Tool-using assistants on the AIMLAPI chat completion API.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_debug(parser, default=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    for command in _COMMANDS.values():
        command.add_parser(commands)
    return parser


_LIBRARY_LOGGERS = ("aiml_agent", "haystack", "openai", "httpx", "httpx2", "vcr")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status: 0 done, 1 failed (or warnings under ``--check``).

    Usage errors exit through ``SystemExit(2)`` and ``--help`` through ``SystemExit(0)``, as argparse does.
    """
    _tolerate_narrow_encodings()
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    debug = bool(getattr(args, "debug", False))
    try:
        with nullcontext() if debug else _quiet_library_logs():
            return int(_COMMANDS[args.command].execute(args))
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
