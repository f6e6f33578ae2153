"""The plugin's fixtures as a user meets them: a test project in a temporary folder, run by pytest in a
subprocess (the plugin loads through its entry point, as after ``pip install aiml-agent``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = '''
import pytest

from aiml_agent import Agent, AIMLAPIChatGenerator, tool
from aiml_agent.testing import Reply, ScriptedChatGenerator, ToolCallReply, exercise_tools, run_summary

STARTED = []
SCRIPT = [Reply(tool_calls=[ToolCallReply("get_weather", {"city": "Paris"})]), "Sunny in Paris."]


@tool
def get_weather(city: str) -> str:
    """The weather of a city.

    :param city: The city.
    """
    return f"Sunny in {city}"


def test_a_generator_playing_a_script(aimlapi_generator):
    generator = aimlapi_generator(SCRIPT)
    assert isinstance(generator, AIMLAPIChatGenerator) and generator.api_base_url.startswith("http://127.0.0.1:")
    result = Agent(generator, tools=[get_weather]).run("Weather in Paris?")
    assert result["last_message"].text == "Sunny in Paris."
    assert result["steps"][0].tool_calls[0].result == "Sunny in Paris"


def test_a_generator_on_a_server_of_mine(scripted_server, aimlapi_generator):
    server = scripted_server(list(SCRIPT), model="scripted")
    STARTED.append(server)
    generator = aimlapi_generator(server, model="openai/gpt-4o", tools_strict=True)
    assert generator.max_retries == 0 and generator.api_key.resolve_value()
    Agent(generator, tools=[get_weather]).run("Weather in Paris?")
    assert server.requests[0].body["tools"][0]["function"]["strict"] is True
    assert server.remaining == 0


def test_every_server_is_stopped_after_its_test():
    [server] = STARTED
    with pytest.raises(RuntimeError, match="not running"):
        server.base_url


def test_generator_options_override_the_defaults(aimlapi_generator):
    generator = aimlapi_generator([Reply.error(503, "busy", headers={"retry-after": "0"}), "ok"], max_retries=1)
    assert generator.run("Hi")["replies"][0].text == "ok"


def test_in_process_and_served_runs_summarize_equal(aimlapi_generator):
    served = Agent(aimlapi_generator(list(SCRIPT)), tools=[get_weather]).run("Weather in Paris?")
    in_process = Agent(ScriptedChatGenerator(list(SCRIPT)), tools=[get_weather]).run("Weather in Paris?")
    assert run_summary(served) == run_summary(in_process)


def test_the_tools_survive_what_a_model_may_send():
    exercise_tools([get_weather], examples=10).assert_ok()
'''


SHORT_SCRIPT_TEST = """
from aiml_agent import Agent
from aiml_agent.testing import ScriptedChatGenerator


def test_two_questions_with_one_answer_scripted():
    agent = Agent(ScriptedChatGenerator(["only one answer"]))
    agent.run("first")
    agent.run("second")
"""


def test_fixtures_start_servers_point_generators_at_them_and_stop_them(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_agent_unit=USER_TESTS, test_short_script=SHORT_SCRIPT_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=6, failed=1)  # the short script's test fails, saying why
    result.stdout.fnmatch_lines(
        ["*ScriptExhaustedError: ScriptedChatGenerator script exhausted: no reply left for request #2*"]
    )


def test_importing_the_plugin_stays_cheap() -> None:
    code = (
        "import sys, aiml_agent.testing.pytest_plugin\n"
        "heavy = ('haystack', 'openai', 'httpx2', 'vcr', 'hypothesis', 'aiml_agent.testing.server')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
