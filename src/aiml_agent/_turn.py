"""One turn of tool calls from the Agent's side: which calls run, which wait for approval, which were denied,
how their results join the conversation, and whether the run ends after it.

A turn is the unanswered tool calls of an assistant reply: the reply just received, or the last reply of the
messages a run was given (a run resumed after an approval pause). Planning it applies the caller's
``approvals`` and each tool's ``requires_approval``; finishing it puts the tool messages after the reply in
call order and builds the step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import Any

from haystack.dataclasses import ChatMessage, ToolCall
from haystack.tools.errors import ToolInvocationError

from aiml_agent._tool_runner import ToolRunner
from aiml_agent.approval import (
    ApprovalDecision,
    Deny,
    Edit,
    PendingToolCall,
    call_key,
    check_arguments,
    edited_arguments_note,
    open_turn,
)
from aiml_agent.context import RunContext
from aiml_agent.errors import ApprovalError, ToolArgumentsError
from aiml_agent.run_result import ApprovalStatus, RunState, Step, ToolCallRecord
from aiml_agent.tool_controls import NO_CONTROLS
from aiml_agent.tool_failure import ToolFailure, invalid_arguments_text

#: A turn's answered calls and its calls left waiting (with their approval ids): what the stream shows.
Answered = tuple[list[ToolCallRecord], list[tuple[ToolCall, str]]]

logger = logging.getLogger(__name__)


@dataclass
class Turn:
    """The calls of one assistant reply that this run answers.

    :param reply_index: Where the reply is in the run's messages.
    :param positions: The positions (in ``reply.tool_calls``) of the calls without a result yet.
    :param model_duration: Seconds the model call took (0 when the reply came with the messages).
    :param resumed: The reply came with the run's messages.
    """

    reply_index: int
    reply: ChatMessage
    positions: list[int]
    model_duration: float = 0.0
    resumed: bool = False

    @classmethod
    def resumed_from(cls, messages: list[ChatMessage]) -> Turn | None:
        """The turn the given messages leave open, if any."""
        found = open_turn(messages)
        if found is None:
            return None
        index, positions = found
        return cls(index, messages[index], positions, resumed=True)

    def keys(self) -> list[str]:
        """The approval ids of the open calls."""
        calls = self.reply.tool_calls
        return [call_key(calls[position], position) for position in self.positions]


@dataclass
class _Run:
    """A call that runs: as the model made it, as it runs (edited or not), and the decision that let it."""

    position: int
    original: ToolCall
    call: ToolCall
    approval: ApprovalStatus | None = None


@dataclass
class TurnPlan:
    """What happens to each open call of a turn: it runs, it was settled without running, or it waits."""

    turn: Turn
    to_run: list[_Run] = field(default_factory=list)
    settled: dict[int, tuple[ToolFailure, ApprovalStatus | None]] = field(default_factory=dict)
    waiting: list[tuple[int, PendingToolCall]] = field(default_factory=list)

    def decide(self, run: RunState, position: int, decision: ApprovalDecision) -> None:
        """Apply a person's decision on the call at ``position``.

        :raises ToolArgumentsError: An ``Edit``'s arguments are invalid for the tool (nothing has run).
        :raises ApprovalError: The decision is not ``True``, ``False``, ``Deny`` or ``Edit``, or edits a call
            to a tool that does not exist.
        """
        call = self.turn.reply.tool_calls[position]
        key = call_key(call, position)
        if decision is True:
            self.to_run.append(_Run(position, call, call, "approved"))
        elif decision is False or isinstance(decision, Deny):
            reason = decision.reason if isinstance(decision, Deny) else None
            failure = ToolFailure(kind="denied", tool_name=call.tool_name, call_id=call.id, detail=reason or "")
            self.settled[position] = (failure, "denied")
        elif isinstance(decision, Edit):
            edited = ToolCall(
                tool_name=call.tool_name, arguments=_edited_arguments(run, call, key, decision), id=call.id
            )
            self.to_run.append(_Run(position, call, edited, "edited"))
        else:
            raise ApprovalError(
                f"The decision for tool call {key!r} ({call.tool_name}) must be True, False, Deny(...) or "
                f"Edit(...), got {decision!r}"
            )

    def records(self, ran: list[ToolCallRecord], failed: dict[int, ToolCallRecord]) -> list[ToolCallRecord]:
        """All answered calls of the turn in call order: ``ran`` (records of ``to_run``, in that order) with
        the approval noted on each, and the ``failed`` records of the settled calls."""
        by_position = dict(failed)
        for planned, record in zip(self.to_run, ran):
            if planned.approval == "edited":
                record = replace(
                    record,
                    result=edited_arguments_note(planned.call.arguments) + record.result,
                    edited_arguments=planned.call.arguments,
                )
            if planned.approval is not None:
                record = replace(record, tool_call=planned.original, approval=planned.approval)
            by_position[planned.position] = record
        return [by_position[position] for position in sorted(by_position)]


def plan_turn(run: RunState, turn: Turn, context_for: Callable[[ToolCall], RunContext[Any]]) -> TurnPlan:
    """Sort the open calls of ``turn``: decided by the run's ``approvals``, waiting for approval, or running.

    A call waits when its tool requires approval for these arguments; one whose arguments are invalid is
    answered with the errors instead (nothing to approve: it could not run anyway).
    """
    plan = TurnPlan(turn)
    for position in turn.positions:
        call = turn.reply.tool_calls[position]
        key = call_key(call, position)
        if key in run.approvals:
            plan.decide(run, position, run.approvals.pop(key))
            continue
        tool = run.tools.get(call.tool_name)
        controls = run.controls.get(call.tool_name, NO_CONTROLS)
        if tool is None or (call.extra or {}).get("arguments_error") is not None or not controls.requires_approval:
            plan.to_run.append(_Run(position, call, call))
            continue
        errors = check_arguments(tool, call.arguments)
        if errors:
            text = invalid_arguments_text(call.tool_name, errors)
            failure = ToolFailure(
                kind="invalid_arguments",
                tool_name=call.tool_name,
                call_id=call.id,
                field_errors=tuple(errors),
                exception=ToolArgumentsError(text, tool_name=call.tool_name, errors=errors),
            )
            plan.settled[position] = (failure, None)
        elif controls.needs_approval(call.arguments, context_for(call)):
            plan.waiting.append((position, PendingToolCall(id=key, tool_name=call.tool_name, arguments=call.arguments)))
        else:
            plan.to_run.append(_Run(position, call, call))
    return plan


def _edited_arguments(run: RunState, call: ToolCall, key: str, edit: Edit) -> dict[str, Any]:
    """An Edit's arguments, checked against the tool like the model's would be."""
    if not isinstance(edit.arguments, dict):
        raise ApprovalError(f"Edit for tool call {key!r} needs a dict of arguments, got {edit.arguments!r}")
    tool = run.tools.get(call.tool_name)
    if tool is None:
        raise ApprovalError(f"Tool call {key!r} names the unknown tool '{call.tool_name}': it cannot run edited")
    errors = check_arguments(tool, edit.arguments)
    if errors:
        text = invalid_arguments_text(call.tool_name, errors)
        raise ToolArgumentsError(f"Edit for tool call {key!r}: {text}", tool_name=call.tool_name, errors=errors)
    return edit.arguments


def check_approvals(run: RunState, turn: Turn | None) -> None:
    """Refuse decisions for calls that are not waiting (a typo must not pass silently)."""
    if not run.approvals:
        return
    open_keys = turn.keys() if turn is not None else []
    unknown = sorted(set(run.approvals) - set(open_keys))
    if unknown:
        raise ApprovalError(
            f"approvals name tool calls that are not waiting for an answer: {unknown}; "
            f"waiting: {open_keys or 'none (the messages do not end with unanswered tool calls)'}"
        )


def finish(
    run: RunState,
    plan: TurnPlan,
    runner: ToolRunner,
    ran: list[ToolCallRecord],
    duration: float,
    exit_conditions: Collection[str],
) -> Answered:
    """After the calls ran: the records in call order, the tool messages after the reply, the step, and the
    exit reason if the run must end; returns what to stream.

    :raises Exception: In raise mode, the failure of a call settled without running (not a denial).
    """
    calls = plan.turn.reply.tool_calls
    failed: dict[int, ToolCallRecord] = {}
    for position, (failure, approval) in plan.settled.items():
        if runner.raise_on_error and failure.kind != "denied":
            text = runner.formatter(failure)
            raise failure.exception or ToolInvocationError(text, tool_name=failure.tool_name or "")
        record = runner.failed(calls[position], failure)
        failed[position] = replace(record, approval=approval) if approval is not None else record
    records = plan.records(ran, failed)
    _add_results(run, plan.turn, records)
    run.steps.append(
        Step(
            index=len(run.steps) + 1,
            reply=plan.turn.reply,
            model_duration=plan.turn.model_duration,
            tool_calls=tuple(records),
            tools_duration=duration,
            resumed=plan.turn.resumed,
        )
    )
    run.pending = [pending for _, pending in plan.waiting]
    _decide_exit(run, records, exit_conditions)
    return records, [(calls[position], pending.id) for position, pending in plan.waiting]


def _add_results(run: RunState, turn: Turn, records: list[ToolCallRecord]) -> None:
    """The turn's tool messages after its reply, in call order (with any it already had)."""
    calls = turn.reply.tool_calls
    answered = run.messages[turn.reply_index + 1 :]
    answered += [ChatMessage.from_tool(r.result, origin=r.tool_call, error=r.error) for r in records]
    answered.sort(key=lambda message: _position(calls, message))
    run.messages[turn.reply_index + 1 :] = answered


def _decide_exit(run: RunState, records: list[ToolCallRecord], exit_conditions: Collection[str]) -> None:
    """Count failures; end the run when a call waits, a tool failed too often, or an exit tool ran."""
    for record in records:
        if record.failure is not None and record.failure.counts_against_retries:
            run.tool_failures[record.tool_name] += 1
    if run.pending:
        run.exit_reason = "approval_required"
        return
    for name, count in run.tool_failures.items():
        limit = run.controls.get(name, NO_CONTROLS).retries
        if limit is not None and count > limit:
            logger.info("Agent run stopped: tool '%s' failed %d times (retries=%d)", name, count, limit)
            run.exit_reason = "tool_retries"
            return
    for record in records:
        if not record.error and record.tool_name in exit_conditions:
            run.exit_reason = record.tool_name
            return


def _position(calls: list[ToolCall], message: ChatMessage) -> int:
    origin = message.tool_call_result.origin if message.tool_call_result is not None else None
    for position, call in enumerate(calls):
        if origin is not None and ((call.id and origin.id == call.id) or call == origin):
            return position
    return len(calls)
