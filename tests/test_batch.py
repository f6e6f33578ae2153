"""run_batch against ScriptedServer: outcomes in input order, retries under 429 storms and 5xx, failures that do not
stop the batch, 403 that does, and resuming from the checkpoint (after a 403, an error, a cut-off line)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from batch_support import COST, agent_for, answer_script, lookup, question, read_jsonl, tool_script
from haystack.dataclasses import ChatMessage
from haystack.utils import Secret
from pydantic import BaseModel

from aiml_agent import AIMLAPIChatGenerator, BatchInterrupted, BatchItem, Usage, run_batch, run_batch_async
from aiml_agent.batch import _retrying
from aiml_agent.testing import Reply, ScriptedServer


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries wait 5-10 ms instead of 0.25-0.5 s (then doubling), so storms end quickly."""
    monkeypatch.setattr(_retrying, "BACKOFF_BASE", 0.01)


def prompts(count: int) -> list[str]:
    return [f"q{i}" for i in range(count)]


# -- outcomes -----------------------------------------------------------------------------------------


def test_items_come_back_in_input_order_with_text_usage_and_cost() -> None:
    inputs: list[Any] = [
        "plain prompt",
        [ChatMessage.from_system("Be brief."), ChatMessage.from_user("chat messages")],
        {"id": "dict-prompt", "prompt": "dict prompt", "expected": "ignored"},
        {"id": 7, "messages": [{"role": "user", "content": "openai dicts"}]},
        {"messages": [ChatMessage.from_user("haystack dicts").to_dict()]},
    ]
    with ScriptedServer(answer_script(delay=0.01)) as server:
        result = run_batch(agent_for(server), inputs, concurrency=4, progress=False)
    assert [item.id for item in result.items] == ["0", "1", "dict-prompt", "7", "4"]
    assert [item.index for item in result.items] == [0, 1, 2, 3, 4]
    expected = ["plain prompt", "chat messages", "dict prompt", "openai dicts", "haystack dicts"]
    assert [item.text for item in result.items] == [f"answer: {q}" for q in expected]
    assert {item.status for item in result.items} == {"ok"} and result.complete and result.stopped is None
    first = result.items[0]
    assert first.exit_reason == "text" and first.error is None and first.retries == 0
    assert first.usage == Usage(1, 2, 3, 5, credits_used=2, usd_spent=0.000001)  # words counted by the server
    assert first.cost == COST
    totals = result.totals
    assert (totals.items, totals.ok, totals.error, totals.resumed) == (5, 5, 0, 0)
    assert totals.exit_reasons == {"text": 5}
    assert totals.usage.requests == 5 and totals.usage.credits_used == 10
    assert totals.usage.total_tokens == sum(item.usage.total_tokens for item in result.items)
    assert totals.cost == {"credits_used": 10, "usd_spent": pytest.approx(0.000005)}
    assert totals.wall_time > 0


def test_deps_reach_the_tools_and_each_item_runs_its_own_tool_loop() -> None:
    inputs = [{"id": f"c{i}", "prompt": f"city{i}", "deps": f"visitor {i}"} for i in range(20)]
    with ScriptedServer(tool_script) as server:
        result = run_batch(agent_for(server, tools=[lookup]), inputs, concurrency=6, progress=False)
    assert [item.text for item in result.items] == [f"final: city{i} is lovely (visitor {i})" for i in range(20)]
    assert all(item.usage.requests == 2 for item in result.items)
    assert result.totals.usage.requests == 40


def test_structured_output_is_kept_typed_and_written_as_json(tmp_path: Path) -> None:
    class Answer(BaseModel):
        city: str
        stars: int

    def script(body: dict[str, Any]) -> Reply:
        return Reply(text=json.dumps({"city": question(body), "stars": len(question(body))}))

    checkpoint = tmp_path / "out.jsonl"
    with ScriptedServer(script) as server:
        agent = agent_for(server, output_type=Answer)
        result = run_batch(agent, ["Rome", "Oslo"], checkpoint=checkpoint, progress=False)
        assert [item.output for item in result.items] == [Answer(city="Rome", stars=4), Answer(city="Oslo", stars=4)]
        assert sorted(line["output"]["city"] for line in read_jsonl(checkpoint)) == ["Oslo", "Rome"]
        resumed = run_batch(agent, ["Rome", "Oslo"], checkpoint=checkpoint, progress=False)
        assert len(server.requests) == 2  # nothing ran again
    assert resumed.items[0].output == Answer(city="Rome", stars=4)  # typed again when read back


