"""Agent: the loop that lets a chat model use tools until it has an answer.

model -> tool calls (all of one turn at once) -> one tool message per call, in call order -> model ... until a
reply without tool calls, an exit condition, ``max_steps`` model calls, a usage limit, a tool that failed more
than its ``retries``, or a call that waits for a person's approval. Tool failures of every kind go back to the
model as error tool messages, worded by one formatter. All state of a run lives in the run and its messages (a
run paused for approval resumes from its messages alone), so one Agent serves many concurrent runs.

``from aiml_agent import Agent`` costs little more than ``import haystack``: what a run needs (``haystack.tools``,
pydantic, the tool runner) is imported by the first Agent made, not by this module.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from haystack import component, default_from_dict, default_to_dict
from haystack.core.serialization import component_to_dict
from haystack.dataclasses import ChatMessage, StreamingCallbackT, SyncStreamingCallbackT, select_streaming_callback
from haystack.utils.callable_serialization import serialize_callable
from haystack.utils.deserialization import deserialize_component_inplace
from haystack.utils.type_serialization import deserialize_type, serialize_type

from aiml_agent import _observe
from aiml_agent._haystack import load_callable, resolve_run_annotations  # load_callable: allowlists this module
from aiml_agent.approval import ApprovalDecision, ApprovalHandler, PendingToolCall
from aiml_agent.errors import OutputValidationError
from aiml_agent.run_result import RunState, Step, Usage, UsageLimits
from aiml_agent.tool_controls import ToolControls
from aiml_agent.tool_failure import ToolErrorFormatter, ToolFailure, field_error_lines, format_tool_failure

if TYPE_CHECKING:  # imported where used (a session is used through its methods: the sessions package never)
    from haystack.components.generators.chat.types import ChatGenerator
    from haystack.tools import Tool, ToolsType
    from pydantic import BaseModel

    from aiml_agent._agent_tools import AgentTools
    from aiml_agent._tool_runner import ToolRunner
    from aiml_agent._turn import Answered, Turn
    from aiml_agent.sessions import Session

DEFAULT_MAX_STEPS = 20
DEFAULT_TOOL_CONCURRENCY = 32
DEFAULT_OUTPUT_RETRIES = 2
_INCOMPLETE_FINISH_REASONS = ("length", "content_filter")

logger = logging.getLogger(__name__)


@component
class Agent:
    """A tool-using assistant: calls the chat model, runs the tools it asks for, and repeats until done.

    ```python
    agent = Agent(tools=[get_weather], system_prompt="Be brief.")
    result = agent.run("What's the weather in Paris?")
    print(result["last_message"].text, result["usage"])
    ```
    """

    def __init__(
        self,
        chat_generator: ChatGenerator | None = None,
        tools: AgentTools | None = None,
        *,
        system_prompt: str | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        tools_strict: bool | None = None,
        exit_conditions: list[str] | str | None = None,
        streaming_callback: StreamingCallbackT | None = None,
        output_type: type[BaseModel] | None = None,
        tool_concurrency: int = DEFAULT_TOOL_CONCURRENCY,
        raise_on_tool_error: bool = False,
        output_retries: int = DEFAULT_OUTPUT_RETRIES,
        tool_timeout: float | None = None,
        tool_retries: int | None = None,
        max_tool_output_chars: int | None = None,
        tool_controls: Mapping[str, ToolControls | Mapping[str, Any]] | None = None,
        usage_limits: UsageLimits | None = None,
        approval_handler: ApprovalHandler | None = None,
        tool_error_formatter: ToolErrorFormatter | None = None,
    ) -> None:
        """
        :param chat_generator: The chat model; defaults to ``AIMLAPIChatGenerator()`` (key read at first request).
        :param tools: Tools, Toolsets and plain functions (made into tools with ``create_tool``), or a Toolset.
        :param system_prompt: Put first in the conversation unless the messages already start with a system one.
        :param max_steps: At most this many model calls per run; a run that hits it returns
            ``exit_reason="max_steps"``.
        :param tools_strict: Forwarded to the generator on every call when not None.
        :param exit_conditions: ``"text"`` (stop at a reply without tool calls; always applies) and/or tool
            names (stop once that tool ran without error); one name may be given as a bare string. Default
            ``["text"]``.
        :param streaming_callback: Gets the model's chunks and one chunk per tool result (and per call left
            waiting for approval).
        :param output_type: A pydantic model: the final answer is requested as JSON of that schema and
            validated into the ``output`` result.
        :param tool_concurrency: At most this many tool calls of one turn run at the same time.
        :param raise_on_tool_error: Raise a failing tool call's error instead of telling the model about it.
        :param output_retries: How many times an answer that does not match ``output_type`` is sent back.
        :param tool_timeout: Seconds any tool call may run, unless the tool sets its own ``timeout``.
        :param tool_retries: Failed calls of one tool a run tolerates, unless the tool sets its own ``retries``;
            one more ends the run with ``exit_reason="tool_retries"``. None: no limit.
        :param max_tool_output_chars: Longest tool result sent to the model, unless the tool sets its own.
        :param tool_controls: Controls per tool name, for any Tool (e.g. ``requires_approval`` on an MCP tool);
            they win over the tool's own. A name that is not a tool of the run raises at the run's start.
        :param usage_limits: Requests, tokens and cost a run may use; ``exit_reason="usage_limit"`` when reached.
        :param approval_handler: Decides calls that need approval during the run: called with each
            ``PendingToolCall`` (sync, or async under ``run_async``), returns ``True``, ``False``, ``Deny(...)``
            or ``Edit(...)``. Without one, a run with such calls returns ``exit_reason="approval_required"``.
        :param tool_error_formatter: Words each tool failure (a ``ToolFailure``) for the model; default
            ``format_tool_failure``.
        :raises ValueError: A setting is out of range, two tools share a name, or an exit condition is no tool.
        :raises TypeError: ``output_type`` is not a pydantic model, or a tools item is neither Tool nor function.
        """
        from haystack.tools import flatten_tools_or_toolsets
        from pydantic import BaseModel

        from aiml_agent._agent_tools import as_controls, as_tools, tools_by_name
        from aiml_agent._request import response_format_for

        resolve_run_annotations(type(self))
        if chat_generator is None:
            from aiml_agent.generator import AIMLAPIChatGenerator

            chat_generator = AIMLAPIChatGenerator()
        _check_max_steps(max_steps)
        if tool_concurrency < 1:
            raise ValueError(f"tool_concurrency must be at least 1, got {tool_concurrency}")
        if output_type is not None and not (inspect.isclass(output_type) and issubclass(output_type, BaseModel)):
            raise TypeError(f"output_type must be a pydantic BaseModel subclass, got {output_type!r}")
        self.chat_generator = chat_generator
        self.tools = as_tools(tools)
        self.system_prompt = system_prompt
        self.max_steps = max_steps
        self.tools_strict = tools_strict
        if isinstance(exit_conditions, str):  # one condition given bare; list("finish") would split it into letters
            exit_conditions = [exit_conditions]
        self.exit_conditions = list(exit_conditions) if exit_conditions is not None else ["text"]
        self.streaming_callback = streaming_callback
        self.output_type = output_type
        self.tool_concurrency = tool_concurrency
        self.raise_on_tool_error = raise_on_tool_error
        self.output_retries = output_retries
        self.tool_timeout = tool_timeout
        self.tool_retries = tool_retries
        self.max_tool_output_chars = max_tool_output_chars
        self._tool_defaults = ToolControls(
            timeout=tool_timeout, retries=tool_retries, max_output_chars=max_tool_output_chars
        )
        self.tool_controls = {name: as_controls(name, value) for name, value in (tool_controls or {}).items()}
        if usage_limits is not None and not isinstance(usage_limits, UsageLimits):
            raise TypeError(f"usage_limits must be a UsageLimits, got {type(usage_limits).__name__}")
        self.usage_limits = usage_limits
        self.approval_handler = approval_handler
        self.tool_error_formatter = tool_error_formatter
        if self.tools is not None and not _loads_tools_when_warmed(self.tools):
            self._check_exit_conditions(tools_by_name(flatten_tools_or_toolsets(self.tools)))
        self._tools_warm = False  # init tools are warmed once: by warm_up() or by the first run
        self._response_format = response_format_for(output_type) if output_type is not None else None
        self._output_schema = output_type.model_json_schema() if output_type is not None else None

    def _check_exit_conditions(self, tools: Mapping[str, Tool]) -> None:
        unknown = [c for c in self.exit_conditions if c != "text" and c not in tools]
        if unknown:
            raise ValueError(
                f"exit_conditions {unknown} are neither 'text' nor tool names; tools: {sorted(tools) or 'none'}"
            )

    def warm_up(self) -> None:
        """Warm up the tools and the chat generator (a Pipeline calls this; a run outside one warms its tools)."""
        from haystack.tools import warm_up_tools

        warm_up_tools(self.tools)
        self._tools_warm = True
        if hasattr(self.chat_generator, "warm_up"):
            self.chat_generator.warm_up()

    def _warm_up_tools(self, tools: ToolsType | None) -> None:
        """Before a run: warm its run-time ``tools``, or the init tools if not done yet.

        ``Tool.invoke`` warms a tool itself, but a Toolset that loads its tools in ``warm_up()`` (MCP and the
        like) must be warmed before the model is told which tools exist.
        """
        from haystack.tools import warm_up_tools

        if tools is not None:
            warm_up_tools(tools)
        elif not self._tools_warm:
            warm_up_tools(self.tools)
            self._tools_warm = True

    async def _warm_up_tools_async(self, tools: ToolsType | None) -> None:
        """:meth:`_warm_up_tools` for ``run_async``: tools that can warm up asynchronously do."""
        from haystack.tools import warm_up_tools_async

        if tools is not None:
            await warm_up_tools_async(tools)
        elif not self._tools_warm:
            await warm_up_tools_async(self.tools)
            self._tools_warm = True

    # ----------------------------------------------------------------------------------------------- runs

    @component.output_types(
        messages=list[ChatMessage],
        last_message=ChatMessage,
        exit_reason=str,
        usage=Usage,
        steps=list[Step],
        pending=list[PendingToolCall],
        output=Any,
    )
    def run(
        self,
        messages: list[ChatMessage] | str,
        *,
        deps: Any = None,
        generation_kwargs: dict[str, Any] | None = None,
        streaming_callback: StreamingCallbackT | None = None,
        tools: AgentTools | None = None,
        max_steps: int | None = None,
        approvals: Mapping[str, ApprovalDecision] | None = None,
        session: Session | None = None,
    ) -> dict[str, Any]:
        """Run the loop until the model is done (or the run must stop).

        :param messages: The conversation so far, or a string taken as one user message. When it ends with
            tool calls that have no result yet (a run paused for approval), those are answered first.
        :param deps: Anything the tools should receive through ``RunContext.deps``.
        :param generation_kwargs: Extra model parameters for every model call of this run.
        :param streaming_callback: Overrides the init callback for this run (sync only here).
        :param tools: Overrides the init tools for this run.
        :param max_steps: Overrides the init ``max_steps`` for this run.
        :param approvals: Decisions for the calls waiting for approval, by ``PendingToolCall.id``: ``True``,
            ``False``, ``Deny("why")`` or ``Edit({...})`` (edited arguments are validated again).
        :returns: ``messages`` (the whole conversation), ``last_message``, ``exit_reason`` (``"text"``, a tool
            name, ``"max_steps"``, ``"length"``, ``"content_filter"``, ``"tool_retries"``, ``"usage_limit"``,
            ``"approval_required"``), ``usage``, ``steps``, ``pending`` (the calls waiting for approval), and
            ``output`` when ``output_type`` is set.
        :param session: A stored conversation to continue: its history goes first, ``messages`` hold only the new
            input (``[]`` continues as it is, e.g. to resume a paused run), and the run is saved into it when it
            ends. A run that raises saves nothing.
        :raises ApprovalError: ``approvals`` name a call that is not waiting, or hold a wrong decision.
        :raises ToolArgumentsError: An ``Edit``'s arguments are invalid (nothing ran).
        """
        from aiml_agent._agent_tools import as_tools
        from aiml_agent._turn import Turn, check_approvals

        callback = select_streaming_callback(self.streaming_callback, streaming_callback, requires_async=False)
        session_run = session.start_run(messages, model=self._model_name()) if session is not None else None
        run_tools = as_tools(tools)
        self._warm_up_tools(run_tools)
        new_messages = session_run.messages if session_run is not None else messages
        run = self._start(new_messages, deps, generation_kwargs, run_tools, max_steps, approvals)
        turn = Turn.resumed_from(run.messages)
        check_approvals(run, turn)
        with _observe.agent_run(self, run.messages) as observed:
            self._loop(run, turn, callback)
            result = self._result(run)
            observed.finish(result)
        if session_run is not None:
            session_run.finish(result)
        return result

    def _loop(self, run: RunState, turn: Turn | None, callback: SyncStreamingCallbackT | None) -> None:
        """Answer the waiting turn (if any), then model call -> tool calls ... until the run has an exit reason."""
        from aiml_agent._tool_runner import tool_result_chunks

        while True:
            if turn is not None:
                answered = self._answer(run, turn)
                if callback is not None:
                    for chunk in tool_result_chunks(*answered):
                        callback(chunk)
                if run.exit_reason is not None:
                    break
            if self._stops_before_request(run):
                break
            started = time.perf_counter()
            generator: Any = self.chat_generator
            replies = generator.run(messages=run.messages, streaming_callback=callback, **self._generator_kwargs(run))
            turn = self._take_reply(run, replies["replies"], time.perf_counter() - started)
            if run.exit_reason is not None:
                break

    @component.output_types(
        messages=list[ChatMessage],
        last_message=ChatMessage,
        exit_reason=str,
        usage=Usage,
        steps=list[Step],
        pending=list[PendingToolCall],
        output=Any,
    )
    async def run_async(
        self,
        messages: list[ChatMessage] | str,
        *,
        deps: Any = None,
        generation_kwargs: dict[str, Any] | None = None,
        streaming_callback: StreamingCallbackT | None = None,
        tools: AgentTools | None = None,
        max_steps: int | None = None,
        approvals: Mapping[str, ApprovalDecision] | None = None,
        session: Session | None = None,
    ) -> dict[str, Any]:
        """Async version of :meth:`run` (same parameters and result); callbacks and the approval handler may
        be sync or async."""
        from aiml_agent._agent_tools import as_tools
        from aiml_agent._turn import Turn, check_approvals

        callback = streaming_callback or self.streaming_callback  # sync ones are fine here: called inline
        model = self._model_name()
        session_run = await session.start_run_async(messages, model=model) if session is not None else None
        run_tools = as_tools(tools)
        await self._warm_up_tools_async(run_tools)
        new_messages = session_run.messages if session_run is not None else messages
        run = self._start(new_messages, deps, generation_kwargs, run_tools, max_steps, approvals)
        turn = Turn.resumed_from(run.messages)
        check_approvals(run, turn)
        with _observe.agent_run(self, run.messages) as observed:
            await self._loop_async(run, turn, callback)
            result = self._result(run)
            observed.finish(result)
        if session_run is not None:
            await session_run.finish_async(result)
        return result

    def _model_name(self) -> str | None:
        """The chat generator's model id, recorded with a session's runs."""
        model = getattr(self.chat_generator, "model", None)
        return model if isinstance(model, str) else None

    async def _loop_async(self, run: RunState, turn: Turn | None, callback: StreamingCallbackT | None) -> None:
        """:meth:`_loop` for ``run_async``."""
        from aiml_agent._tool_runner import tool_result_chunks

        while True:
            if turn is not None:
                answered = await self._answer_async(run, turn)
                if callback is not None:
                    for chunk in tool_result_chunks(*answered):
                        outcome = callback(chunk)
                        if inspect.isawaitable(outcome):
                            await outcome
                if run.exit_reason is not None:
                    break
            if self._stops_before_request(run):
                break
            started = time.perf_counter()
            replies = await self._generate_async(run, callback)
            turn = self._take_reply(run, replies, time.perf_counter() - started)
            if run.exit_reason is not None:
                break

    async def _generate_async(self, run: RunState, callback: StreamingCallbackT | None) -> list[ChatMessage]:
        generator: Any = self.chat_generator
        kwargs = {"messages": run.messages, "streaming_callback": callback, **self._generator_kwargs(run)}
        if hasattr(generator, "run_async"):
            result = await generator.run_async(**kwargs)
        else:  # a generator without an async API runs on a worker thread
            result = await asyncio.to_thread(partial(generator.run, **kwargs))
        return list(result["replies"])

    # ------------------------------------------------------------------------------------- loop pieces

    def _start(
        self,
        messages: list[ChatMessage] | str,
        deps: Any,
        generation_kwargs: dict[str, Any] | None,
        tools: ToolsType | None,
        max_steps: int | None,
        approvals: Mapping[str, ApprovalDecision] | None,
    ) -> RunState:
        from haystack.tools import flatten_tools_or_toolsets

        from aiml_agent._agent_tools import effective_controls, tools_by_name

        if max_steps is not None:
            _check_max_steps(max_steps)
        conversation = [ChatMessage.from_user(messages)] if isinstance(messages, str) else _message_list(messages)
        if self.system_prompt and not (conversation and conversation[0].is_from("system")):
            conversation.insert(0, ChatMessage.from_system(self.system_prompt))
        if not conversation:
            raise ValueError("Agent.run got no messages and there is no system_prompt: nothing to send to the model")
        kwargs = dict(generation_kwargs or {})
        if self._response_format is not None:
            kwargs["response_format"] = self._response_format
        # again at each run: run-time tools, or tools a Toolset loaded when warmed up
        by_name = tools_by_name(flatten_tools_or_toolsets(tools if tools is not None else self.tools))
        self._check_exit_conditions(by_name)
        return RunState(
            messages=conversation,
            deps=deps,
            generation_kwargs=kwargs,
            max_steps=max_steps if max_steps is not None else self.max_steps,
            tools=by_name,
            controls=effective_controls(by_name, self.tool_controls, self._tool_defaults),
            approvals=dict(approvals or {}),
        )

    def _generator_kwargs(self, run: RunState) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"tools": list(run.tools.values())}
        if run.generation_kwargs:
            kwargs["generation_kwargs"] = run.generation_kwargs
        if self.tools_strict is not None:
            kwargs["tools_strict"] = self.tools_strict
        return kwargs

    def _stops_before_request(self, run: RunState) -> bool:
        """End the run here if another model request would pass ``max_steps`` or a usage limit."""
        if run.usage.requests >= run.max_steps:
            run.exit_reason = "max_steps"
            return True
        limits = self.usage_limits
        if limits is None:
            return False
        reached = limits.reached(run.usage)
        if reached is not None:
            logger.info("Agent run stopped at a usage limit: %s", reached)
            run.exit_reason = "usage_limit"
            return True
        if limits.max_cost_usd is not None and run.usage.requests == 1 and run.usage.usd_spent is None:
            logger.warning("max_cost_usd cannot apply: the server reported no cost for this run's first reply")
        return False

    def _take_reply(self, run: RunState, replies: list[ChatMessage], duration: float) -> Turn | None:
        """Record the model's reply; decide whether the run ends; return the turn of tool calls to answer."""
        from aiml_agent._turn import Turn

        if not replies:
            raise RuntimeError("The chat generator returned no reply")
        reply = replies[0]
        run.usage += Usage.of_reply(reply.meta)
        run.messages.append(reply)
        if reply.tool_calls:
            return Turn(len(run.messages) - 1, reply, list(range(len(reply.tool_calls))), model_duration=duration)
        run.steps.append(Step(index=len(run.steps) + 1, reply=reply, model_duration=duration))
        finish_reason = reply.meta.get("finish_reason")
        if finish_reason in _INCOMPLETE_FINISH_REASONS:
            run.exit_reason = finish_reason
        elif self.output_type is not None:
            self._take_output(run, reply)
        else:
            run.exit_reason = "text"  # also for an empty reply: there is nothing left to act on
        return None

    # ---- a turn of tool calls: plan (approvals), run, finish ----------------------------------------------

    def _answer(self, run: RunState, turn: Turn) -> Answered:
        """Answer the open calls of ``turn`` from sync code; return what to stream (see ``tool_result_chunks``)."""
        from aiml_agent._sync import run_blocking
        from aiml_agent._turn import finish, plan_turn

        context_for = run.contexts_for_step()
        plan = plan_turn(run, turn, context_for)
        handler = self.approval_handler
        if plan.waiting and handler is not None:
            waiting, plan.waiting = plan.waiting, []
            for position, pending in waiting:
                decision = handler(pending)
                if inspect.isawaitable(decision):
                    decision = run_blocking(partial(_awaited, decision))
                plan.decide(run, position, decision)
        runner = self._runner(run, context_for)
        started = time.perf_counter()
        ran = runner.run([planned.call for planned in plan.to_run]) if plan.to_run else []
        return finish(run, plan, runner, ran, time.perf_counter() - started, self.exit_conditions)

    async def _answer_async(self, run: RunState, turn: Turn) -> Answered:
        """:meth:`_answer` under asyncio."""
        from aiml_agent._turn import finish, plan_turn

        context_for = run.contexts_for_step()
        plan = plan_turn(run, turn, context_for)
        handler = self.approval_handler
        if plan.waiting and handler is not None:
            waiting, plan.waiting = plan.waiting, []
            for position, pending in waiting:
                decision = handler(pending)
                if inspect.isawaitable(decision):
                    decision = await decision
                plan.decide(run, position, decision)
        runner = self._runner(run, context_for)
        started = time.perf_counter()
        ran = await runner.run_async([planned.call for planned in plan.to_run]) if plan.to_run else []
        return finish(run, plan, runner, ran, time.perf_counter() - started, self.exit_conditions)

    def _runner(self, run: RunState, context_for: Callable[..., Any]) -> ToolRunner:
        from aiml_agent._tool_runner import ToolRunner

        return ToolRunner(
            run.tools,
            concurrency=self.tool_concurrency,
            make_context=context_for,
            controls=run.controls,
            formatter=self.tool_error_formatter or format_tool_failure,
            raise_on_error=self.raise_on_tool_error,
        )

    # ---- the final answer -----------------------------------------------------------------------------------

    def _take_output(self, run: RunState, reply: ChatMessage) -> None:
        """Validate the final answer into ``output``; send the errors back for another try, a bounded number."""
        from pydantic import ValidationError

        from aiml_agent._arguments import errors_from_validation

        assert self.output_type is not None
        try:
            run.output = self._validated_output(reply.text or "")
            run.exit_reason = "text"
            return
        except ValidationError as exc:
            errors = tuple(errors_from_validation(exc, root="(answer)"))
        run.output_failures += 1
        if run.output_failures > self.output_retries:
            raise OutputValidationError(
                f"The model's answer did not match {self.output_type.__name__} after {run.output_failures} "
                f"attempts:\n{field_error_lines(errors)}\nLast answer: {reply.text!r}"
            )
        failure = ToolFailure(kind="invalid_output", output_type=self.output_type.__name__, field_errors=errors)
        run.messages.append(ChatMessage.from_user((self.tool_error_formatter or format_tool_failure)(failure)))

    def _validated_output(self, text: str) -> BaseModel:
        """The answer as ``output_type``; ``null`` for an optional field (strict mode sends one) means its default."""
        from aiml_agent._schema import drop_optional_nulls

        assert self.output_type is not None and self._output_schema is not None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return self.output_type.model_validate_json(text)  # raises pydantic's own "invalid JSON" error
        schema = self._output_schema
        return self.output_type.model_validate(drop_optional_nulls(data, schema, schema))

    def _result(self, run: RunState) -> dict[str, Any]:
        result: dict[str, Any] = {
            "messages": run.messages,
            "last_message": run.messages[-1],
            "exit_reason": run.exit_reason or "max_steps",
            "usage": run.usage,
            "steps": run.steps,
            "pending": run.pending,
        }
        if self.output_type is not None:
            result["output"] = run.output
        return result

    # ------------------------------------------------------------------------------------ serialization

    def to_dict(self) -> dict[str, Any]:
        """Serialize the agent: generator, tools and settings (``output_type`` and callables by import path)."""
        from haystack.tools import serialize_tools_or_toolset

        return default_to_dict(
            self,
            chat_generator=component_to_dict(obj=self.chat_generator, name="chat_generator"),
            tools=serialize_tools_or_toolset(self.tools),
            system_prompt=self.system_prompt,
            max_steps=self.max_steps,
            tools_strict=self.tools_strict,
            exit_conditions=self.exit_conditions,
            streaming_callback=_callable_path(self.streaming_callback),
            output_type=serialize_type(self.output_type) if self.output_type is not None else None,
            tool_concurrency=self.tool_concurrency,
            raise_on_tool_error=self.raise_on_tool_error,
            output_retries=self.output_retries,
            tool_timeout=self.tool_timeout,
            tool_retries=self.tool_retries,
            max_tool_output_chars=self.max_tool_output_chars,
            tool_controls={name: c.to_dict() for name, c in self.tool_controls.items()} or None,
            usage_limits=self.usage_limits.to_dict() if self.usage_limits is not None else None,
            approval_handler=_callable_path(self.approval_handler),
            tool_error_formatter=_callable_path(self.tool_error_formatter),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Agent:
        """Rebuild an agent from :meth:`to_dict` output (modules must be on Haystack's deserialization allowlist)."""
        from haystack.tools import deserialize_tools_or_toolset_inplace

        data = copy.deepcopy(data)  # deserializing works in place; leave the caller's dict as it was
        params = data.setdefault("init_parameters", {})
        deserialize_component_inplace(params, key="chat_generator")
        deserialize_tools_or_toolset_inplace(params, key="tools")
        for key, what in (
            ("streaming_callback", "the streaming callback"),
            ("approval_handler", "the approval handler"),
            ("tool_error_formatter", "the tool error formatter"),
        ):
            if params.get(key):
                params[key] = load_callable(params[key], what=what)
        if params.get("output_type"):
            params["output_type"] = deserialize_type(params["output_type"])
        if params.get("tool_controls"):
            params["tool_controls"] = {
                name: ToolControls.from_dict(value, what=f"tool {name!r} in tool_controls")
                for name, value in params["tool_controls"].items()
            }
        if params.get("usage_limits"):
            params["usage_limits"] = UsageLimits(**params["usage_limits"])
        return default_from_dict(cls, data)


def _loads_tools_when_warmed(tools: Any) -> bool:
    """Whether a Toolset among ``tools`` finds its tools in ``warm_up`` (MCP): their names are checked at run start."""
    from haystack.tools import Toolset

    items = [tools] if isinstance(tools, Toolset) else list(tools)
    return any(isinstance(item, Toolset) and callable(getattr(item, "warm_up", None)) for item in items)


def _check_max_steps(max_steps: Any) -> None:
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be a whole number of at least 1, got {max_steps!r}")


def _callable_path(function: Callable[..., Any] | None) -> str | None:
    return serialize_callable(function) if function is not None else None


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _message_list(messages: Any) -> list[ChatMessage]:
    """A copy of ``messages`` as a list, or a TypeError naming what was given instead of ChatMessages."""
    if not isinstance(messages, (list, tuple)):
        raise TypeError(f"messages must be a str or a list of ChatMessage, got {type(messages).__name__}")
    wrong = [f"messages[{i}] is a {type(m).__name__}" for i, m in enumerate(messages) if not isinstance(m, ChatMessage)]
    if wrong:
        raise TypeError(f"messages must be a str or a list of ChatMessage: {', '.join(wrong)}")
    return list(messages)
