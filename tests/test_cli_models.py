"""``aiml-agent models``, ``aiml-agent tools FILE --model M`` and ``run``'s fast failure on a refused connection."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import WEATHER_TOOLS, assert_one_line_error, call_cli, run_cli, unreachable_base_url

from aiml_agent._request import tool_definitions
from aiml_agent.profiles import profile_for
from aiml_agent.profiles._store import reset_catalogue
from aiml_agent.testing import ScriptedServer

DATA = Path(__file__).resolve().parent / "data" / "aimlapi_models"


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AIML_AGENT_CACHE_DIR", str(tmp_path / "cache"))
    reset_catalogue()
    yield
    reset_catalogue()


def test_models_lists_the_embedded_catalogue_with_what_each_accepts() -> None:
    result = run_cli("models")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["MODEL", "FAMILY", "TOOLS", "STRICT", "FORMAT", "SYSTEM", "PARALLEL", "ALIASES"]
    [gpt] = [line for line in lines if line.startswith("openai/gpt-4o ")]
    assert gpt.split()[1:] == ["openai", "yes", "yes", "yes", "yes", "yes", "gpt-4o"]
    [claude] = [line for line in lines if line.startswith("anthropic/claude-sonnet-4.5 ")]
    assert claude.split()[1:7] == ["anthropic", "yes", "no", "no", "no", "no"]
    assert claude.endswith("claude-sonnet-4-5-20250929, claude-sonnet-4-5")
    assert lines[-1].startswith("268 of 268 models; catalogue: the snapshot embedded in aiml-agent")


def test_models_family_tools_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call_cli(capsys, "models", "--family", "Google", "--tools", "--json")
    listed = json.loads(out)
    assert code == 0 and listed and all(m["family"] == "google" and m["supports_tools"] for m in listed)
    gemini = next(m for m in listed if m["id"] == "google/gemini-2.5-flash")
    assert gemini["schema_dialect"] == "google" and gemini["supports_strict_tools"] is False
    assert "google/gemma-3-4b-it" not in {m["id"] for m in listed}  # no tools
    code, _, err = call_cli(capsys, "models", "--family", "nosuch")
    assert code == 1 and "no model of family 'nosuch'" in err and "anthropic" in err


def test_models_refresh_fetches_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answer = json.loads((DATA / "models_response_example.json").read_text())
    monkeypatch.setenv("AIML_AGENT_CACHE_DIR", str(tmp_path / "cli-cache"))  # the subprocesses inherit it
    with ScriptedServer(models=answer) as server:
        base_url = server.base_url
        result = run_cli("models", "--refresh", "--base-url", base_url, "--json")
        assert [r.path for r in server.requests] == ["/v1/models?include=capabilities"]
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 15
    later = run_cli("models")  # a later process: from the cache
    assert f"15 of 15 models; catalogue: {base_url}/models" in later.stdout


def test_models_refresh_of_an_unreachable_server_warns_and_shows_the_snapshot() -> None:
    result = run_cli("models", "--refresh", "--base-url", unreachable_base_url())
    assert result.returncode == 0
    assert result.stderr.startswith("warning: Could not refresh the model catalogue")
    assert "268 of 268 models" in result.stdout


@pytest.mark.usefixtures("isolated_imports")
def test_tools_for_a_model_show_exactly_what_it_receives(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "weather.py").write_text(WEATHER_TOOLS)
    target = str(tmp_path / "weather.py")
    code, out, _ = call_cli(capsys, "tools", target, "--model", "google/gemini-2.5-flash", "--strict", "--json")
    sent = json.loads(out)
    from aiml_agent.cli._shared import load_tools

    tools = load_tools(target).tools
    assert code == 0 and sent == tool_definitions(tools, True, profile_for("google/gemini-2.5-flash"))
    assert "additionalProperties" not in out and "$ref" not in out and '"strict"' not in out
    code, out, _ = call_cli(capsys, "tools", target, "--model", "google/gemini-2.5-flash", "--strict")
    assert out.startswith("As google/gemini-2.5-flash receives them (AIMLAPI's catalogue): family google")
    assert "no strict mode, so --strict sends non-strict schemas" in out
    assert "2 tools from" in out and "as google/gemini-2.5-flash receives them" in out
    code, out, _ = call_cli(capsys, "tools", target, "--model", "openai/gpt-4o", "--strict", "--json")
    assert json.loads(out) == tool_definitions(tools, True)  # OpenAI's rules: as without --model


def test_tools_for_a_model_without_tool_calling_is_one_line(weather_file: Path) -> None:
    result = run_cli("tools", str(weather_file), "--model", "perplexity/sonar")
    assert_one_line_error(result, "perplexity/sonar", "does not support tool calling")


def test_run_fails_at_once_when_nothing_listens(tmp_path: Path) -> None:
    (tmp_path / "weather.py").write_text(WEATHER_TOOLS)
    base_url = unreachable_base_url()
    started = time.perf_counter()
    result = run_cli("run", "weather.py", "Weather?", "--base-url", base_url, cwd=tmp_path, key="test-key")
    assert time.perf_counter() - started < 30  # with the default retries' waits it would still be quick; no waits
    assert_one_line_error(result, f"Connection to {base_url} failed", "[1 attempt")