def test_the_agent_is_left_as_it_was_and_the_sdk_does_not_retry_inside_the_batch() -> None:
    with ScriptedServer(answer_script(delay=0.05), max_concurrent=2) as server:
        agent = agent_for(server)
        generator = agent.chat_generator
        result = run_batch(agent, prompts(12), concurrency=6, progress=False)
        requests = server.requests
    assert result.totals.ok == 12 and server.refused > 0
    assert agent.chat_generator is generator and generator.max_retries is None
    # every retry was the batch's: a generator's own retries would resend a request under its client request id
    client_ids = [r.headers["x-client-request-id"] for r in requests]
    assert len(set(client_ids)) == len(client_ids) == 12 + server.refused


# -- 429 storms, 5xx, failures --------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [12, "auto"])
def test_a_429_storm_loses_no_item(concurrency: int | str) -> None:
    with ScriptedServer(answer_script(delay=0.03), max_concurrent=3) as server:
        result = run_batch(agent_for(server), prompts(60), concurrency=concurrency, progress=False)
        refused = server.refused
    assert [item.text for item in result.items] == [f"answer: q{i}" for i in range(60)]
    assert result.totals.error == 0 and result.complete
    if concurrency == 12:
        assert refused > 0
    assert result.totals.retries == refused  # each 429 was followed by exactly one more try


def test_a_server_error_is_retried_and_a_lasting_one_fails_only_its_item() -> None:
    attempts: Counter[str] = Counter()

    def script(body: dict[str, Any]) -> Reply:
        q = question(body)
        attempts[q] += 1
        if q == "flaky" and attempts[q] <= 2:
            return Reply.error(502, "Bad gateway")
        if q == "broken":
            return Reply.error(500, "Internal server error")
        if q == "invalid":
            return Reply.error(400, "Body validation error!")
        return Reply(text=f"answer: {q}")

    inputs = ["a", "flaky", "broken", "invalid", "b"]
    with ScriptedServer(script) as server:
        result = run_batch(agent_for(server), inputs, concurrency=2, progress=False, max_attempts=4)
    statuses = {item.id: (item.status, item.retries) for item in result.items}
    assert statuses == {"0": ("ok", 0), "1": ("ok", 2), "2": ("error", 3), "3": ("error", 0), "4": ("ok", 0)}
    assert attempts["broken"] == 4 and attempts["invalid"] == 1  # a 400 is not worth retrying
    broken, invalid = result.items[2], result.items[3]
    assert broken.error is not None and "HTTP 500" in broken.error and "Internal server error" in broken.error
    assert invalid.error is not None and invalid.error.startswith("AIMLAPIError:") and "HTTP 400" in invalid.error
    assert broken.exit_reason is None and broken.text is None
    assert (result.totals.ok, result.totals.error) == (3, 2) and result.complete
    assert result.failed == [broken, invalid]


def test_a_retried_model_call_does_not_run_the_earlier_tools_again() -> None:
    refused: set[str] = set()
    ran: Counter[str] = Counter()

    def script(body: dict[str, Any]) -> Reply:
        q = question(body)
        if any(m["role"] == "tool" for m in body["messages"]) and q not in refused:
            refused.add(q)
            return Reply.error(429, "Too Many Requests")
        return tool_script(body)

    def counting_lookup(city: str) -> str:
        """Look a city up.

        :param city: The city.
        """
        ran[city] += 1
        return f"{city} is lovely"

    from aiml_agent import create_tool

    with ScriptedServer(script) as server:
        agent = agent_for(server, tools=[create_tool(counting_lookup, name="lookup")])
        result = run_batch(agent, ["Rome", "Oslo", "Lima"], concurrency=3, progress=False)
    assert [item.text for item in result.items] == [f"final: {c} is lovely" for c in ("Rome", "Oslo", "Lima")]
    assert ran == {"Rome": 1, "Oslo": 1, "Lima": 1}
    assert [item.retries for item in result.items] == [1, 1, 1]
    assert all(item.usage.requests == 2 for item in result.items)  # the refused call spent nothing


