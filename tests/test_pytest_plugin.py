"""The pytest plugin as a user meets it: a test project in a temporary folder, recorded against
ScriptedServer with a fake key, then replayed offline without a key; edits and stale cassettes fail."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import openai
import pytest
import vcr.stubs.httpx_stubs  # noqa: F401
import yaml

from aiml_agent.testing import Reply, ScriptedServer
from aiml_agent.testing.pytest_plugin import cassette_dir

pytest_plugins = ["pytester"]

FAKE_KEY = "sk-fake-SECRET-0123456789"

# Imported here once: in-process pytester runs keep what the outer process already loaded, instead of
# importing openai's lazily loaded resources again in every run.
openai.OpenAI(api_key="x").chat.completions.create  # noqa: B018
openai.AsyncOpenAI(api_key="x").chat.completions.create  # noqa: B018

USER_TESTS = """
import os

import openai
import pytest


def client():
    return openai.OpenAI(base_url=os.environ.get("BASE_URL", "http://127.0.0.1:9/v1"),
                         api_key=os.environ["AIMLAPI_API_KEY"], max_retries=0)


def ask(prompt):
    reply = client().chat.completions.create(model="m", messages=[{"role": "user", "content": prompt}])
    return reply.choices[0].message.content


@pytest.mark.vcr
def test_hello():
    assert ask(os.environ.get("PROMPT", "Hi")) == "Hello!"


@pytest.mark.vcr
def test_twice():
    assert ask("one") == "1"
    if os.environ.get("CALLS", "2") == "2":
        assert ask("two") == "2"


@pytest.mark.vcr
def test_stream():
    chunks = client().chat.completions.create(model="m", messages=[{"role": "user", "content": "stream"}],
                                              stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "a streamed answer"


@pytest.mark.vcr
async def test_async_stream():
    aclient = openai.AsyncOpenAI(base_url=os.environ.get("BASE_URL", "http://127.0.0.1:9/v1"),
                                 api_key=os.environ["AIMLAPI_API_KEY"], max_retries=0)
    reply = await aclient.chat.completions.create(model="m", messages=[{"role": "user", "content": "async"}])
    assert reply.choices[0].message.content == "async hi"
    chunks = await aclient.chat.completions.create(model="m", messages=[{"role": "user", "content": "stream"}],
                                                   stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices]) == "a streamed answer"
"""

ANSWERS = {"Hi": "Hello!", "one": "1", "two": "2", "stream": "a streamed answer", "async": "async hi"}


def _answer(body: dict[str, Any]) -> Reply:
    prompt = body["messages"][0]["content"]
    headers = {
        "set-cookie": "session=abc",
        "x-request-id": "req-123",
        "openai-organization": "org-xyz",
        "openai-project": "proj-xyz",
    }
    return Reply(text=ANSWERS.get(prompt, f"unexpected prompt {prompt!r}"), headers=headers)


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A user's project: its own ini (none of ours), one test module under tests/."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.mkdir("tests")
    (pytester.path / "tests" / "test_chat.py").write_text(USER_TESTS)
    for name in ("AIMLAPI_API_KEY", "BASE_URL", "PROMPT", "CALLS"):
        monkeypatch.delenv(name, raising=False)
    return pytester


def record(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str, passed: int = 1) -> ScriptedServer:
    """Record the user's tests against a ScriptedServer with a known fake key; the server is stopped after."""
    with ScriptedServer(_answer) as server, monkeypatch.context() as env:
        env.setenv("AIMLAPI_API_KEY", FAKE_KEY)
        env.setenv("BASE_URL", server.base_url)
        project.runpytest("--record-mode=once", *args).assert_outcomes(passed=passed)
    return server


def cassettes(project: pytest.Pytester) -> Path:
    return project.path / "cassettes" / "test_chat"


