"""Requests shaped by the model's profile, checked on the body ScriptedServer received, family by family.

Real ids from AIMLAPI's catalogue (OpenAI, Anthropic, Google, Meta, Mistral, DeepSeek, an alias) and an unknown
id. The checks are properties any correct shaping has (a keyword the family rejects appears nowhere in what is
sent; OpenAI strict is exactly `to_strict_schema`), not one converter's exact output.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Annotated, Any, Literal

import pytest
from haystack.dataclasses import ChatMessage
from haystack.tools import Tool
from haystack.utils import Secret
from pydantic import BaseModel, Field

from aiml_agent import Agent, AIMLAPIChatGenerator, ModelCapabilityError, ModelProfile, create_tool
from aiml_agent import _request as request_module
from aiml_agent.errors import StrictSchemaError
from aiml_agent.strict import to_strict_schema
from aiml_agent.testing import Reply, ScriptedServer, ToolCallReply

# Keywords a family rejects in tool parameters and response schemas.
GOOGLE_REJECTS = {"additionalProperties", "$ref", "$defs", "definitions", "default", "title", "$schema"}
ANTHROPIC_STRICT_REJECTS = {"minimum", "maximum", "multipleOf", "minLength", "maxLength"}  # and complex patterns
SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")


class Address(BaseModel):
    street: str
    city: str = "Paris"
    postcode: Annotated[str | None, Field(pattern=r"^\d{5}$")] = None


def ship(
    item: Annotated[str, Field(min_length=2, max_length=40, description="What to ship.")],
    quantity: Annotated[int, Field(ge=1, le=10)] = 1,
    to: Address | None = None,
    speed: Literal["standard", "express"] = "standard",
) -> str:
    """Ship an item.

    Args:
        item: What to ship.
        quantity: How many.
        to: Where to.
        speed: How fast.
    """
    return f"{quantity} x {item}"


SHIP = create_tool(ship)


class Forecast(BaseModel):
    city: str
    high: Annotated[float, Field(ge=-90, le=60)]
    note: str | None = None


def keywords(schema: Any) -> set[str]:
    """Every schema keyword used anywhere in ``schema`` (property names are not keywords)."""
    found: set[str] = set()
    if isinstance(schema, list):
        for item in schema:
            found |= keywords(item)
    elif isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key in SCHEMA_MAPS and isinstance(value, dict):
                for sub in value.values():
                    found |= keywords(sub)
            elif key not in ("enum", "const", "required", "examples", "description"):
                found |= keywords(value)
    return found


def generator(server: ScriptedServer, model: str, **kwargs: Any) -> AIMLAPIChatGenerator:
    return AIMLAPIChatGenerator(
        api_key=Secret.from_token("test-key"), api_base_url=server.base_url, model=model, max_retries=0, **kwargs
    )


def sent_function(server: ScriptedServer, index: int = -1) -> dict[str, Any]:
    [definition] = server.requests[index].body["tools"]
    return definition["function"]


@pytest.fixture(autouse=True)
def warnings_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees the once-per-model warnings afresh."""
    monkeypatch.setattr(request_module, "_warned", set())


# ---- tools, family by family -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        "openai/gpt-4o",
        "gpt-4o",  # an alias
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "mistralai/mistral-nemo",
        "deepseek/deepseek-r1",
        "acme/wonder-1",  # unknown: OpenAI's rules
    ],
)
def test_openai_dialect_models_get_exactly_openai_strict_schemas(model: str) -> None:
    before = copy.deepcopy(SHIP.parameters)
    with ScriptedServer(["ok", "ok"]) as server:
        gen = generator(server, model, tools=[SHIP])
        gen.run("Ship it", tools_strict=True)
        strict = sent_function(server)
        gen.run("Ship it")
        plain = sent_function(server)
    assert strict["strict"] is True and strict["parameters"] == to_strict_schema(before, tool_name="ship")
    assert "strict" not in plain and plain["parameters"] == before
    assert SHIP.parameters == before  # the Tool itself never changes


