"""Repairing and trimming stored history (``aiml_agent.sessions._history``): pure functions on message lists."""

from __future__ import annotations

import logging
import random

import pytest
from haystack.dataclasses import ChatMessage, ToolCall

from aiml_agent.sessions._history import UNANSWERED_CALL_RESULT, repair, repeats_history, trim


def call(call_id: str, name: str = "lookup") -> ToolCall:
    return ToolCall(tool_name=name, arguments={"q": call_id}, id=call_id)


def asks(*calls: ToolCall) -> ChatMessage:
    return ChatMessage.from_assistant(tool_calls=list(calls))


def answer(tool_call: ToolCall, text: str = "ok") -> ChatMessage:
    return ChatMessage.from_tool(text, origin=tool_call)


def shape(messages: list[ChatMessage]) -> list[str]:
    """Each message as role plus what identifies it: text, call ids, or the call id a result answers."""
    out = []
    for message in messages:
        if message.tool_calls:
            out.append("assistant→" + ",".join(str(c.id) for c in message.tool_calls))
        elif message.tool_call_result is not None:
            result = message.tool_call_result
            kind = "unanswered" if result.result == UNANSWERED_CALL_RESULT else result.result
            out.append(f"tool[{result.origin.id}]={kind}" + ("!" if result.error else ""))
        else:
            out.append(f"{message.role.value}:{message.text}")
    return out


A, B, C = call("a"), call("b"), call("c")


def test_a_complete_conversation_is_left_as_it_is() -> None:
    messages = [ChatMessage.from_user("hi"), asks(A, B), answer(A), answer(B), ChatMessage.from_assistant("done")]
    repaired = repair(messages)
    assert repaired == messages and repaired is not messages


def test_a_call_without_result_gets_an_error_result_right_after_its_call() -> None:
    messages = [ChatMessage.from_user("hi"), asks(A, B), answer(A), ChatMessage.from_user("next")]
    assert shape(repair(messages)) == ["user:hi", "assistant→a,b", "tool[a]=ok", "tool[b]=unanswered!", "user:next"]
    assert len(messages) == 4  # the input list is not changed


def test_results_come_back_in_call_order() -> None:
    messages = [asks(A, B, C), answer(C, "3"), answer(A, "1")]
    assert shape(repair(messages)) == ["assistant→a,b,c", "tool[a]=1", "tool[b]=unanswered!", "tool[c]=3"]


def test_a_result_answering_no_call_and_a_repeated_result_are_left_out_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    messages = [answer(C, "stray"), ChatMessage.from_user("hi"), asks(A), answer(A, "1"), answer(A, "again")]
    with caplog.at_level(logging.WARNING, logger="aiml_agent.sessions"):
        assert shape(repair(messages)) == ["user:hi", "assistant→a", "tool[a]=1"]
    assert caplog.text.count("is not sent to the model") == 2


def test_keep_pending_leaves_only_the_trailing_calls_unanswered() -> None:
    paused = [ChatMessage.from_user("go"), asks(A), ChatMessage.from_user("x"), asks(B, C), answer(B)]
    assert shape(repair(paused, keep_pending=True)) == [
        "user:go",
        "assistant→a",
        "tool[a]=unanswered!",  # not the last group: the conversation went on after it
        "user:x",
        "assistant→b,c",
        "tool[b]=ok",  # c is what the paused run waits for
    ]
    assert shape(repair(paused))[-1] == "tool[c]=unanswered!"


def test_calls_without_ids_are_matched_by_tool_name() -> None:
    no_id = ToolCall(tool_name="lookup", arguments={})
    other = ToolCall(tool_name="other", arguments={})
    repaired = repair([asks(no_id, other), answer(no_id, "found")])
    assert [m.tool_call_result.result for m in repaired[1:]] == ["found", UNANSWERED_CALL_RESULT]


def conversation() -> list[ChatMessage]:
    return [
        ChatMessage.from_system("be brief"),
        ChatMessage.from_user("1"),
        asks(A, B),
        answer(A),
        answer(B),
        ChatMessage.from_assistant("2"),
        ChatMessage.from_user("3"),
        ChatMessage.from_assistant("4"),
    ]


def test_trim_keeps_the_system_message_without_counting_it() -> None:
    assert shape(trim(conversation(), 2)) == ["system:be brief", "user:3", "assistant:4"]
    assert trim(conversation(), None) == conversation()
    assert trim(conversation(), 7) == conversation()


def test_trim_never_starts_among_a_calls_results() -> None:
    # the last 4 and the last 5 would start with results: the cut moves forward past them
    assert shape(trim(conversation(), 4)) == ["system:be brief", "assistant:2", "user:3", "assistant:4"]
    assert trim(conversation(), 5) == trim(conversation(), 4)
    # the last 6 start with the call itself: it keeps its results
    assert shape(trim(conversation(), 6))[1:4] == ["assistant→a,b", "tool[a]=ok", "tool[b]=ok"]


def test_trim_keeps_every_call_with_its_results_on_random_conversations() -> None:
    rng = random.Random(7)
    for _ in range(200):
        messages: list[ChatMessage] = [ChatMessage.from_system("s")] if rng.random() < 0.5 else []
        for turn in range(rng.randint(0, 8)):
            messages.append(ChatMessage.from_user(f"u{turn}"))
            for step in range(rng.randint(0, 2)):
                calls = [call(f"{turn}-{step}-{i}") for i in range(rng.randint(1, 3))]
                messages += [asks(*calls), *(answer(c) for c in calls)]
            messages.append(ChatMessage.from_assistant(f"a{turn}"))
        limit = rng.randint(1, 12)
        trimmed = trim(messages, limit)
        head = 1 if messages and messages[0].is_from("system") else 0
        assert trimmed[:head] == messages[:head]
        body = trimmed[head:]
        assert len(body) <= limit
        assert body == messages[len(messages) - len(body) :]  # a suffix of the conversation
        assert not (body and body[0].is_from("tool"))
        assert repair(trimmed) == trimmed  # every call in it still has all its results


def test_repeats_history_spots_a_conversation_passed_again() -> None:
    history = conversation()
    assert repeats_history(history, [ChatMessage.from_system("be brief"), *history, ChatMessage.from_user("5")])
    assert not repeats_history(history, [ChatMessage.from_user("4")])
    assert not repeats_history(history, [ChatMessage.from_assistant("4", meta={"other": 1})])
    assert not repeats_history([ChatMessage.from_user("only a user")], [ChatMessage.from_user("only a user")])