def test_invalid_inputs_fail_their_own_item_only(tmp_path: Path) -> None:
    inputs: list[Any] = [
        "fine",
        {"prompt": "a", "messages": []},
        {"id": ["x"], "prompt": "a"},
        42,
        {"messages": [{"role": "user"}]},
        {"id": "last", "prompt": "fine too"},
    ]
    with ScriptedServer(answer_script()) as server:
        result = run_batch(agent_for(server), inputs, progress=False)
        assert len(server.requests) == 2
    assert [item.status for item in result.items] == ["ok", "error", "error", "error", "error", "ok"]
    errors = [item.error or "" for item in result.items[1:5]]
    assert all(error.startswith("invalid input: inputs[") for error in errors)
    assert "give either 'prompt' or 'messages' (got both)" in errors[0]
    assert "'id' must be a string or an integer" in errors[1]
    assert "expected a prompt, messages or an object, got 42" in errors[2]
    assert "inputs[4]: messages[0]: not a chat message" in errors[3]


def test_a_jsonl_file_is_read_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "inputs.jsonl"
    path.write_text(
        '"first"\n\n{"id": "b", "prompt": "second"}\nnot json\n[{"role": "user", "content": "fourth"}]\n',
        encoding="utf-8",
    )
    with ScriptedServer(answer_script()) as server:
        result = run_batch(agent_for(server), path, progress=False)
        again = run_batch(agent_for(server), str(path), progress=False)  # a str is a path too
    assert [(item.id, item.status, item.text) for item in result.items] == [
        ("0", "ok", "answer: first"),
        ("b", "ok", "answer: second"),
        ("2", "error", None),
        ("3", "ok", "answer: fourth"),
    ]
    assert result.items[2].error is not None and "inputs.jsonl line 4 is not valid JSON" in result.items[2].error
    assert [item.text for item in again.items] == [item.text for item in result.items]


# -- stopping and resuming -------------------------------------------------------------------------------


def test_out_of_credits_stops_the_batch_and_a_rerun_finishes_it_without_repeating(tmp_path: Path) -> None:
    checkpoint = tmp_path / "results.jsonl"
    with ScriptedServer(answer_script(), credits=7) as server:
        first = run_batch(agent_for(server), prompts(20), concurrency=1, checkpoint=checkpoint, progress=False)
    assert first.stopped == "out_of_credits" and not first.complete
    assert first.stop_message is not None and "You've run out of credits" in first.stop_message
    assert [item.id for item in first.items] == [str(i) for i in range(7)]
    assert [line["id"] for line in read_jsonl(checkpoint)] == [str(i) for i in range(7)]

    with ScriptedServer(answer_script()) as server:
        second = run_batch(agent_for(server), prompts(20), concurrency=4, checkpoint=checkpoint, progress=False)
        asked = sorted(question(r.body) for r in server.requests)
    assert asked == sorted(f"q{i}" for i in range(7, 20))  # the finished ids were not asked again
    assert second.complete and [item.text for item in second.items] == [f"answer: q{i}" for i in range(20)]
    assert (second.totals.items, second.totals.ok, second.totals.resumed) == (20, 20, 7)
    assert second.totals.usage.requests == 13  # this run's spending only
    recorded = Counter(line["id"] for line in read_jsonl(checkpoint))
    assert recorded == Counter(str(i) for i in range(20))  # each id once: nothing lost, nothing twice


def test_a_refused_key_stops_the_batch() -> None:
    def script(body: dict[str, Any]) -> Reply:
        return Reply.error(401, "Invalid API key")

    with ScriptedServer(script) as server:
        result = run_batch(agent_for(server), prompts(10), concurrency=2, progress=False)
        assert len(server.requests) <= 2
    assert result.stopped == "unauthorized" and result.items == []


