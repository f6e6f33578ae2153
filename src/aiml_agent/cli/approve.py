"""``aiml-agent run --approve``: ask on the terminal before a tool call that needs approval runs.

Questions and answers go through stderr and stdin, so ``--json`` output on stdout stays machine-readable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from aiml_agent.cli.common import Style, indent

if TYPE_CHECKING:
    from haystack.tools import Tool

    from aiml_agent.approval import ApprovalDecision, PendingToolCall


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
