"""``aiml-agent sessions list | show ID | delete ID``: the conversations a database holds.

``aiml-agent run ... --session ID`` continues one (see :mod:`.run`); this module also opens that session.
The library is imported when a command runs, so building the parser stays cheap.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from aiml_agent.cli._shared import CLIError, Style, add_debug, count_text, message_lines, seconds_text, usage_text

if TYPE_CHECKING:
    from aiml_agent.sessions import RunRecord, SessionSummary, SQLiteSession

DEFAULT_DB = "conversations.db"
DB_HELP = f"the conversation database (default: {DEFAULT_DB})"


def add_parser(commands: Any) -> None:
    """Add ``sessions`` and its actions to the command line's subparsers."""
    sessions = commands.add_parser(
        "sessions",
        help="list, show or delete stored conversations",
        description="The conversations stored by 'aiml-agent run --session ID' (or SQLiteSession) in a database.",
    )
    actions = sessions.add_subparsers(dest="sessions_command", metavar="ACTION", parser_class=type(sessions))
    actions.required = True
    listing = actions.add_parser(
        "list", help="one line per session", description="One line per session: runs, messages, last run, cost."
    )
    show = actions.add_parser(
        "show",
        help="print a session as a readable transcript",
        description="Print a session run by run: its messages, and each run's model, tokens, cost and duration.",
    )
    show.add_argument("session_id", metavar="ID", help="the session")
    delete = actions.add_parser(
        "delete", help="delete a session", description="Delete a session's messages and runs from the database."
    )
    delete.add_argument("session_id", metavar="ID", help="the session")
    for action in (listing, show, delete):
        action.add_argument("--db", metavar="PATH", default=DEFAULT_DB, help=DB_HELP)
        add_debug(action)
    for action in (listing, show):
        action.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_debug(sessions)


def execute(args: argparse.Namespace) -> int:
    """Run ``sessions ACTION``; 0 when done, 1 (through CLIError) when the database or session is not there."""
    from aiml_agent.errors import SessionStoreError

    out = sys.stdout
    try:
        if args.sessions_command == "list":
            text = _list(args.db, as_json=args.json, style=Style(out))
        elif args.sessions_command == "show":
            text = _show(args.db, args.session_id, as_json=args.json, style=Style(out))
        else:
            text = _delete(args.db, args.session_id)
    except SessionStoreError as error:
        raise CLIError(str(error)) from error
    out.write(text)
    out.flush()
    return 0


def open_session(session_id: str, db: str) -> SQLiteSession:
    """The session ``aiml-agent run --session`` continues (created when new), or a CLIError saying why not."""
    from aiml_agent.errors import SessionStoreError
    from aiml_agent.sessions import SQLiteSession

    try:
        return SQLiteSession(session_id, db)
    except SessionStoreError as error:
        raise CLIError(str(error)) from error


def _list(db: str, *, as_json: bool, style: Style) -> str:
    from aiml_agent.sessions import SQLiteSession

    summaries = SQLiteSession.list_sessions(db)
    if as_json:
        return json.dumps([_summary_json(s) for s in summaries], indent=2, ensure_ascii=False) + "\n"
    if not summaries:
        return f"{db}: no sessions\n"
    rows = [("SESSION", "RUNS", "MESSAGES", "LAST RUN (UTC)", "USAGE")]
    for s in summaries:
        spent = usage_text(s.usage.to_dict(), s.usage.cost) or "-"
        rows.append((s.session_id, str(s.runs), str(s.messages), f"{s.last_run_at:%Y-%m-%d %H:%M}", spent))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [style(f"{db}: {count_text(len(summaries), 'session')}", "bold")]
    for number, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].rjust(widths[2]), row[3].ljust(widths[3])]
        line = "  ".join([*cells, row[4]]).rstrip()
        lines.append(style(line, "dim") if number == 0 else line)
    return "\n".join(lines) + "\n"


def _show(db: str, session_id: str, *, as_json: bool, style: Style) -> str:
    from aiml_agent.run_result import Usage

    session = _existing(db, session_id)
    runs = session.runs()
    messages = session.load()
    if as_json:
        listed: list[dict[str, Any]] = []
        start = 0
        for run in runs:
            transcript = [m.to_dict() for m in messages[start : start + run.messages]]
            listed.append({**run.to_dict(), "transcript": transcript})
            start += run.messages
        data = {"session_id": session_id, "db": session.path, "runs": listed}
        return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"

    answered = {r.origin.id for m in messages for r in m.tool_call_results}
    paused = bool(runs) and runs[-1].exit_reason == "approval_required"
    contents = f"{count_text(len(runs), 'run')}, {count_text(len(messages), 'message')}"
    lines = [style(f"session {session_id} in {session.path}: {contents}", "bold")]
    start, total = 0, Usage()
    for number, run in enumerate(runs, 1):
        lines += ["", style(_run_header(number, run), "bold")]
        for message in messages[start : start + run.messages]:
            lines += message_lines(message.to_openai_dict_format(require_tool_call_ids=False), style)
            for call in message.tool_calls:
                if call.id not in answered:
                    waiting = paused and number == len(runs)
                    note = "waiting for approval" if waiting else "no result recorded"
                    lines.append(style(f"    ({call.tool_name} [{call.id}]: {note})", "yellow"))
        spent = usage_text(run.usage.to_dict(), run.cost)
        lines.append("  " + style(" · ".join(filter(None, [count_text(run.usage.requests, "request"), spent])), "dim"))
        start += run.messages
        total += run.usage
    spent = usage_text(total.to_dict(), total.cost)
    lines += ["", style(" · ".join(filter(None, [f"total: {count_text(total.requests, 'request')}", spent])), "bold")]
    return "\n".join(lines) + "\n"


def _delete(db: str, session_id: str) -> str:
    session = _existing(db, session_id)
    runs, messages = len(session.runs()), len(session.load())
    session.clear()
    contents = f"{count_text(runs, 'run')}, {count_text(messages, 'message')}"
    return f"deleted session {session_id} ({contents}) from {session.path}\n"


def _existing(db: str, session_id: str) -> SQLiteSession:
    from aiml_agent.sessions import SQLiteSession

    known = [s.session_id for s in SQLiteSession.list_sessions(db)]  # fails on a missing file: never creates one
    if session_id not in known:
        listed = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "") if known else "none"
        raise CLIError(f"no session {session_id!r} in {db} (sessions: {listed})")
    return SQLiteSession(session_id, db)


def _run_header(number: int, run: RunRecord) -> str:
    parts = [f"── run {number}", f"{run.started_at:%Y-%m-%d %H:%M:%S} UTC"]
    if run.model:
        parts.append(run.model)
    parts += [seconds_text(run.duration), f"exit {run.exit_reason}"]
    return " · ".join(parts)


def _summary_json(summary: SessionSummary) -> dict[str, Any]:
    return {
        "session_id": summary.session_id,
        "runs": summary.runs,
        "messages": summary.messages,
        "first_run_at": summary.first_run_at.isoformat(),
        "last_run_at": summary.last_run_at.isoformat(),
        "usage": summary.usage.to_dict(),
    }
