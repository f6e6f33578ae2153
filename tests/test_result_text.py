"""Tool results as text: deterministic (same text in every process, so cassettes replay), total (a value that
cannot be converted is a tool failure, never a crashed run), and cut to a limit with head, tail and marker."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import math
import os
import subprocess
import sys
import textwrap
import uuid
from collections import namedtuple
from pathlib import PurePosixPath
from typing import Any

import pytest
from conftest import generator_for
from pydantic import BaseModel

from aiml_agent import Agent, create_tool
from aiml_agent._result_text import MAX_DEPTH, MAX_ITEMS, ResultTextError, result_to_text, truncate_text
from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x = x
        self.y = y
        self._secret = "hidden"


class Slotted:
    __slots__ = ("_private", "name")

    def __init__(self) -> None:
        self.name = "s"
        self._private = 1


class Opaque:
    """No public attributes, default repr (with a memory address)."""


@dataclasses.dataclass
class Box:
    size: float
    when: datetime.date


class Item(BaseModel):
    name: str
    price: decimal.Decimal


Pair = namedtuple("Pair", "left right")


def gen() -> Any:
    yield 1
    yield "two"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain text", "plain text"),
        ("", ""),
        (None, "null"),
        (42, "42"),
        (True, "true"),
        (2.5, "2.5"),
        (math.nan, "null"),
        ([math.inf, -math.inf], "[null, null]"),
        (Colour.RED, "red"),
        ({"level": Level.HIGH}, '{"level": 3}'),
        (datetime.datetime(2026, 1, 31, 9, 30), "2026-01-31T09:30:00"),
        (datetime.date(2026, 1, 31), "2026-01-31"),
        (datetime.time(9, 30), "09:30:00"),
        ({"took": datetime.timedelta(days=1, hours=2)}, '{"took": "P1DT2H"}'),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (decimal.Decimal("19.90"), "19.90"),
        (decimal.Decimal("NaN"), "null"),
        (PurePosixPath("/tmp/a"), "/tmp/a"),
        ({"data": b"caf\xc3\xa9"}, '{"data": "café"}'),
        ([b"\xff\xfe\x00"], '["<3 bytes>"]'),
        ((1, 2), "[1, 2]"),
        ({3, 1, 2}, "[1, 2, 3]"),
        ({"b", 2, None, 1.5, True, "a", (1,)}, '[null, true, 1.5, 2, "a", "b", [1]]'),  # sorted across types
        ({1: "a", None: "b", (1, 2): "c"}, '{"1": "a", "null": "b", "[1, 2]": "c"}'),
        (Point(1, 2), '{"x": 1, "y": 2}'),
        (Slotted(), '{"name": "s"}'),
        (Box(1.5, datetime.date(2026, 2, 1)), '{"size": 1.5, "when": "2026-02-01"}'),
        (Item(name="pen", price=decimal.Decimal("1.50")), '{"name": "pen", "price": "1.50"}'),
        (Pair(1, [2]), '{"left": 1, "right": [2]}'),
        (gen(), '[1, "two"]'),
        (range(3), "[0, 1, 2]"),
        (ValueError("bad"), "bad"),
        ({"nested": [{"deep": {Colour.RED, Colour.RED}}]}, '{"nested": [{"deep": ["red"]}]}'),
    ],
)
def test_result_text_of_each_kind_of_value(value: Any, text: str) -> None:
    assert result_to_text(value) == text


def test_no_memory_address_ever() -> None:
    text = result_to_text({"obj": Opaque(), "func": gen, "cls": Opaque})
    assert "0x" not in text
    assert text.startswith('{"obj": "<test_result_text.Opaque object>", "func": "<function gen>"')


def test_a_lazy_sequence_is_read_up_to_a_bound() -> None:
    items = result_to_text(range(10**9))
    assert items.endswith(f'{MAX_ITEMS - 1}, "... (not read past {MAX_ITEMS} items)"]')


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: _cycle(), r"a reference cycle at \$\.a\[0\]\.back"),
        (lambda: _deep(MAX_DEPTH + 5), f"nested deeper than {MAX_DEPTH} levels"),
        (lambda: _RaisingStr(), "RuntimeError: no text for you"),
    ],
    ids=["cycle", "too deep", "__str__ raises"],
)
def test_values_that_cannot_become_text_raise_one_error(make: Any, match: str) -> None:
    with pytest.raises(ResultTextError, match=match):
        result_to_text(make())


def _cycle() -> dict[str, Any]:
    inner: dict[str, Any] = {}
    outer = {"a": [inner]}
    inner["back"] = outer
    return outer


def _deep(levels: int) -> list[Any]:
    value: Any = {"not plain JSON"}
    for _ in range(levels):
        value = [value]
    return value


class _RaisingStr:
    __slots__ = ()

    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def test_the_same_object_twice_is_no_cycle() -> None:
    shared = {"k": 1}
    assert result_to_text([shared, shared]) == '[{"k": 1}, {"k": 1}]'


def test_same_text_in_processes_with_different_hash_seeds() -> None:
    """String hashing differs per process, so set order does too: the text must not."""
    code = textwrap.dedent(
        """
        from aiml_agent._result_text import result_to_text

        class Thing:
            def __init__(self):
                self.tags = {"delta", "alpha", "charlie", "bravo", 3, None}
                self.frozen = frozenset({"x", "y", "z"})

        print(result_to_text({"thing": Thing(), "set": {"q", "w", "e", "r", "t", "y"}}))
        """
    )
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        outputs.add(done.stdout)
    assert len(outputs) == 1
    assert '"tags": [null, 3, "alpha", "bravo", "charlie", "delta"]' in outputs.pop()


@pytest.mark.parametrize("limit", [100, 101, 250, 4000])
def test_truncation_keeps_head_and_tail_within_the_limit(limit: int) -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(5000))
    cut, removed = truncate_text(text, limit)
    assert len(cut) <= limit and removed > 0
    head, marker, tail = cut.split("\n")
    assert marker == f"[... {removed} of 5000 characters cut ...]"
    assert text.startswith(head) and text.endswith(tail) and len(head) + len(tail) == 5000 - removed
    assert abs(len(head) - len(tail)) <= 1
    assert truncate_text("short", 100) == ("short", 0)


# ---- through the Agent: a value that cannot become text is a tool error, and the run goes on ----------------


def bytes_in_a_dict(city: str) -> dict[str, Any]:
    """Returns raw bytes.

    :param city: The city.
    """
    return {"city": city, "raw": b"\xff\x00\x01", "reading": math.nan}


def self_referencing(city: str) -> dict[str, Any]:
    """Returns a dict that contains itself.

    :param city: The city.
    """
    data: dict[str, Any] = {"city": city}
    data["self"] = data
    return data


def unprintable(city: str) -> Any:
    """Returns an object whose __str__ raises.

    :param city: The city.
    """
    return _RaisingStr()


@pytest.mark.parametrize("mode", ["run", "run_async"])
async def test_odd_results_through_the_agent(mode: str) -> None:
    calls = [
        ToolCallReply("bytes_in_a_dict", {"city": "Oslo"}, id="b"),
        ToolCallReply("self_referencing", {"city": "Oslo"}, id="s"),
        ToolCallReply("unprintable", {"city": "Oslo"}, id="u"),
    ]
    tools = [create_tool(bytes_in_a_dict), create_tool(self_referencing), create_tool(unprintable)]
    with ScriptedServer([Reply(tool_calls=calls), "Done."]) as server:
        agent = Agent(generator_for(server), tools)
        result = agent.run("go") if mode == "run" else await agent.run_async("go")
        sent = [m["content"] for m in server.requests[1].body["messages"] if m["role"] == "tool"]
    assert sent[0] == '{"city": "Oslo", "raw": "<3 bytes>", "reading": null}'
    assert sent[1] == (
        "Error: tool 'self_referencing' ran, but its result could not be turned into text "
        "(ResultTextError: the result contains a reference cycle at $.self)."
    )
    assert sent[2].startswith("Error: tool 'unprintable' ran, but its result could not be turned into text")
    assert "no text for you" in sent[2]
    assert [r.failure.kind if r.failure else None for r in result["steps"][0].tool_calls] == [
        None,
        "invalid_result",
        "invalid_result",
    ]
    assert result["exit_reason"] == "text"