def test_anthropic_strict_model_gets_strict_schemas_without_rejected_keywords() -> None:
    with ScriptedServer(["ok"]) as server:
        generator(server, "anthropic/claude-opus-4-8", tools=[SHIP], tools_strict=True).run("Ship it")
        function = sent_function(server)
    params = function["parameters"]
    assert function["strict"] is True
    assert not keywords(params) & ANTHROPIC_STRICT_REJECTS
    assert params["additionalProperties"] is False and params["required"] == list(SHIP.parameters["properties"])
    text = json.dumps(params)
    assert "40" in text and "10" in text  # the constraints' information moved into descriptions, not lost
    assert r"^\\d{5}$" in text and keywords(params) >= {"pattern"}  # a simple pattern is one Anthropic takes


def test_google_models_never_get_a_keyword_gemini_rejects(caplog: pytest.LogCaptureFixture) -> None:
    with ScriptedServer(["ok", "ok", "ok"]) as server, caplog.at_level(logging.WARNING, logger="aiml_agent"):
        gen = generator(server, "google/gemini-2.5-flash", tools=[SHIP])
        gen.run("Ship it")
        gen.run("Ship it", tools_strict=True)
        gen.run("Ship it", tools_strict=True)
        sent = [r.body["tools"][0]["function"] for r in server.requests]
    for function in sent:
        assert not keywords(function["parameters"]) & GOOGLE_REJECTS
        assert "strict" not in function
        assert set(function["parameters"]["properties"]) == {"item", "quantity", "to", "speed"}
    assert sent[0] == sent[1] == sent[2]
    strict_warnings = [r for r in caplog.records if "strict mode" in r.getMessage()]
    assert len(strict_warnings) == 1 and "google/gemini-2.5-flash" in strict_warnings[0].getMessage()


