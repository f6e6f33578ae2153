"""Agent: the loop that lets a chat model use tools until it has an answer.

model -> tool calls (all of one turn at once) -> one tool message per call, in call order -> model ... until
an exit condition, ``max_steps`` model calls, or a reply without tool calls. Tool failures of every kind go
back to the model as error tool messages. All state of a run lives in the run, so one Agent serves many
concurrent runs.
"""

from __future__ import annotations

import copy
import inspect
import json
import time
from typing import Any

from haystack import component, default_from_dict, default_to_dict
from haystack.core.serialization import component_to_dict
from haystack.dataclasses import ChatMessage, StreamingCallbackT, ToolCall, select_streaming_callback
from haystack.tools import (
    Tool,
    ToolsType,
    deserialize_tools_or_toolset_inplace,
    flatten_tools_or_toolsets,
    serialize_tools_or_toolset,
    warm_up_tools,
    warm_up_tools_async,
)
from haystack.utils.callable_serialization import deserialize_callable, serialize_callable
from haystack.utils.deserialization import deserialize_component_inplace
from haystack.utils.type_serialization import deserialize_type, serialize_type
from pydantic import BaseModel, ValidationError

from aiml_agent import _haystack  # noqa: F401 - Agent.from_dict must find our classes on the allowlist
from aiml_agent._arguments import error_lines, errors_from_validation
from aiml_agent._request import response_format_for
from aiml_agent._schema import drop_optional_nulls
from aiml_agent._tool_runner import ToolRunner, tool_result_chunks
from aiml_agent.errors import OutputValidationError
from aiml_agent.run_result import RunState, Step, ToolCallRecord, Usage
from aiml_agent.sessions import Session

DEFAULT_MAX_STEPS = 20
DEFAULT_TOOL_CONCURRENCY = 32
DEFAULT_OUTPUT_RETRIES = 2
_INCOMPLETE_FINISH_REASONS = ("length", "content_filter")