def test_a_missing_key_stops_the_batch_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIMLAPI_API_KEY", raising=False)
    with ScriptedServer(answer_script()) as server:
        agent = agent_for(server, key=Secret.from_env_var("AIMLAPI_API_KEY"))
        result = run_batch(agent, prompts(3), progress=False)
        assert server.requests == []
    assert result.stopped == "unauthorized" and "AIMLAPI_API_KEY" in (result.stop_message or "")


def test_only_429s_for_too_long_stop_the_batch_instead_of_failing_items(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_retrying, "RATE_LIMIT_PATIENCE", 0.3)
    with ScriptedServer(answer_script(), max_concurrent=0) as server:
        result = run_batch(agent_for(server), prompts(5), concurrency=2, progress=False)
        assert server.refused > 2
    assert result.stopped == "rate_limited" and "429" in (result.stop_message or "")
    assert result.items == []  # a rate limit never fails an item


def test_errors_are_finished_unless_retry_errors(tmp_path: Path) -> None:
    checkpoint = tmp_path / "results.jsonl"
    failing = {"q1"}

    def script(body: dict[str, Any]) -> Reply:
        q = question(body)
        return Reply.error(400, "Body validation error!") if q in failing else Reply(text=f"answer: {q}")

    with ScriptedServer(script) as server:
        agent = agent_for(server)
        first = run_batch(agent, prompts(3), checkpoint=checkpoint, progress=False)
        assert [item.status for item in first.items] == ["ok", "error", "ok"]
        again = run_batch(agent, prompts(3), checkpoint=checkpoint, progress=False)
        assert len(server.requests) == 3 and again.totals.resumed == 3 and again.totals.error == 1
        failing.clear()
        retried = run_batch(agent, prompts(3), checkpoint=checkpoint, progress=False, retry_errors=True)
        assert len(server.requests) == 4
    assert [item.status for item in retried.items] == ["ok", "ok", "ok"]
    assert (retried.totals.resumed, retried.totals.error) == (2, 0)
    assert [line["status"] for line in read_jsonl(checkpoint) if line["id"] == "1"] == ["error", "ok"]


def test_a_line_cut_off_by_a_kill_is_dropped_and_its_item_runs_again(tmp_path: Path) -> None:
    checkpoint = tmp_path / "results.jsonl"
    done = BatchItem("0", 0, "ok", text="answer: q0", exit_reason="text")
    checkpoint.write_text(json.dumps(done.to_dict()) + "\n" + '{"id": "1", "index": 1, "sta', encoding="utf-8")
    with ScriptedServer(answer_script()) as server:
        result = run_batch(agent_for(server), prompts(3), checkpoint=checkpoint, progress=False)
        assert sorted(question(r.body) for r in server.requests) == ["q1", "q2"]
    assert [item.text for item in result.items] == ["answer: q0", "answer: q1", "answer: q2"]
    recorded = read_jsonl(checkpoint)  # every line whole again, the cut one replaced
    assert recorded[0]["id"] == "0" and sorted(line["id"] for line in recorded) == ["0", "1", "2"]


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path: Path) -> None:
    checkpoint = tmp_path / "notes.jsonl"
    checkpoint.write_text('{"hello": "world"}\n', encoding="utf-8")
    with ScriptedServer(answer_script()) as server, pytest.raises(ValueError, match=r"notes.jsonl line 1 is not a"):
        run_batch(agent_for(server), prompts(2), checkpoint=checkpoint, progress=False)


def test_ctrl_c_raises_batch_interrupted_with_what_finished(tmp_path: Path) -> None:
    import _thread

    checkpoint = tmp_path / "results.jsonl"

    def interrupt_when_some_finished() -> None:
        while not checkpoint.exists() or len(checkpoint.read_text().splitlines()) < 4:
            threading.Event().wait(0.01)
        _thread.interrupt_main()  # what Ctrl-C does

    with ScriptedServer(answer_script(delay=0.05)) as server:
        threading.Thread(target=interrupt_when_some_finished, daemon=True).start()
        with pytest.raises(BatchInterrupted) as caught:
            run_batch(agent_for(server), prompts(200), concurrency=2, checkpoint=checkpoint, progress=False)
    result = caught.value.result
    assert isinstance(caught.value, KeyboardInterrupt)
    assert result.stopped == "interrupted" and 4 <= result.totals.items < 200
    assert sorted(item.id for item in result.items) == sorted(line["id"] for line in read_jsonl(checkpoint))
    assert all(item.text == f"answer: q{item.index}" for item in result.items)


