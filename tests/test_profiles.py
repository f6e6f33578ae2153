"""Model profiles: the catalogue parser (both GET /models shapes), profile_for by id / alias / family, and
refresh_catalogue against ScriptedServer (ETag, cache, fallbacks)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import unreachable_base_url

from aiml_agent.profiles import ModelProfile, current_catalogue, parse_models, profile_for, refresh_catalogue
from aiml_agent.profiles._store import EMBEDDED, default_cache_dir, reset_catalogue
from aiml_agent.testing import ScriptedServer

DATA = Path(__file__).resolve().parent / "data" / "aimlapi_models"
CURRENT = json.loads((DATA / "models_response_example.json").read_text())
LEGACY = json.loads((DATA / "models_response_legacy_example.json").read_text())


@pytest.fixture(autouse=True)
def fresh_catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Each test starts from the embedded snapshot with an empty cache directory of its own."""
    monkeypatch.setenv("AIML_AGENT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("AIMLAPI_BASE_URL", raising=False)
    reset_catalogue()
    yield
    reset_catalogue()


# ---- parsing ---------------------------------------------------------------------------------------------


def test_current_shape_reads_capabilities() -> None:
    models = {m.id: m for m in parse_models(CURRENT)}
    assert len(models) == 15
    gpt = models["openai/gpt-4o"]
    assert gpt.aliases == ("gpt-4o",) and gpt.developer == "Open AI" and gpt.endpoint == "chat"
    assert gpt.facts == {"tools": True, "parallel_tool_calls": True, "response_format": True}
    claude = models["anthropic/claude-sonnet-4.5"].facts
    assert claude == {"tools": True, "parallel_tool_calls": False, "response_format": False}
    assert models["tencent/hy-mt2-1.8b"].facts["tools"] is False
    assert "system_role" not in gpt.facts and "strict_tools" not in gpt.facts  # not stated: family rules decide


def test_legacy_shape_reads_features_and_keeps_responses_only_models_apart() -> None:
    models = {m.id: m for m in parse_models(LEGACY)}
    assert len(models) == 12
    o3 = models["o3-mini"].facts
    assert o3["tools"] and o3["system_role"] and o3["response_format"] and not o3["parallel_tool_calls"]
    assert models["openai/o3-pro"].endpoint == "responses"
    assert models["anthropic/claude-sonnet-4.5"].facts["system_role"] is False


def test_both_shapes_agree_on_the_models_they_share() -> None:
    current = {m.id: m.facts for m in parse_models(CURRENT)}
    legacy = {m.id: m.facts for m in parse_models(LEGACY)}
    for model_id in current.keys() & legacy.keys():
        for fact in ("tools", "parallel_tool_calls"):
            assert current[model_id][fact] == legacy[model_id][fact], (model_id, fact)


def test_non_text_models_empty_facts_and_bad_shapes() -> None:
    data = {
        "data": [
            {"id": "flux/dev", "type": "openai/image-generations", "info": {"developer": "BFL"}},
            {"id": "some/chat", "type": "openai/chat-completions", "capabilities": []},
            {"id": "  ", "type": "openai/chat-completions"},
            "not an item",
            {"id": "dup/model", "type": "openai/image-generations"},
            {"id": "dup/model", "type": "openai/chat-completions", "capabilities": ["tools"]},
        ]
    }
    models = {m.id: m for m in parse_models(data)}
    assert set(models) == {"some/chat", "dup/model"}
    assert models["some/chat"].facts == {}  # an empty list states nothing
    assert models["dup/model"].facts["tools"] is True
    with pytest.raises(ValueError, match="not a model list"):
        parse_models({"object": "error"})


def test_embedded_catalogue_is_the_converted_snapshot() -> None:
    catalogue = current_catalogue()
    assert catalogue.source == "embedded" and len(catalogue) == 268
    data = json.loads(EMBEDDED.read_text())
    assert data["snapshot"]["commit"].startswith("f14fa72")
    gemini = catalogue.find("google/gemini-2.5-flash")
    assert gemini is not None and gemini.facts["strict_tools"] is True  # AIMLAPI's schema has the field ...
    assert profile_for("google/gemini-2.5-flash").supports_strict_tools is False  # ... Gemini has no strict mode


def test_converter_module_remakes_the_embedded_file(tmp_path: Path) -> None:
    answer = tmp_path / "models.json"
    answer.write_text(json.dumps(CURRENT))
    made = subprocess.run(
        [sys.executable, "-m", "aiml_agent.profiles", str(answer)], capture_output=True, text=True, check=True
    )
    data = json.loads(made.stdout)
    assert data["format"] == 1 and len(data["models"]) == 15
    assert ["openai/gpt-4o", ["gpt-4o"], "Open AI", "chat", "tpr", ""] in data["models"]


# ---- profile_for -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "family", "dialect", "strict", "system"),
    [
        ("openai/gpt-4o", "openai", "openai", True, True),
        ("gpt-4o", "openai", "openai", True, True),  # an alias
        ("anthropic/claude-opus-4-8", "anthropic", "anthropic", True, True),
        ("claude-sonnet-4-5", "anthropic", "anthropic", False, False),  # alias; Messages-shaped: no system role
        ("google/gemini-2.5-flash", "google", "google", False, True),
        ("google/gemma-3-4b-it", "google", "google", False, False),
        ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "meta", "openai", True, True),
        ("mistralai/mistral-nemo", "mistral", "openai", True, True),
        ("deepseek/deepseek-r1", "deepseek", "openai", True, True),
        ("x-ai/grok-4-1-fast-reasoning", "xai", "openai", True, True),
    ],
)
def test_profiles_of_catalogue_models(model: str, family: str, dialect: str, strict: bool, system: bool) -> None:
    profile = profile_for(model)
    assert (profile.family, profile.schema_dialect, profile.supports_strict_tools, profile.supports_system_role) == (
        family,
        dialect,
        strict,
        system,
    )
    assert profile.source == "catalogue" and profile.model is not None