def test_strict_on_a_model_without_strict_mode_warns_once_and_sends_non_strict(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with ScriptedServer(["ok", "ok"]) as server, caplog.at_level(logging.WARNING, logger="aiml_agent"):
        gen = generator(server, "anthropic/claude-sonnet-4.5", tools=[SHIP], tools_strict=True)
        gen.run("Ship it")
        gen.run("Ship it")
        sent = [r.body["tools"][0]["function"] for r in server.requests]
    assert all("strict" not in f and f["parameters"] == SHIP.parameters for f in sent)
    messages = [r.getMessage() for r in caplog.records if "strict" in r.getMessage()]
    assert len(messages) == 1 and "anthropic/claude-sonnet-4.5" in messages[0]


def test_a_tool_the_dialect_cannot_make_strict_is_sent_non_strict_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = request_module.tool_parameters_for

    def anthropic_refuses(parameters: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if kwargs["dialect"] == "anthropic" and kwargs["strict"]:
            raise StrictSchemaError("recursive schemas are not supported", path="$.properties.to")
        return real(parameters, **kwargs)

    monkeypatch.setattr(request_module, "tool_parameters_for", anthropic_refuses)
    monkeypatch.setattr(request_module, "_cache", type(request_module._cache)())  # convert anew
    with ScriptedServer(["ok"]) as server, caplog.at_level(logging.WARNING, logger="aiml_agent"):
        generator(server, "anthropic/claude-opus-4-8", tools=[SHIP], tools_strict=True).run("Ship it")
        function = sent_function(server)
    assert "strict" not in function and function["parameters"] == SHIP.parameters
    assert "recursive schemas are not supported" in caplog.text and "'ship'" in caplog.text


def test_a_schema_openai_strict_mode_cannot_express_still_raises_for_every_family() -> None:
    free_form = Tool(
        name="tag",
        description="Tag.",
        parameters={
            "type": "object",
            "properties": {"tags": {"type": "object", "additionalProperties": {"type": "integer"}}},
        },
        function=lambda tags: "ok",
    )
    with ScriptedServer([]) as server:
        for model in ("openai/gpt-4o", "anthropic/claude-opus-4-8"):
            with pytest.raises(StrictSchemaError, match="tags"):
                generator(server, model, tools=[free_form], tools_strict=True).run("Tag it")
        assert server.requests == []


def test_tools_for_a_model_without_tool_calling_fail_before_anything_is_sent() -> None:
    with ScriptedServer(["never"]) as server:
        with pytest.raises(ModelCapabilityError) as info:
            generator(server, "perplexity/sonar", tools=[SHIP]).run("Ship it")
        assert server.requests == []
        generator(server, "perplexity/sonar").run("Hi")  # without tools the model is fine
    message = str(info.value)
    assert "perplexity/sonar" in message and "does not support tool calling" in message and "ship" in message
    assert isinstance(info.value, ValueError)


def test_an_agent_on_a_model_without_tools_fails_clearly_too() -> None:
    with ScriptedServer(["never"]) as server:
        agent = Agent(generator(server, "perplexity/sonar"), tools=[SHIP])
        with pytest.raises(ModelCapabilityError, match="perplexity/sonar"):
            agent.run("Ship it")
        assert server.requests == []


# ---- messages, response formats, parameters ----------------------------------------------------------------


def test_system_prompt_folded_into_the_first_user_message_without_a_system_role() -> None:
    messages = [ChatMessage.from_system("Be brief."), ChatMessage.from_user("Hi"), ChatMessage.from_assistant("Hello")]
    with ScriptedServer(["ok", "ok"]) as server:
        generator(server, "anthropic/claude-sonnet-4.5").run([*messages, ChatMessage.from_user("More")])
        generator(server, "anthropic/claude-opus-4-8").run(messages)
    folded, kept = (r.body["messages"] for r in server.requests)
    assert folded == [
        {"role": "user", "content": "Be brief.\n\nHi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "More"},
    ]
    assert kept[0] == {"role": "system", "content": "Be brief."}


def test_system_prompt_alone_becomes_a_user_message() -> None:
    with ScriptedServer(["ok"]) as server:
        generator(server, "google/gemma-3-4b-it").run([ChatMessage.from_system("Only this.")])
    assert server.requests[0].body["messages"] == [{"role": "user", "content": "Only this."}]


def test_response_format_shaped_for_gemini() -> None:
    with ScriptedServer(['{"city": "Oslo", "high": 12.5}']) as server:
        generator(server, "google/gemini-2.5-flash", generation_kwargs={"response_format": Forecast}).run("Oslo?")
        response_format = server.requests[0].body["response_format"]
    spec = response_format["json_schema"]
    assert response_format["type"] == "json_schema" and spec["name"] == "Forecast" and "strict" not in spec
    assert not keywords(spec["schema"]) & GOOGLE_REJECTS
    assert set(spec["schema"]["properties"]) == {"city", "high", "note"}


def test_response_format_for_openai_is_strict_as_before() -> None:
    with ScriptedServer(['{"city": "Oslo", "high": 12.5, "note": null}']) as server:
        generator(server, "openai/gpt-4o", generation_kwargs={"response_format": Forecast}).run("Oslo?")
        spec = server.requests[0].body["response_format"]["json_schema"]
    assert spec["strict"] is True and spec["schema"] == to_strict_schema(
        Forecast.model_json_schema(), tool_name="Forecast"
    )


def test_agent_output_type_on_a_model_without_response_format_asks_in_the_prompt() -> None:
    answer = '{"city": "Oslo", "high": 12.5}'
    with ScriptedServer([answer]) as server:
        agent = Agent(generator(server, "anthropic/claude-sonnet-4.5"), output_type=Forecast, system_prompt="Be exact.")
        result = agent.run("Forecast for Oslo?")
        body = server.requests[0].body
    assert result["output"] == Forecast(city="Oslo", high=12.5)
    assert "response_format" not in body
    [first] = [m for m in body["messages"] if m["role"] == "user"][:1]
    assert first["content"].startswith("Be exact.\n\nAnswer with a single JSON object")
    assert '"high"' in first["content"] and first["content"].endswith("Forecast for Oslo?")
    assert all(m["role"] != "system" for m in body["messages"])


def test_agent_output_type_on_gemini_sends_a_gemini_schema() -> None:
    with ScriptedServer(['{"city": "Oslo", "high": 12.5, "note": null}']) as server:
        result = Agent(generator(server, "google/gemini-2.5-flash"), output_type=Forecast).run("Forecast?")
        spec = server.requests[0].body["response_format"]["json_schema"]
    assert result["output"] == Forecast(city="Oslo", high=12.5)
    assert not keywords(spec["schema"]) & GOOGLE_REJECTS and "strict" not in spec


def test_parallel_tool_calls_not_sent_to_a_model_that_does_not_take_it() -> None:
    with ScriptedServer(["ok", "ok"]) as server:
        kwargs = {"parallel_tool_calls": False}
        generator(server, "anthropic/claude-sonnet-4.5", tools=[SHIP], generation_kwargs=kwargs).run("Hi")
        generator(server, "openai/gpt-4o", tools=[SHIP], generation_kwargs=kwargs).run("Hi")
    assert "parallel_tool_calls" not in server.requests[0].body
    assert server.requests[1].body["parallel_tool_calls"] is False


def test_switching_an_agent_between_families_keeps_it_working() -> None:
    script = [Reply(tool_calls=[ToolCallReply("ship", {"item": "book", "quantity": 2})]), "Shipped."]
    for model in ("openai/gpt-4o", "google/gemini-2.5-flash", "anthropic/claude-sonnet-4.5", "mistralai/mistral-nemo"):
        with ScriptedServer(list(script)) as server:
            result = Agent(generator(server, model), tools=[SHIP], tools_strict=True).run("Ship two books")
        assert result["last_message"].text == "Shipped."
        assert result["steps"][0].tool_calls[0].result == "2 x book"


# ---- the profile parameter ---------------------------------------------------------------------------------


def test_profile_overrides_the_catalogue_and_round_trips() -> None:
    custom = ModelProfile(family="in-house", schema_dialect="google", supports_strict_tools=False)
    with ScriptedServer(["ok"]) as server:
        gen = generator(server, "openai/gpt-4o", tools=[SHIP], tools_strict=True, profile=custom)
        gen.run("Ship it")
        function = sent_function(server)
    assert not keywords(function["parameters"]) & GOOGLE_REJECTS and "strict" not in function
    data = AIMLAPIChatGenerator(model="openai/gpt-4o", profile=custom).to_dict()
    assert data["init_parameters"]["profile"]["schema_dialect"] == "google"
    restored = AIMLAPIChatGenerator.from_dict(json.loads(json.dumps(data)))
    assert restored.profile == custom and restored.to_dict() == data
    assert AIMLAPIChatGenerator(model="gemini-9").effective_profile.family == "google"
    assert AIMLAPIChatGenerator().to_dict()["init_parameters"]["profile"] is None


def test_base_url_from_the_environment_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedServer(["from env", "given"]) as server, ScriptedServer([]) as other:
        monkeypatch.setenv("AIMLAPI_BASE_URL", server.base_url)
        gen = AIMLAPIChatGenerator(api_key=Secret.from_token("test-key"))
        assert gen.run("Hi")["replies"][0].text == "from env"
        monkeypatch.setenv("AIMLAPI_BASE_URL", other.base_url)
        given = AIMLAPIChatGenerator(api_key=Secret.from_token("test-key"), api_base_url=server.base_url)
        assert given.run("Hi")["replies"][0].text == "given"
        assert other.requests == []
    assert AIMLAPIChatGenerator().to_dict()["init_parameters"]["api_base_url"] is None  # what was given: nothing
    given_url = AIMLAPIChatGenerator(api_base_url="http://proxy.local/v1").to_dict()["init_parameters"]
    assert given_url["api_base_url"] == "http://proxy.local/v1"


def test_folding_keeps_the_parts_of_a_multimodal_first_message() -> None:
    from haystack.dataclasses import ImageContent, TextContent

    from aiml_agent._request import chat_messages

    image = ImageContent(base64_image="iVBORw0KGgo=", mime_type="image/png")
    user = ChatMessage.from_user(content_parts=[TextContent("What is this?"), image])
    no_system = ModelProfile(family="x", supports_system_role=False)
    sent = chat_messages([ChatMessage.from_system("Answer in French."), user], no_system)
    [message] = sent
    assert message["role"] == "user" and message["content"][0] == {"type": "text", "text": "Answer in French."}
    assert message["content"][1:] == user.to_openai_dict_format()["content"]
