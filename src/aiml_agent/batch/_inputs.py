"""A batch's inputs, read one at a time: from any iterable or a JSONL file, never all in memory.

An input is a prompt (str), a conversation (a list of ChatMessage, or of message dicts in OpenAI's or Haystack's
format), or a dict with ``id``, ``prompt`` or ``messages``, and ``deps`` (other keys are ignored, so expected
answers can sit beside the prompt). A JSONL file has one such input per line (blank lines are skipped). An input
that cannot be run becomes an item that failed, saying why; it never stops the batch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from haystack.dataclasses import ChatMessage

BatchInputs = Union[Iterable[Any], str, "os.PathLike[str]"]


@dataclass
class Input:
    """One input, ready to run.

    :param index: Its position among the inputs (0-based; blank JSONL lines do not count).
    :param id: Its ``id``, or ``str(index)``.
    :param messages: What the agent gets: a prompt or a conversation (None when ``problem`` is set).
    :param deps: Passed to the agent run (``RunContext.deps``).
    :param problem: Why it cannot run, when it cannot.
    """

    index: int
    id: str
    messages: str | list[ChatMessage] | None = None
    deps: Any = None
    problem: str | None = None


def iter_inputs(inputs: BatchInputs) -> Iterator[Input]:
    """The inputs one by one: ``inputs`` is an iterable, or the path of a JSONL file (a str is a path)."""
    if isinstance(inputs, (str, os.PathLike)):
        return _from_file(Path(inputs))
    if isinstance(inputs, (bytes, dict, ChatMessage)):
        raise TypeError(
            f"inputs must be an iterable of inputs or the path of a JSONL file, got a {type(inputs).__name__}"
        )
    try:
        iterator = iter(inputs)
    except TypeError:
        raise TypeError(f"inputs must be an iterable or a path, got {type(inputs).__name__}") from None
    return (parse(index, value) for index, value in enumerate(iterator))


def count_inputs(inputs: BatchInputs) -> int | None:
    """How many inputs there are, when that is cheap to know (a sized collection, or a file read once)."""
    if isinstance(inputs, (str, os.PathLike)):
        path = Path(inputs)
        if not path.is_file():
            return None
        with path.open("rb") as file:
            return sum(1 for line in file if line.strip())
    return len(inputs) if isinstance(inputs, Sized) else None


def _from_file(path: Path) -> Iterator[Input]:
    if not path.is_file():
        raise FileNotFoundError(f"no such inputs file: {path} (expected JSONL: one prompt or input object a line)")

    def lines() -> Iterator[Input]:
        index = 0
        with path.open(encoding="utf-8") as file:
            for number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as error:
                    yield Input(index, str(index), problem=f"{path.name} line {number} is not valid JSON: {error}")
                else:
                    yield parse(index, value, where=f"{path.name} line {number}")
                index += 1

    return lines()


def parse(index: int, value: Any, *, where: str | None = None) -> Input:
    """One input from a prompt, a conversation or an input dict; a bad one gets its ``problem`` set."""
    where = where or f"inputs[{index}]"
    if isinstance(value, str):
        return Input(index, str(index), value)
    if isinstance(value, (list, tuple)):
        return _with_messages(Input(index, str(index)), value, where)
    if not isinstance(value, dict):
        return Input(index, str(index), problem=f"{where}: expected a prompt, messages or an object, got {value!r}")
    item = Input(index, str(index), deps=value.get("deps"))
    raw_id = value.get("id")
    if raw_id is not None:
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            item.problem = f"{where}: 'id' must be a string or an integer, got {raw_id!r}"
            return item
        item.id = str(raw_id)
    has_prompt, has_messages = "prompt" in value, "messages" in value
    if has_prompt == has_messages:
        item.problem = f"{where}: give either 'prompt' or 'messages' (got {'both' if has_prompt else 'neither'})"
    elif has_prompt:
        if isinstance(value["prompt"], str):
            item.messages = value["prompt"]
        else:
            item.problem = f"{where}: 'prompt' must be a string, got {value['prompt']!r}"
    elif isinstance(value["messages"], (list, tuple)):
        _with_messages(item, value["messages"], f"{where}: messages")
    else:
        item.problem = f"{where}: 'messages' must be a list, got {value['messages']!r}"
    return item


def _with_messages(item: Input, messages: list[Any] | tuple[Any, ...], where: str) -> Input:
    converted: list[ChatMessage] = []
    for position, message in enumerate(messages):
        try:
            converted.append(_message(message))
        except (TypeError, ValueError, KeyError) as error:
            item.problem = f"{where}[{position}]: not a chat message ({error})"
            return item
    if not converted:
        item.problem = f"{where}: no messages"
        return item
    item.messages = converted
    return item


def _message(message: Any) -> ChatMessage:
    """A ChatMessage as is, or one from a dict in OpenAI's format or in Haystack's ``ChatMessage.to_dict`` format."""
    if isinstance(message, ChatMessage):
        return message
    if not isinstance(message, dict):
        raise TypeError(f"expected a ChatMessage or a dict, got {type(message).__name__}")
    content = message.get("content")
    haystack_format = "meta" in message or (
        isinstance(content, list) and all(isinstance(part, dict) and "type" not in part for part in content)
    )
    if haystack_format:
        return ChatMessage.from_dict(message)
    return ChatMessage.from_openai_dict_format(message)