async def test_cancelling_the_async_batch_keeps_the_finished_items(tmp_path: Path) -> None:
    checkpoint = tmp_path / "results.jsonl"
    with ScriptedServer(answer_script(delay=0.05)) as server:
        task = asyncio.create_task(
            run_batch_async(agent_for(server), prompts(200), 3, checkpoint=checkpoint, progress=False)
        )
        while not checkpoint.exists() or len(checkpoint.read_text().splitlines()) < 5:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    recorded = read_jsonl(checkpoint)
    assert 5 <= len(recorded) < 200 and all(line["text"] == f"answer: q{line['index']}" for line in recorded)


# -- bounded memory -------------------------------------------------------------------------------------


class InstantGenerator:
    """An in-process chat generator answering at once, counting the calls in progress and the tasks alive."""

    def __init__(self) -> None:
        self.finished = 0
        self.most_tasks = 0

    async def run_async(self, messages: list[ChatMessage], **_: Any) -> dict[str, Any]:
        await asyncio.sleep(0)
        self.most_tasks = max(self.most_tasks, len(asyncio.all_tasks()))
        self.finished += 1
        return {"replies": [ChatMessage.from_assistant(f"answer: {messages[-1].text}", meta={})]}


@pytest.mark.parametrize("concurrency", [8, "auto"])
def test_a_large_input_is_streamed_in_bounded_memory(concurrency: int | str, tmp_path: Path) -> None:
    from aiml_agent import Agent
    from aiml_agent.batch._limiter import AUTO_MAXIMUM

    window = 8 if concurrency == 8 else 2 * AUTO_MAXIMUM
    generator = InstantGenerator()
    ahead = 0

    def inputs() -> Any:
        nonlocal ahead
        for i in range(5000):
            ahead = max(ahead, i - generator.finished)  # inputs read but not finished
            yield f"q{i}"

    checkpoint = tmp_path / "results.jsonl"
    agent = Agent(generator)
    result = run_batch(agent, inputs(), concurrency, checkpoint=checkpoint, progress=False, keep_items=False)
    assert result.items == [] and (result.totals.items, result.totals.ok) == (5000, 5000)
    assert ahead <= window
    assert generator.most_tasks <= window + 2  # the items in flight, the batch, the loop's own
    assert sum(1 for _ in checkpoint.open()) == 5000


def test_a_huge_jsonl_file_is_never_read_whole(tmp_path: Path) -> None:
    import tracemalloc

    from aiml_agent.batch._inputs import count_inputs, iter_inputs

    path = tmp_path / "huge.jsonl"
    row = json.dumps({"prompt": "x" * 200}) + "\n"
    with path.open("w", encoding="utf-8") as file:
        file.writelines(row for _ in range(200_000))  # ~43 MB
    tracemalloc.start()
    try:
        assert count_inputs(path) == 200_000
        inputs = iter_inputs(path)
        first = [next(inputs) for _ in range(100)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert first[99].id == "99" and peak < 2_000_000


# -- arguments -------------------------------------------------------------------------------------------


def test_bad_arguments_are_named() -> None:
    from aiml_agent import Agent

    agent = Agent(AIMLAPIChatGenerator(api_key=Secret.from_token("test-key")))
    with pytest.raises(ValueError, match="concurrency must be 'auto' or a whole number, got 'fast'"):
        run_batch(agent, ["q"], concurrency="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="concurrency must be at least 1, got 0"):
        run_batch(agent, ["q"], concurrency=0)
    with pytest.raises(ValueError, match="executor must be 'local' or 'ray', got 'dask'"):
        run_batch(agent, ["q"], executor="dask")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="run_batch needs an aiml_agent.Agent, got str"):
        run_batch("agent", ["q"])  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="no such inputs file: missing.jsonl"):
        run_batch(agent, "missing.jsonl", progress=False)
    with pytest.raises(TypeError, match="got a dict"):
        run_batch(agent, {"prompt": "one"}, progress=False)
