"""``executor="ray"`` on a local Ray started here (two workers): the same outcomes as a local run, a 403 that stops
the batch with its checkpoint intact, and the agent errors Ray would hit, named before any worker starts."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from batch_support import answer_script, lookup, tool_script
from haystack.utils import Secret

from aiml_agent import Agent, AIMLAPIChatGenerator, create_tool, run_batch
from aiml_agent.batch import _items
from aiml_agent.batch._ray import agent_spec
from aiml_agent.testing import ScriptedServer

ray = pytest.importorskip("ray")
ENV_KEY = Secret.from_env_var("AIMLAPI_API_KEY")  # what ships to workers: a variable's name, never a key


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    os.environ["AIMLAPI_API_KEY"] = "test-key"  # the workers get the environment Ray starts with
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
        os.environ.pop("AIMLAPI_API_KEY", None)


def agent_on(server: ScriptedServer, **kwargs: Any) -> Agent:
    return Agent(AIMLAPIChatGenerator(api_key=ENV_KEY, api_base_url=server.base_url), **kwargs)


def outcome(items: list[Any]) -> list[tuple[Any, ...]]:
    return [(i.id, i.index, i.status, i.text, i.exit_reason, i.usage.total_tokens, i.error) for i in items]


@pytest.mark.usefixtures("local_ray")
def test_ray_gives_the_same_outcomes_as_a_local_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    inputs = [{"id": f"c{i}", "prompt": f"city{i}", "deps": f"visitor {i}"} for i in range(80)]
    with ScriptedServer(tool_script, max_concurrent=6) as server:
        agent = agent_on(server, tools=[lookup])
        local = run_batch(agent, inputs, concurrency=8, progress=False)

        def not_here(*args: Any) -> Any:
            raise AssertionError("with executor='ray' no item runs in this process")

        monkeypatch.setattr(_items.ItemRunner, "run", not_here)
        checkpoint = tmp_path / "ray.jsonl"
        on_ray = run_batch(agent, inputs, concurrency=8, checkpoint=checkpoint, progress=False, executor="ray")
    assert on_ray.complete and local.complete
    assert outcome(on_ray.items) == outcome(local.items)
    assert on_ray.items[3].text == "final: city3 is lovely (visitor 3)"
    assert (on_ray.totals.ok, on_ray.totals.usage.requests) == (80, 160)
    assert Counter(json.loads(line)["id"] for line in checkpoint.open()) == Counter(f"c{i}" for i in range(80))


@pytest.mark.usefixtures("local_ray")
def test_out_of_credits_on_ray_stops_the_batch_and_a_rerun_completes_it(tmp_path: Path) -> None:
    checkpoint = tmp_path / "results.jsonl"
    prompts = [f"q{i}" for i in range(60)]
    with ScriptedServer(answer_script(delay=0.01), credits=20) as server:
        stopped = run_batch(agent_on(server), prompts, 2, checkpoint=checkpoint, progress=False, executor="ray")
    assert stopped.stopped == "out_of_credits" and "run out of credits" in (stopped.stop_message or "")
    written = [json.loads(line) for line in checkpoint.open()]
    assert 0 < len(written) <= 20 and sorted(line["id"] for line in written) == sorted(i.id for i in stopped.items)

    with ScriptedServer(answer_script()) as server:
        rerun = run_batch(agent_on(server), prompts, checkpoint=checkpoint, progress=False, executor="ray")
        assert len(server.requests) == 60 - len(written)
    assert rerun.complete and [item.text for item in rerun.items] == [f"answer: q{i}" for i in range(60)]
    assert Counter(json.loads(line)["id"] for line in checkpoint.open()) == Counter(str(i) for i in range(60))


def test_what_cannot_reach_the_workers_is_named_before_any_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"Agent.to_dict\(\), which failed: .*Secret.from_env_var"):
        agent_spec(Agent(AIMLAPIChatGenerator(api_key=Secret.from_token("test-key"))))

    def scratch(text: str) -> str:
        """Defined in the script being run.

        :param text: Some text.
        """
        return text

    import __main__

    scratch.__module__, scratch.__qualname__ = "__main__", "scratch"
    monkeypatch.setattr(__main__, "scratch", scratch, raising=False)
    with pytest.raises(ValueError, match=r"defined in the script being run \(__main__\)"):
        agent_spec(Agent(AIMLAPIChatGenerator(api_key=ENV_KEY), tools=[create_tool(scratch)]))

    spec = agent_spec(Agent(AIMLAPIChatGenerator(api_key=ENV_KEY), tools=[lookup]))
    assert "batch_support" in spec["modules"] and spec["modules"]["batch_support"].endswith("batch_support.py")
    assert "test-key" not in json.dumps(spec["agent"])