def test_records_readable_cassettes_without_secrets(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    record(project, monkeypatch, passed=4)

    files = sorted(p.name for p in cassettes(project).iterdir())
    assert files == ["test_async_stream.yaml", "test_hello.yaml", "test_stream.yaml", "test_twice.yaml"]
    assert not (project.path / "tests" / "cassettes").exists()
    for path in cassettes(project).iterdir():
        text = path.read_text()
        assert FAKE_KEY not in text and "0123456789" not in text
        for secret in (
            "authorization",
            "set-cookie",
            "x-request-id",
            "openai-organization",
            "openai-project",
            "org-xyz",
            "req-123",
            "session=abc",
        ):
            assert secret not in text.lower(), f"{secret} written to {path.name}"

    hello = yaml.safe_load((cassettes(project) / "test_hello.yaml").read_text())
    (interaction,) = hello["interactions"]
    assert interaction["request"]["body"]["json"]["messages"] == [{"role": "user", "content": "Hi"}]
    assert interaction["response"]["body"]["json"]["choices"][0]["message"]["content"] == "Hello!"

    stream_text = (cassettes(project) / "test_stream.yaml").read_text()
    assert "string: |" in stream_text  # a literal block: one SSE event per line
    stream = yaml.safe_load(stream_text)["interactions"][0]["response"]["body"]["string"]
    assert stream.startswith("data: {") and stream.rstrip().endswith("data: [DONE]")


def test_replays_offline_without_a_key(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    server = record(project, monkeypatch, passed=4)
    recorded = len(server.requests)

    result = project.runpytest()  # server stopped, no AIMLAPI_API_KEY, default record mode "none"

    result.assert_outcomes(passed=4)
    assert len(server.requests) == recorded
    assert "AIMLAPI_API_KEY" not in os.environ  # the placeholder lived only as long as each test


def test_edited_prompt_fails_and_shows_the_difference(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(project, monkeypatch, "-k", "test_hello")
    monkeypatch.setenv("PROMPT", "Hello there")

    result = project.runpytest("-k", "test_hello")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*json_body differs*", '*-*"content": "Hi",', '*+*"content": "Hello there",'])


def test_unplayed_interactions_fail_the_test(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    record(project, monkeypatch, "-k", "test_twice")
    monkeypatch.setenv("CALLS", "1")

    result = project.runpytest("-k", "test_twice")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*UnplayedInteractionsError*1 of 2 recorded interactions*", "*#2 POST http://127.0.0.1:*/v1/chat/completions*"]
    )


def test_unplayed_interactions_can_be_allowed(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    record(project, monkeypatch, "-k", "test_twice")
    monkeypatch.setenv("CALLS", "1")

    project.runpytest("-k", "test_twice", "-o", "aiml_allow_unplayed=true").assert_outcomes(passed=1)
    project.makeconftest("import pytest\n\n@pytest.fixture\ndef vcr_config():\n    return {'allow_unplayed': True}\n")
    project.runpytest("-k", "test_twice").assert_outcomes(passed=1)


def test_request_without_recording_fails_naming_it(project: pytest.Pytester) -> None:
    result = project.runpytest("-k", "test_hello")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*CannotOverwriteExistingCassetteException*", "*POST http://127.0.0.1:9/v1/chat/completions*"]
    )


def test_replay_blocks_the_network(pytester: pytest.Pytester) -> None:
    from pytest_recording import network

    network.unblock()  # this project's own --block-network would hide whether the plugin blocks by itself
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    with ScriptedServer([]) as server:
        port = server.base_url.split(":")[2].split("/")[0]
        pytester.makepyfile(
            test_net=f"""
            import socket
            import pytest

            def connect():
                socket.create_connection(("127.0.0.1", {port}), timeout=2).close()

            @pytest.mark.vcr
            def test_replay():
                with pytest.raises(RuntimeError, match="Network is disabled"):
                    connect()

            def test_unmarked():
                connect()
        """
        )
        pytester.runpytest().assert_outcomes(passed=2)
        pytester.makeconftest(
            "import pytest\n\n@pytest.fixture\ndef vcr_config():\n    return {'allowed_hosts': ['127.0.0.1']}\n"
        )
        result = pytester.runpytest("-k", "test_replay")  # the user let 127.0.0.1 through: the replay connects
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*DID NOT RAISE*"])


def test_user_vcr_config_overrides_defaults_and_secrets_stay_out(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makeconftest(
        "import pytest\n\n@pytest.fixture\ndef vcr_config():\n    return {'match_on': ['method', 'path']}\n"
    )
    record(project, monkeypatch, "-k", "test_hello")
    assert FAKE_KEY not in (cassettes(project) / "test_hello.yaml").read_text()
    monkeypatch.setenv("PROMPT", "Hello there")

    project.runpytest("-k", "test_hello").assert_outcomes(passed=1)  # the body is no longer matched


def test_user_cassette_dir_and_serializer_win_and_secrets_still_stay_out(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makeconftest(
        "import pytest\n\n"
        "@pytest.fixture(scope='module')\ndef vcr_cassette_dir(request):\n"
        "    return str(request.config.rootpath / 'tapes')\n\n"
        "@pytest.fixture\ndef vcr_config():\n    return {'serializer': 'json'}\n"
    )
    record(project, monkeypatch, "-k", "test_hello")

    assert not (project.path / "cassettes").exists()
    text = (project.path / "tapes" / "test_hello.json").read_text()
    assert FAKE_KEY not in text and "authorization" not in text.lower() and "req-123" not in text
    project.runpytest("-k", "test_hello").assert_outcomes(passed=1)


def test_cassette_dir_mirrors_the_test_tree(tmp_path: Path) -> None:
    assert cassette_dir(tmp_path, tmp_path / "tests" / "test_a.py") == tmp_path / "cassettes" / "test_a"
    assert (
        cassette_dir(tmp_path, tmp_path / "tests" / "unit" / "test_a.py") == tmp_path / "cassettes" / "unit" / "test_a"
    )
    assert (
        cassette_dir(tmp_path, tmp_path / "examples" / "test_ex.py") == tmp_path / "cassettes" / "examples" / "test_ex"
    )
    assert cassette_dir(tmp_path, Path("/elsewhere/test_b.py")) == tmp_path / "cassettes" / "test_b"


def test_plugin_module_loads_without_vcrpy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, aiml_agent.testing.pytest_plugin; "
        "print(sorted(m for m in ('vcr', 'yaml', 'openai', 'aiml_agent.testing.cassettes') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
