"""``aiml-agent cassette show``: real recorded OpenAI traffic and our own readable layout as transcripts."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import REAL_CASSETTES, assert_one_line_error, run_cli

from aiml_agent.cli import main

REAL = REAL_CASSETTES
REAL_FILES = sorted(REAL.glob("*.yaml"))


def show(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    """Run ``cassette show`` in-process (the console script is covered once below) and return stdout."""
    assert main(["cassette", "show", str(path), *extra]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


@pytest.mark.parametrize("path", REAL_FILES, ids=[path.stem for path in REAL_FILES])
def test_every_real_cassette_becomes_a_transcript(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    interactions = yaml.safe_load(path.read_text())["interactions"]

    out = show(path, capsys)

    assert out.count("── request ") == out.count("── reply ") == len(interactions)
    assert "(not valid JSON)" not in out and "<not valid JSON" not in out  # every stream reassembled whole
    assert f"total: {len(interactions)} request" in out


PROJECT_FILES = sorted((Path(__file__).resolve().parents[1] / "cassettes").rglob("*.yaml"))


@pytest.mark.parametrize("path", PROJECT_FILES, ids=[path.stem for path in PROJECT_FILES])
def test_every_project_cassette_becomes_a_transcript(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    interactions = yaml.safe_load(path.read_text())["interactions"]

    out = show(path, capsys)

    assert out.count("── request ") == out.count("── reply ") == len(interactions)
    assert "  user: " in out and "  assistant" in out and " tokens (" in out
    assert "(not valid JSON)" not in out and "<not valid JSON" not in out


def test_real_cassettes_in_detail(capsys: pytest.CaptureFixture[str]) -> None:
    retry = show(REAL / "test_dbos_agent_with_model_retry.yaml", capsys)
    assert "  user: What is the weather in CDMX?" in retry
    assert "  tools (1): get_weather_in_city [strict]" in retry
    assert "  tool [call_fFAB8MNL3tUdfNIIdsIJTo0H]: Did you mean Mexico City?" in retry
    assert '  assistant → get_weather_in_city({"city": "Mexico City"})  [call_hLYHO5lK5lmiukTZv6VQzz3x]' in retry
    assert "  assistant: The weather in Mexico City is currently sunny." in retry
    assert "  64 tokens (47 prompt + 17 completion)\n" in retry
    assert "… 3 earlier messages, as in the request before" in retry  # later requests show only what is new
    assert "total: 3 requests · 294 tokens (250 prompt + 44 completion)\n" in retry

    parallel = show(REAL / "test_open_ai_function_calls_tools_streaming_parallel.yaml", capsys)
    assert "(model gpt-3.5-turbo, streamed)" in parallel
    assert (
        '  assistant → get_current_weather({"location": "San Francisco"})  [call_cCPjAyfwTzboEKjVlqFrArNF]' in parallel
    )
    assert '  assistant → get_current_weather({"location": "Boston"})  [call_Zi4He1Ns0mozwT6f85nW1BOW]' in parallel
    assert "(the same 1 message as the request before)" in parallel

    streamed = show(REAL / "test_run_stream_sync_streams_real_model.yaml", capsys)
    assert "  assistant: The capital of the UK is London." in streamed
    assert "  87 tokens (78 prompt + 9 completion)" in streamed  # from the include_usage chunk

    complex_run = show(REAL / "test_complex_agent_run.yaml", capsys)
    assert "  tools (19): get_weather [strict], get_country," in complex_run
    assert "  tools: the same 19 as request 1" in complex_run
    assert '"label": "Product Name", "answer": "The product name is Pydantic AI."' in complex_run

    full = show(REAL / "test_dbos_agent_with_model_retry.yaml", capsys, "--full")
    assert full.count("  user: What is the weather in CDMX?") == 3


def test_our_readable_layout_errors_and_python_tags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ours.yaml"
    path.write_text(
        textwrap.dedent("""\
        version: 1
        interactions:
        - request:
            method: POST
            uri: https://api.aimlapi.com/v1/chat/completions
            headers: {}
            body:
              json:
                model: openai/gpt-5-chat-latest
                stream: true
                messages:
                - {role: system, content: Be brief.}
                - role: user
                  content:
                  - {type: text, text: "Look at this:"}
                  - {type: image_url, image_url: {url: "https://example.com/a.png"}}
                tools:
                - {type: function, function: {name: describe, strict: true, parameters: {type: object}}}
          response:
            status: {code: 200, message: OK}
            headers: {content-type: [text/event-stream]}
            body:
              string: |+
                data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"A "}}],"model":"m-1"}

                data: {"choices":[{"index":0,"delta":{"content":"cat."}}]}

                data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

                data: {"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14},"meta":{"usage":{"credits_used":7,"usd_spent":0.0000035}}}

                data: [DONE]

        - request:
            method: POST
            uri: https://api.aimlapi.com/v1/chat/completions
            headers: {}
            body: !!python/unicode '{"model": "m", "messages": [{"role": "user", "content": "again"}]}'
          response:
            status: {code: 429, message: Too Many Requests}
            headers: {}
            body:
              json: {message: Too many requests, path: /v1/chat/completions, requestId: r-9, statusCode: 429}
    """)
    )

    out = show(path, capsys)

    assert "  tools (1): describe [strict]" in out
    assert "  system: Be brief." in out
    assert "  user: Look at this:\n      [image_url]" in out
    assert "── reply 1  (HTTP 200, m-1, finish stop)\n  assistant: A cat." in out
    assert "  14 tokens (12 prompt + 2 completion) · cost 7 credits, $0.0000035\n" in out  # as `run` shows it
    assert "── reply 2  (HTTP 429)\n  error: Too many requests" in out
    assert "total: 2 requests · 14 tokens (12 prompt + 2 completion) · cost 7 credits, $0.0000035\n" in out


def test_malformed_cassettes_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "no_request.yaml").write_text("interactions:\n- response: {status: {code: 200}}\n")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "tagged.yaml").write_text("interactions: !!python/object/apply:os.system ['echo hacked']\n")

    # The testing kit's format checks (the ones replays make) name the file and the fault.
    no_request = run_cli("cassette", "show", "no_request.yaml", cwd=tmp_path)
    assert_one_line_error(no_request, "no_request.yaml is not a valid cassette: interactions[0] has no 'request'")
    assert_one_line_error(run_cli("cassette", "show", "binary.yaml", cwd=tmp_path), "binary.yaml", "not UTF-8 text")
    tagged = run_cli("cassette", "show", "tagged.yaml", cwd=tmp_path)
    assert_one_line_error(tagged, "tagged.yaml", "not valid YAML at line 1", "could not determine a constructor")
    assert "hacked" not in tagged.stdout  # nothing in a cassette is ever executed


def test_the_console_script_shows_a_real_cassette() -> None:
    result = run_cli("cassette", "show", str(REAL / "test_tool_choice_matrix[auto-openai].yaml"))

    assert result.returncode == 0, result.stderr
    assert '  assistant → get_weather({"city": "Paris"})  [call_aDdJTteHrpMdhdkEkyxjxEHH]' in result.stdout
    assert "  tool [call_aDdJTteHrpMdhdkEkyxjxEHH]: Sunny, 22C in Paris" in result.stdout
    assert "\x1b[" not in result.stdout


def test_answers_are_read_as_the_generator_reads_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "parsed.yaml"
    path.write_text(
        textwrap.dedent("""\
        interactions:
        - request:
            method: POST
            uri: https://api.aimlapi.com/v1/chat/completions
            headers: {}
            body:
              json: {model: google/gemini-2.5-flash, stream: true, messages: [{role: user, content: Both?}]}
          response:
            status: {code: 200, message: OK}
            headers:
              content-type: [text/event-stream]
              x-aimlapi-credits-used: ['12']
            body:
              string: |+
                data: {"choices":[{"index":0,"delta":{"tool_calls":[{"id":"","type":"function","function":{"name":"weather","arguments":"{\\"city\\":\\"Oslo\\"}"}}]}}]}

                data: {"choices":[{"index":0,"delta":{"tool_calls":[{"id":"","type":"function","function":{"name":"weather","arguments":"{\\"city\\":\\"Rome\\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}

                data: [DONE]

        - request:
            method: POST
            uri: http://127.0.0.1:8000/mcp
            headers: {}
            body:
              json: {jsonrpc: '2.0', id: 1, method: tools/list}
          response:
            status: {code: 200, message: OK}
            headers: {}
            body:
              json: {jsonrpc: '2.0', id: 1, result: {tools: []}}
    """)
    )

    out = show(path, capsys)

    # Gemini's calls (empty ids, no index) stay two calls, as the agent gets them; the cost comes from the headers.
    assert '  assistant → weather({"city": "Oslo"})\n  assistant → weather({"city": "Rome"})\n' in out
    assert "  13 tokens (9 prompt + 4 completion) · cost 12 credits\n" in out
    assert "── reply 2  (HTTP 200)\n  body: " in out and '"result":{"tools":[]}' in out  # not a chat completion
    assert "total: 2 requests · 13 tokens (9 prompt + 4 completion) · cost 12 credits\n" in out