@component
class Agent:
    """A tool-using assistant: calls the chat model, runs the tools it asks for, and repeats until done.

    ```python
    agent = Agent(tools=[create_tool(get_weather)], system_prompt="Be brief.")
    result = agent.run("What's the weather in Paris?")
    print(result["last_message"].text, result["usage"])
    ```
    """

    def __init__(
        self,
        chat_generator: Any = None,
        tools: ToolsType | None = None,
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
    ) -> None:
        """
        :param chat_generator: The chat model; defaults to ``AIMLAPIChatGenerator()`` (key read at first request).
        :param tools: Tools (or a Toolset) the model may call.
        :param system_prompt: Put first in the conversation unless the messages already start with a system one.
        :param max_steps: At most this many model calls per run; a run that hits it returns
            ``exit_reason="max_steps"``.
        :param tools_strict: Forwarded to the generator on every call when not None.
        :param exit_conditions: ``"text"`` (stop at a reply without tool calls; always applies) and/or tool
            names (stop once that tool ran without error); one name may be given as a bare string. Default
            ``["text"]``.
        :param streaming_callback: Gets the model's chunks and one chunk per tool result.
        :param output_type: A pydantic model: the final answer is requested as JSON of that schema and
            validated into the ``output`` result.
        :param tool_concurrency: At most this many tool calls of one turn run at the same time.
        :param raise_on_tool_error: Raise a failing tool call's error instead of telling the model about it.
        :param output_retries: How many times an answer that does not match ``output_type`` is sent back.
        """
        if chat_generator is None:
            from aiml_agent.generator import AIMLAPIChatGenerator

            chat_generator = AIMLAPIChatGenerator()
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {max_steps}")
        if tool_concurrency < 1:
            raise ValueError(f"tool_concurrency must be at least 1, got {tool_concurrency}")
        if output_type is not None and not (inspect.isclass(output_type) and issubclass(output_type, BaseModel)):
            raise TypeError(f"output_type must be a pydantic BaseModel subclass, got {output_type!r}")
        self.chat_generator = chat_generator
        self.tools = tools
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
        if tools is not None:
            self._check_exit_conditions(flatten_tools_or_toolsets(tools))
        self._tools_warm = False  # init tools are warmed once: by warm_up() or by the first run
        self._response_format = response_format_for(output_type) if output_type is not None else None
        self._output_schema = output_type.model_json_schema() if output_type is not None else None

    def _check_exit_conditions(self, tools: list[Tool]) -> None:
        names = {tool.name for tool in tools}
        unknown = [c for c in self.exit_conditions if c != "text" and c not in names]
        if unknown:
            raise ValueError(
                f"exit_conditions {unknown} are neither 'text' nor tool names; tools: {sorted(names) or 'none'}"
            )

    def warm_up(self) -> None:
        """Warm up the tools and the chat generator (a Pipeline calls this; a run outside one warms its tools)."""
        warm_up_tools(self.tools)
        self._tools_warm = True
        if hasattr(self.chat_generator, "warm_up"):
            self.chat_generator.warm_up()

    def _warm_up_tools(self, tools: ToolsType | None) -> None:
        """Before a run: warm its run-time ``tools``, or the init tools if not done yet.

        ``Tool.invoke`` warms a tool itself, but a Toolset that loads its tools in ``warm_up()`` (MCP and the
        like) must be warmed before the model is told which tools exist.
        """
        if tools is not None:
            warm_up_tools(tools)
        elif not self._tools_warm:
            warm_up_tools(self.tools)
            self._tools_warm = True

    async def _warm_up_tools_async(self, tools: ToolsType | None) -> None:
        """:meth:`_warm_up_tools` for ``run_async``: tools that can warm up asynchronously do."""
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
        output=Any,
    )
    def run(
        self,
        messages: list[ChatMessage] | str,
        *,
        deps: Any = None,
        generation_kwargs: dict[str, Any] | None = None,
        streaming_callback: StreamingCallbackT | None = None,
        tools: ToolsType | None = None,
        max_steps: int | None = None,
        session: Session | None = None,
    ) -> dict[str, Any]:
        """Run the loop until the model is done.

        :param messages: The conversation so far, or a string taken as one user message.
        :param deps: Anything the tools should receive through ``RunContext.deps``.
        :param generation_kwargs: Extra model parameters for every model call of this run.
        :param streaming_callback: Overrides the init callback for this run (sync only here).
        :param tools: Overrides the init tools for this run.
        :param max_steps: Overrides the init ``max_steps`` for this run.
        :param session: A stored conversation to continue: its history goes first, ``messages`` hold only the new
            input (``[]`` continues as it is, e.g. to resume a paused run), and the run is saved into it when it
            ends. A run that raises saves nothing.
        :returns: ``messages`` (the whole conversation), ``last_message``, ``exit_reason``, ``usage``,
            ``steps``, and ``output`` when ``output_type`` is set.
        """
        callback = select_streaming_callback(self.streaming_callback, streaming_callback, requires_async=False)
        session_run = (
            session.start_run(messages, model=getattr(self.chat_generator, "model", None))
            if session is not None
            else None
        )
        self._warm_up_tools(tools)
        run = self._start(session_run.messages if session_run else messages, deps, generation_kwargs, tools, max_steps)
        while run.exit_reason is None and len(run.steps) < run.max_steps:
            started = time.perf_counter()
            replies = self.chat_generator.run(
                messages=run.messages, streaming_callback=callback, **self._generator_kwargs(run)
            )["replies"]
            tool_calls = self._take_reply(run, replies, time.perf_counter() - started)
            if tool_calls:
                started = time.perf_counter()
                records = self._runner(run).run(tool_calls)
                self._take_tool_records(run, records, time.perf_counter() - started)
                if callback is not None:
                    for chunk in tool_result_chunks(records):
                        callback(chunk)
        result = self._result(run)
        if session_run is not None:
            session_run.finish(result)
        return result

    @component.output_types(
        messages=list[ChatMessage],
        last_message=ChatMessage,
        exit_reason=str,
        usage=Usage,
        steps=list[Step],
        output=Any,
    )
    async def run_async(
        self,
        messages: list[ChatMessage] | str,
        *,
        deps: Any = None,
        generation_kwargs: dict[str, Any] | None = None,
        streaming_callback: StreamingCallbackT | None = None,
        tools: ToolsType | None = None,
        max_steps: int | None = None,
        session: Session | None = None,
    ) -> dict[str, Any]:
        """Async version of :meth:`run` (same parameters and result); callbacks may be sync or async."""
        callback = select_streaming_callback(self.streaming_callback, streaming_callback, requires_async=True)
        session_run = (
            await session.start_run_async(messages, model=getattr(self.chat_generator, "model", None))
            if session is not None
            else None
        )
        await self._warm_up_tools_async(tools)
        run = self._start(session_run.messages if session_run else messages, deps, generation_kwargs, tools, max_steps)
        while run.exit_reason is None and len(run.steps) < run.max_steps:
            started = time.perf_counter()
            result = await self.chat_generator.run_async(
                messages=run.messages, streaming_callback=callback, **self._generator_kwargs(run)
            )
            tool_calls = self._take_reply(run, result["replies"], time.perf_counter() - started)
            if tool_calls:
                started = time.perf_counter()
                records = await self._runner(run).run_async(tool_calls)
                self._take_tool_records(run, records, time.perf_counter() - started)
                if callback is not None:
                    for chunk in tool_result_chunks(records):
                        outcome = callback(chunk)
                        if inspect.isawaitable(outcome):
                            await outcome
        result = self._result(run)
        if session_run is not None:
            await session_run.finish_async(result)
        return result

    # ------------------------------------------------------------------------------------- loop pieces

    def _start(
        self,
        messages: list[ChatMessage] | str,
        deps: Any,
        generation_kwargs: dict[str, Any] | None,
        tools: ToolsType | None,
        max_steps: int | None,
    ) -> RunState:
        conversation = [ChatMessage.from_user(messages)] if isinstance(messages, str) else _message_list(messages)
        if self.system_prompt and not (conversation and conversation[0].is_from("system")):
            conversation.insert(0, ChatMessage.from_system(self.system_prompt))
        if not conversation:
            raise ValueError("Agent.run got no messages and there is no system_prompt: nothing to send to the model")
        kwargs = dict(generation_kwargs or {})
        if self._response_format is not None:
            kwargs["response_format"] = self._response_format
        flat = flatten_tools_or_toolsets(tools if tools is not None else self.tools)
        self._check_exit_conditions(flat)  # again: run-time tools, or tools a Toolset loaded when warmed up
        return RunState(
            messages=conversation,
            deps=deps,
            generation_kwargs=kwargs,
            max_steps=max_steps if max_steps is not None else self.max_steps,
            tools={tool.name: tool for tool in flat},
        )

    def _generator_kwargs(self, run: RunState) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"tools": list(run.tools.values())}
        if run.generation_kwargs:
            kwargs["generation_kwargs"] = run.generation_kwargs
        if self.tools_strict is not None:
            kwargs["tools_strict"] = self.tools_strict
        return kwargs

    def _runner(self, run: RunState) -> ToolRunner:
        return ToolRunner(
            run.tools,
            concurrency=self.tool_concurrency,
            make_context=run.contexts_for_step(),
            raise_on_error=self.raise_on_tool_error,
        )

    def _take_reply(self, run: RunState, replies: list[ChatMessage], duration: float) -> list[ToolCall]:
        """Record the model's reply; decide whether the run ends; return the tool calls to run."""
        if not replies:
            raise RuntimeError("The chat generator returned no reply")
        reply = replies[0]
        run.usage += Usage.of_reply(reply.meta)
        run.messages.append(reply)
        run.steps.append(Step(index=len(run.steps) + 1, reply=reply, model_duration=duration))
        if reply.tool_calls:
            return reply.tool_calls
        finish_reason = reply.meta.get("finish_reason")
        if finish_reason in _INCOMPLETE_FINISH_REASONS:
            run.exit_reason = finish_reason
        elif self.output_type is not None:
            self._take_output(run, reply)
        else:
            run.exit_reason = "text"  # also for an empty reply: there is nothing left to act on
        return []

    def _take_output(self, run: RunState, reply: ChatMessage) -> None:
        """Validate the final answer into ``output``; send the errors back for another try, a bounded number."""
        assert self.output_type is not None
        try:
            run.output = self._validated_output(reply.text or "")
            run.exit_reason = "text"
            return
        except ValidationError as exc:
            problems = error_lines(errors_from_validation(exc, root="(answer)"))
        run.output_failures += 1
        if run.output_failures > self.output_retries:
            raise OutputValidationError(
                f"The model's answer did not match {self.output_type.__name__} after {run.output_failures} "
                f"attempts:\n{problems}\nLast answer: {reply.text!r}"
            )
        run.messages.append(
            ChatMessage.from_user(
                f"Your answer did not match the required {self.output_type.__name__} schema:\n{problems}\n"
                "Answer again with only a JSON object that matches the schema."
            )
        )

    def _validated_output(self, text: str) -> BaseModel:
        """The answer as ``output_type``; ``null`` for an optional field (strict mode sends one) means its default."""
        assert self.output_type is not None and self._output_schema is not None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return self.output_type.model_validate_json(text)  # raises pydantic's own "invalid JSON" error
        schema = self._output_schema
        return self.output_type.model_validate(drop_optional_nulls(data, schema, schema))

    def _take_tool_records(self, run: RunState, records: list[ToolCallRecord], duration: float) -> None:
        step = run.steps[-1]
        step.tool_calls = records
        step.tools_duration = duration
        for record in records:
            run.messages.append(ChatMessage.from_tool(record.result, origin=record.tool_call, error=record.error))
        for record in records:
            if not record.error and record.tool_name in self.exit_conditions:
                run.exit_reason = record.tool_name
                return

    def _result(self, run: RunState) -> dict[str, Any]:
        result: dict[str, Any] = {
            "messages": run.messages,
            "last_message": run.messages[-1],
            "exit_reason": run.exit_reason or "max_steps",
            "usage": run.usage,
            "steps": run.steps,
        }
        if self.output_type is not None:
            result["output"] = run.output
        return result

    # ------------------------------------------------------------------------------------ serialization

    def to_dict(self) -> dict[str, Any]:
        """Serialize the agent: generator, tools and settings (``output_type`` by import path)."""
        return default_to_dict(
            self,
            chat_generator=component_to_dict(obj=self.chat_generator, name="chat_generator"),
            tools=serialize_tools_or_toolset(self.tools),
            system_prompt=self.system_prompt,
            max_steps=self.max_steps,
            tools_strict=self.tools_strict,
            exit_conditions=self.exit_conditions,
            streaming_callback=serialize_callable(self.streaming_callback) if self.streaming_callback else None,
            output_type=serialize_type(self.output_type) if self.output_type is not None else None,
            tool_concurrency=self.tool_concurrency,
            raise_on_tool_error=self.raise_on_tool_error,
            output_retries=self.output_retries,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Agent:
        """Rebuild an agent from :meth:`to_dict` output (modules must be on Haystack's deserialization allowlist)."""
        data = copy.deepcopy(data)  # deserializing works in place; leave the caller's dict as it was
        params = data.setdefault("init_parameters", {})
        deserialize_component_inplace(params, key="chat_generator")
        deserialize_tools_or_toolset_inplace(params, key="tools")
        if params.get("streaming_callback"):
            params["streaming_callback"] = deserialize_callable(params["streaming_callback"])
        if params.get("output_type"):
            params["output_type"] = deserialize_type(params["output_type"])
        return default_from_dict(cls, data)


def _message_list(messages: Any) -> list[ChatMessage]:
    """A copy of ``messages`` as a list, or a TypeError naming what was given instead of ChatMessages."""
    if not isinstance(messages, (list, tuple)):
        raise TypeError(f"messages must be a str or a list of ChatMessage, got {type(messages).__name__}")
    wrong = [f"messages[{i}] is a {type(m).__name__}" for i, m in enumerate(messages) if not isinstance(m, ChatMessage)]
    if wrong:
        raise TypeError(f"messages must be a str or a list of ChatMessage: {', '.join(wrong)}")
    return list(messages)