def test_model_without_tools_and_lookups_that_forgive_spelling() -> None:
    assert profile_for("perplexity/sonar").supports_tools is False
    assert profile_for("OPENAI/GPT-4O").model == "openai/gpt-4o"  # case-insensitive
    assert profile_for("anthropic/claude-opus-4.8").model == "anthropic/claude-opus-4-8"  # dotted = dashed
    assert profile_for("openai/gpt-4o-mini").model == "gpt-4o-mini"  # listed under its bare name, same family
    assert profile_for("mistralai/gpt-4o-mini").source != "catalogue"  # a bare-name match of another family: no


def test_unknown_ids_get_their_family_rules_or_openai_rules(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="aiml_agent.profiles"):
        gemini = profile_for("google/gemini-9-ultra")
        claude = profile_for("claude-7-opus")
        unknown = profile_for("acme/wonder-1")
    assert (gemini.family, gemini.schema_dialect, gemini.supports_strict_tools, gemini.source) == (
        "google",
        "google",
        False,
        "family rules",
    )
    assert (claude.family, claude.schema_dialect, claude.supports_response_format) == ("anthropic", "anthropic", False)
    assert unknown == ModelProfile(family="unknown", model="acme/wonder-1", source="openai rules")
    assert "acme/wonder-1" in caplog.text and "OpenAI's rules" in caplog.text
    assert "google/gemini-9-ultra" in caplog.text


def test_default_model_of_the_generator_is_openai() -> None:
    profile = profile_for("openai/gpt-5-chat-latest")
    assert (profile.family, profile.schema_dialect, profile.supports_strict_tools) == ("openai", "openai", True)


def test_model_profile_round_trip_and_validation() -> None:
    profile = ModelProfile(family="custom", schema_dialect="google", supports_tools=False)
    assert ModelProfile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile
    with pytest.raises(ValueError, match="schema_dialect"):
        ModelProfile(schema_dialect="cohere")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="supports_vision"):
        ModelProfile.from_dict({"supports_vision": True})


# ---- refresh_catalogue -------------------------------------------------------------------------------------


