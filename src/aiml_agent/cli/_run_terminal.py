"""What ``aiml-agent run`` shows and asks on the terminal: the streamed answer and each tool call as it runs
(:class:`RunPrinter`), the closing summary, the ``--json`` result, and the ``--approve`` questions
(:class:`TerminalApprover`).

Questions and answers go through stderr and stdin, so ``--json`` output on stdout stays machine-readable.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from aiml_agent.cli._shared import Style, indent, seconds_text, tool_call_arguments, usage_text
from aiml_agent.run_result import Usage

if TYPE_CHECKING:
    from haystack.tools import Tool

    from aiml_agent.approval import ApprovalDecision, PendingToolCall

_RESULT_PREVIEW = 300


class RunPrinter:
    """A streaming callback for the Agent: writes text as it comes and each tool call once it has run.

    Tool calls are printed from the agent's tool-result chunks (one per call, after the turn's calls ran):
    name, arguments, result or error, and duration (the call's own when the chunk carries it, else the
    turn's, since the calls of one turn run at the same time).
    """

    def __init__(self, out: TextIO, style: Style, *, quiet: bool = False) -> None:
        self.out = out
        self.style = style
        self.quiet = quiet
        self.at_line_start = True
        self.text_since_tools = ""
        self.after_tools = False
        self.last_model_chunk = time.perf_counter()

    def __call__(self, chunk: Any) -> None:
        result = getattr(chunk, "tool_call_result", None)
        if result is not None:
            self._tool_result(chunk, result)
            return
        self.last_model_chunk = time.perf_counter()
        text = chunk.content or ""
        if text:
            if self.after_tools:
                self._write("\n")
                self.after_tools = False
            self.text_since_tools += text
            self._write(text)

    def finish(self, result: dict[str, Any]) -> None:
        """After the run: print the final answer if it was not streamed, and end the line."""
        last = result.get("last_message")
        text = getattr(last, "text", None) or ""
        role = getattr(getattr(last, "role", None), "value", None)
        if text and role == "assistant" and not self.text_since_tools.strip():
            self._write(text)
        self.end_line()

    def _tool_result(self, chunk: Any, result: Any) -> None:
        call = result.origin
        duration = chunk.meta.get("duration") if isinstance(chunk.meta, dict) else None
        if not isinstance(duration, (int, float)):
            duration = time.perf_counter() - self.last_model_chunk
        arguments = tool_call_arguments(call)
        self.end_line()
        if self.text_since_tools:
            self._write("\n")
            self.at_line_start = True
        self.text_since_tools = ""
        head = self.style("→ ", "cyan") + self.style(call.tool_name, "bold") + f"({arguments})"
        meta = chunk.meta if isinstance(chunk.meta, dict) else {}
        if meta.get("pending_approval"):
            self._write(
                f"{head}\n" + self.style(f"  ⏸ waiting for approval (id {meta.get('approval_id')})", "yellow") + "\n"
            )
            self.at_line_start = True
            self.after_tools = True
            return
        self._write(f"{head}  {self.style(seconds_text(duration), 'dim')}\n")
        text = _preview(str(result.result))
        if result.error:
            self._write(self.style(f"  ✗ {text}", "red") + "\n")
        else:
            self._write(self.style("  ← ", "green") + text + "\n")
        self.at_line_start = True
        self.after_tools = True

    def _write(self, text: str) -> None:
        if self.quiet or not text:
            return
        self.out.write(text)
        self.out.flush()
        self.at_line_start = text.endswith("\n")

    def end_line(self) -> None:
        """End the line being streamed (before something else, e.g. a question, is written)."""
        if not self.at_line_start:
            self._write("\n")


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _RESULT_PREVIEW else flat[: _RESULT_PREVIEW - 1] + "…"


def pending_text(result: dict[str, Any], style: Style) -> str:
    """For a run paused for approval: what waits, and how to decide (empty when nothing waits)."""
    pending = result.get("pending") or []
    if not pending:
        return ""
    lines = [
        "",
        style("The run paused: these tool calls wait for approval and did not run:", "yellow"),
        *(f"  {call.tool_name}({json.dumps(call.arguments, ensure_ascii=False)})  [id {call.id}]" for call in pending),
        "Run again with --approve to decide on each call here (y/n/e).",
    ]
    return "\n".join(lines) + "\n"


def summary_line(result: dict[str, Any], elapsed: float) -> str:
    """``2 steps · 57 tokens (45 prompt + 12 completion) · cost 42 credits, $0.000021 · 0.84 s``."""
    steps = len(result.get("steps") or [])
    usage = result.get("usage") or Usage()
    parts = [f"{steps} step{'s' if steps != 1 else ''}"]
    spent = usage_text(usage.to_dict(), usage.cost)
    if spent:
        parts.append(spent)
    parts.append(seconds_text(elapsed))
    reason = result.get("exit_reason")
    if reason and reason != "text":
        parts.append(f"stopped: {reason}")
    return " · ".join(parts)


def result_json(result: dict[str, Any], elapsed: float) -> dict[str, Any]:
    """The run result as JSON-ready data: answer, exit reason, usage, steps, messages, seconds."""
    last = result.get("last_message")
    data: dict[str, Any] = {
        "answer": getattr(last, "text", None),
        "exit_reason": result.get("exit_reason"),
        "usage": (result.get("usage") or Usage()).to_dict(),
        "duration": round(elapsed, 4),
        "steps": [_to_dict(step) for step in result.get("steps") or []],
        "messages": [_to_dict(message) for message in result.get("messages") or []],
    }
    if result.get("pending"):
        data["pending"] = [_to_dict(call) for call in result["pending"]]
    if "output" in result:
        data["output"] = _to_dict(result["output"])
    return data


def _to_dict(value: Any) -> Any:
    for method in ("to_dict", "model_dump"):
        if callable(getattr(value, method, None)):
            return getattr(value, method)()
    return value


class TerminalApprover:
    """An Agent ``approval_handler`` that asks ``y`` (run it), ``n`` (do not) or ``e`` (edit the arguments as JSON).

    Edited arguments are checked against the tool before they are accepted; a bad edit is explained and asked
    again. No answer (end of input) denies the call.

    :param tools: The run's tools by name, to check edited arguments.
    :param ask: Where questions go (stderr).
    :param answers: Where answers come from (stdin).
    :param before: Called before each question (ends the streamed output's line).
    """

    def __init__(
        self, tools: Mapping[str, Tool], ask: TextIO, answers: TextIO, before: Callable[[], None] = lambda: None
    ) -> None:
        self.tools = tools
        self.ask = ask
        self.answers = answers
        self.before = before
        self.style = Style(ask)

    def __call__(self, pending: PendingToolCall) -> ApprovalDecision:
        from aiml_agent.approval import Deny, Edit

        self.before()
        shown = json.dumps(pending.arguments, ensure_ascii=False)
        self._say(self.style("? ", "yellow") + self.style(pending.tool_name, "bold") + f"({shown}) needs your approval")
        while True:
            answer = self._read("  run it? [y]es / [n]o / [e]dit arguments: ")
            if answer is None:
                self._say("  (no answer: not run)")
                return Deny("No answer was given on the terminal.")
            choice = answer.strip().lower()
            if choice in ("y", "yes"):
                return True
            if choice in ("n", "no"):
                return False
            if choice in ("e", "edit"):
                arguments = self._edited(pending)
                if arguments is not None:
                    return Edit(arguments)
                continue
            self._say("  answer y, n or e")

    def _edited(self, pending: PendingToolCall) -> dict[str, Any] | None:
        """Arguments typed as JSON and checked against the tool; None (after saying why) when not usable."""
        from aiml_agent.approval import check_arguments
        from aiml_agent.tool_failure import field_error_lines

        text = self._read("  new arguments as one JSON object: ")
        if text is None:
            return None
        try:
            arguments = json.loads(text)
        except json.JSONDecodeError as error:
            self._say(f"  not valid JSON ({error.msg}); try again")
            return None
        if not isinstance(arguments, dict):
            self._say('  the arguments must be a JSON object, e.g. {"amount": 50}; try again')
            return None
        tool = self.tools.get(pending.tool_name)
        errors = check_arguments(tool, arguments) if tool is not None else []
        if errors:
            self._say("  invalid arguments:\n" + indent(field_error_lines(errors), "    ") + "\n  try again")
            return None
        return arguments

    def _read(self, question: str) -> str | None:
        self.ask.write(question)
        self.ask.flush()
        line = self.answers.readline()
        if not line:
            self.ask.write("\n")
            return None
        return line.rstrip("\n")

    def _say(self, text: str) -> None:
        self.ask.write(text + "\n")
        self.ask.flush()