def test_refresh_fetches_caches_and_is_used_at_once(tmp_path: Path) -> None:
    changed = json.loads(json.dumps(CURRENT))
    changed["data"].append(
        {
            "id": "acme/new-chat",
            "type": "openai/chat-completions",
            "info": {"developer": "Acme"},
            "capabilities": ["streaming"],
        }
    )
    assert profile_for("acme/new-chat").supports_tools is True  # not in the snapshot: OpenAI's rules
    with ScriptedServer(models=changed) as server:
        base_url = server.base_url
        catalogue = refresh_catalogue(base_url=base_url, cache_dir=tmp_path / "cache")
        [request] = server.requests
    assert (request.method, request.path) == ("GET", "/v1/models?include=capabilities")
    assert "authorization" not in request.headers  # no key needed
    assert catalogue.source == "network" and len(catalogue) == 16 and catalogue.etag.startswith('W/"')
    assert profile_for("acme/new-chat").supports_tools is False  # in this process, at once
    cached = json.loads((tmp_path / "cache" / "catalogue.json").read_text())
    assert cached["base_url"] == base_url and cached["etag"] == catalogue.etag


def test_a_later_process_answers_from_the_cache(tmp_path: Path) -> None:
    changed = {"object": "list", "data": [*CURRENT["data"]]}
    changed["data"].append({"id": "acme/no-tools", "type": "openai/chat-completions", "capabilities": ["streaming"]})
    with ScriptedServer(models=changed) as server:
        refresh_catalogue(base_url=server.base_url)  # the default cache dir: AIML_AGENT_CACHE_DIR
    code = "from aiml_agent import profile_for; p = profile_for('acme/no-tools'); print(p.source, p.supports_tools)"
    env = {**os.environ, "AIML_AGENT_CACHE_DIR": str(default_cache_dir())}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.split() == ["catalogue", "False"]


def test_etag_gets_304_and_keeps_the_cache(tmp_path: Path) -> None:
    with ScriptedServer(models=CURRENT) as server:
        first = refresh_catalogue(base_url=server.base_url)
        second = refresh_catalogue(base_url=server.base_url)
        requests = server.requests
    assert requests[1].headers["if-none-match"] == first.etag
    assert second.source == "network" and [m.id for m in second.models] == [m.id for m in first.models]
    assert "if-none-match" not in requests[0].headers


def test_unreachable_server_falls_back_to_cache_then_snapshot_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = unreachable_base_url()
    with caplog.at_level(logging.WARNING, logger="aiml_agent.profiles"):
        embedded = refresh_catalogue(base_url=dead)
    assert embedded.source == "embedded" and len(embedded) == 268
    assert dead in embedded.warning and "snapshot embedded" in caplog.text
    with ScriptedServer(models=LEGACY) as server:
        refresh_catalogue(base_url=server.base_url)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="aiml_agent.profiles"):
        kept = refresh_catalogue(base_url=dead)
    assert kept.source == "cache" and len(kept) == 12 and "cached one" in caplog.text
    assert profile_for("openai/o3-pro").source == "catalogue"  # the cache is in force


def test_server_errors_and_nonsense_fall_back(tmp_path: Path) -> None:
    with ScriptedServer() as server:  # no models= : GET /v1/models answers 404
        catalogue = refresh_catalogue(base_url=server.base_url)
    assert catalogue.source == "embedded" and "HTTP 404" in catalogue.warning
    with ScriptedServer(models={"object": "list", "data": []}) as server:
        catalogue = refresh_catalogue(base_url=server.base_url)
    assert catalogue.source == "embedded" and "no text model" in catalogue.warning


def test_base_url_from_environment_and_corrupt_cache_ignored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = default_cache_dir()
    cache.mkdir(parents=True)
    (cache / "catalogue.json").write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="aiml_agent.profiles"):
        assert current_catalogue().source == "embedded"
    assert "Ignoring the model catalogue cache" in caplog.text
    with ScriptedServer(models=CURRENT) as server:
        monkeypatch.setenv("AIMLAPI_BASE_URL", server.base_url)
        assert refresh_catalogue().base_url == server.base_url
        assert len(server.requests) == 1


def test_importing_the_package_loads_no_profile_and_no_catalogue() -> None:
    code = (
        "import sys, aiml_agent; import aiml_agent.profiles as p; from aiml_agent.profiles import _store; "
        "print(_store._current is None, 'haystack' in sys.modules, 'openai' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "False", "False"]
