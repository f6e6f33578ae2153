"""What a cassette file holds and how a bad one fails: credential headers scrubbed by name, no run-dependent
headers (recording twice gives the same file), corrupt files named with their fault, advice that records a
missing cassette, the network guard, and the vcrpy API the kit relies on."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from haystack.utils import Secret
from vcr.errors import CannotOverwriteExistingCassetteException

from aiml_agent import Agent, AIMLAPIChatGenerator, tool
from aiml_agent.testing import CassetteFormatError, Reply, ScriptedServer, ToolCallReply, cassette
from aiml_agent.testing._network import blocked_network
from aiml_agent.testing.cassettes import REDACTED, is_noise_header, is_secret_header

pytest_plugins = ["pytester"]


# --- what is written ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "X-Api-Token",
        "x-auth-user",
        "X-Client-Secret",
        "x-password",
        "X-Session-Id",
        "Cookie",
        "set-cookie",
        "x-refresh-token",
        "Proxy-Authorization",
        "x_api_key",
        "openai-organization",
        "x-request-id",
    ],
)
def test_a_header_whose_name_says_credential_is_secret(name: str) -> None:
    assert is_secret_header(name)


@pytest.mark.parametrize("name", ["content-type", "x-aimlapi-credits-used", "x-inference-id", "accept", "host"])
def test_ordinary_headers_are_kept(name: str) -> None:
    assert not is_secret_header(name) and not is_noise_header(name)


def test_extra_headers_with_credentials_never_reach_the_file(tmp_path: Path) -> None:
    """``extra_headers`` a user adds (``X-Api-Token`` and the like) are dropped, and their values scrubbed
    wherever else they appear, in requests and responses."""
    sent = {
        "X-Api-Token": "tok-AAAAAA111111",
        "X-Client-Secret": "sec-BBBBBB222222",
        "X-Session-Id": "ses-CCCCCC333333",
        "X-Password": "pwd-DDDDDD444444",
        "X-Auth-User": "usr-EEEEEE555555",
    }
    answer = f"echo {sent['X-Api-Token']} {sent['X-Session-Id']}"
    response_headers = {"x-new-token": "tok-FFFFFF666666", "x-session": "ses-GGGGGG777777"}
    generator_kwargs: dict[str, Any] = {"api_key": Secret.from_token("test-key"), "extra_headers": sent}
    with ScriptedServer([Reply(text=answer, headers=response_headers)]) as server:
        generator = AIMLAPIChatGenerator(api_base_url=server.base_url, max_retries=0, **generator_kwargs)
        with cassette(tmp_path / "extra", mode="once"):
            reply = generator.run([_user(f"my token is {sent['X-Api-Token']}")])["replies"][0]
    assert reply.text == answer
    assert {name.lower() for name in sent} <= {name.lower() for name in server.requests[0].headers}

    text = (tmp_path / "extra.yaml").read_text()
    for value in [*sent.values(), *response_headers.values()]:
        assert value not in text, f"{value} written to the cassette"
    stored = yaml.safe_load(text)["interactions"][0]
    assert not any(is_secret_header(name) for name in stored["request"]["headers"])
    assert not any(is_secret_header(name) for name in stored["response"]["headers"])
    assert REDACTED in stored["request"]["body"]["json"]["messages"][0]["content"]


def test_run_dependent_request_headers_are_not_written(tmp_path: Path) -> None:
    with ScriptedServer(["ok"]) as server:
        generator = AIMLAPIChatGenerator(api_base_url=server.base_url, api_key=Secret.from_token("test-key"))
        with cassette(tmp_path / "noise", mode="once"):
            generator.run([_user("hi")])
    sent = {name.lower() for name in server.requests[0].headers}
    assert {"user-agent", "x-stainless-package-version"} <= sent

    written = {
        name.lower()
        for name in yaml.safe_load((tmp_path / "noise.yaml").read_text())["interactions"][0]["request"]["headers"]
    }
    assert not any(name.startswith("x-stainless-") for name in written)
    assert not written & {"user-agent", "http-referer", "x-title"}
    assert {"content-type", "accept"} <= written


@tool
def lookup(order_id: str) -> str:
    """Look up an order.

    Args:
        order_id: The order number.
    """
    return f"{order_id}: shipped"


def _user(text: str) -> Any:
    from haystack.dataclasses import ChatMessage

    return ChatMessage.from_user(text)


def _record_agent_run(path: Path) -> str:
    """Record a streamed agent run with a tool call against a fresh ScriptedServer (a new port each time)."""
    script = [Reply(tool_calls=[ToolCallReply("lookup", {"order_id": "A-1"})]), "It has shipped."]
    chunks: list[str] = []
    with ScriptedServer(script) as server:
        generator = AIMLAPIChatGenerator(api_base_url=server.base_url, api_key=Secret.from_token("test-key"))
        agent = Agent(generator, [lookup], streaming_callback=lambda chunk: chunks.append(chunk.content))
        with cassette(path, mode="rewrite"):
            assert agent.run("Where is A-1?")["last_message"].text == "It has shipped."
    return path.read_text()


_RUN_DEPENDENT = [
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),  # the server's port
    (re.compile(r"chatcmpl-[0-9a-f]+"), "chatcmpl-ID"),  # completion ids
    (re.compile(r"(created\"?:) ?\d+"), r"\1 TIME"),  # timestamps, in YAML and inside streamed JSON
]


def _normalised(text: str) -> str:
    for pattern, replacement in _RUN_DEPENDENT:
        text = pattern.sub(replacement, text)
    return text


def test_recording_an_unchanged_run_twice_gives_the_same_file(tmp_path: Path) -> None:
    first = _record_agent_run(tmp_path / "run.yaml")
    second = _record_agent_run(tmp_path / "run.yaml")

    assert first != second  # ports, ids and timestamps differ ...
    assert _normalised(first) == _normalised(second)  # ... and nothing else does


# --- files that are not cassettes ---------------------------------------------------------------------------

_GOOD = {
    "version": 1,
    "interactions": [
        {
            "request": {"method": "POST", "uri": "http://h/v1/chat/completions", "headers": {}, "body": "{}"},
            "response": {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": "{}"}},
        }
    ],
}


def _with(path: str, value: Any) -> str:
    data = json.loads(json.dumps(_GOOD))
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[last] = value
    return yaml.safe_dump(data)


CORRUPT = {
    "bad YAML": ("interactions:\n  - request: {method: POST\n", r"not valid YAML at line \d+, column \d+"),
    "a list at the top": ("- 1\n- 2\n", r"the top level should be a mapping, found a list"),
    "no interactions": ("version: 1\n", r"the top level has no 'interactions'"),
    "interactions not a list": ("interactions: {a: 1}\n", r"'interactions' should be a list, found a dict"),
    "no response": (_with("interactions.0.response", None), r"interactions\[0\]\.response should be a mapping"),
    "unknown request key": (_with("interactions.0.request.verb", "POST"), r"request has unknown keys: 'verb'"),
    "status not a number": (_with("interactions.0.response.status.code", "OK"), r"status\.code should be a number"),
    "body not text": (_with("interactions.0.response.body.string", [1]), r"response\.body\.string should be text"),
    "request without uri": (
        yaml.safe_dump({"interactions": [{"request": {"method": "GET"}, "response": {}}]}),
        r"interactions\[0\]\.request has no 'uri', 'headers', 'body'",
    ),
}


@pytest.mark.parametrize("case", CORRUPT)
def test_a_corrupt_cassette_names_its_file_and_fault(tmp_path: Path, case: str) -> None:
    text, fault = CORRUPT[case]
    path = tmp_path / "broken.yaml"
    path.write_text(text)

    with pytest.raises(CassetteFormatError, match=fault) as caught:
        with cassette(path):
            pass
    assert str(caught.value).startswith(f"{path} is not a valid cassette: ")
    assert caught.value.path == path
    assert path.read_text() == text  # never treated as empty and recorded over


def test_a_cassette_that_is_not_utf8_is_an_error_not_an_empty_recording(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    for mode in ("none", "once"):
        with pytest.raises(CassetteFormatError, match="binary.yaml is not a valid cassette: not UTF-8 text"):
            with cassette(path, mode=mode):
                pass
    assert path.read_bytes() == b"\xff\xfe\x00garbage"


def test_the_good_cassette_used_above_loads(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(yaml.safe_dump(_GOOD))
    with cassette(path, allow_unplayed=True) as tape:
        assert len(tape) == 1


def test_a_json_cassette_is_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"interactions": [{"request": 1}]')
    with pytest.raises(CassetteFormatError, match=r"c\.json is not a valid cassette: cannot be read: "):
        with cassette(path, serializer="json"):
            pass
    path.write_text('{"interactions": [{"request": 1, "response": {}}]}')
    with pytest.raises(CassetteFormatError, match=r"interactions\[0\]\.request should be a mapping, found an? int"):
        with cassette(path, serializer="json"):
            pass


# --- a missing cassette: advice that records it ------------------------------------------------------------


def test_cassette_advice_for_a_missing_recording_names_the_mode_that_records(tmp_path: Path) -> None:
    with pytest.raises(CannotOverwriteExistingCassetteException) as caught:
        with cassette(tmp_path / "missing.yaml"):
            httpx2.post("http://127.0.0.1:9/v1/chat/completions", json={"model": "m"})
    message = str(caught.value)
    assert "(the default)" not in message
    assert "cassette(path, mode='once') (the default mode 'none' only replays)" in message
    assert "POST http://127.0.0.1:9/v1/chat/completions" in message  # vcrpy's own account of the request stays
    assert f"check its path: {tmp_path / 'missing.yaml'}" in message


USER_TEST = """
import httpx2
import pytest


@pytest.mark.vcr
def test_chat():
    httpx2.post("http://127.0.0.1:9/v1/chat/completions", json={"model": "m"})
"""


@pytest.fixture
def user_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.mkdir("tests")
    (pytester.path / "tests" / "test_chat.py").write_text(USER_TEST)
    return pytester


def test_under_pytest_a_missing_cassette_says_how_to_record_it(user_project: pytest.Pytester) -> None:
    result = user_project.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "(the default)" not in output
    result.stdout.fnmatch_lines(
        ["*Can't play back this request: the cassette doesn't exist*", "*pytest --record-mode=once*"]
    )


@pytest.mark.parametrize("case", ["bad YAML", "unknown request key"])
def test_under_pytest_a_corrupt_cassette_names_its_file(user_project: pytest.Pytester, case: str) -> None:
    text, fault = CORRUPT[case]
    folder = user_project.path / "cassettes" / "test_chat"
    folder.mkdir(parents=True)
    (folder / "test_chat.yaml").write_text(text)

    result = user_project.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert "CassetteFormatError" in output and "ParserError" not in output and "TypeError" not in output
    assert re.search(r"cassettes/test_chat/test_chat\.yaml is not a valid cassette: .*" + fault, output), output


def test_under_pytest_a_corrupt_extra_cassette_is_the_one_named(user_project: pytest.Pytester) -> None:
    folder = user_project.path / "cassettes" / "test_chat"
    folder.mkdir(parents=True)
    (folder / "test_chat.yaml").write_text(yaml.safe_dump(_GOOD))
    (folder / "shared.yaml").write_text(CORRUPT["no interactions"][0])
    (user_project.path / "tests" / "test_chat.py").write_text(
        USER_TEST.replace("@pytest.mark.vcr", "@pytest.mark.vcr('shared.yaml')")
    )

    result = user_project.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*cassettes/test_chat/shared.yaml is not a valid cassette: the top level has no*"])


# --- the network guard --------------------------------------------------------------------------------------


def _connect(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


def test_the_network_guard_nests_and_restores_what_was_there() -> None:
    before = socket.socket.connect, socket.socket.connect_ex, socket.socketpair
    with ScriptedServer([]) as server:
        port = int(server.base_url.split(":")[2].split("/")[0])
        with blocked_network(["127.0.0.1"]):
            _connect(port)
            with blocked_network(None):  # an inner block refuses what the outer one allowed ...
                with pytest.raises(RuntimeError, match="Network is disabled for host '127.0.0.1'"):
                    _connect(port)
            _connect(port)  # ... and leaving it gives back the outer one
        with blocked_network(["localhost"]):
            with pytest.raises(RuntimeError, match=r"allowed hosts: \(\?:localhost\)"):
                _connect(port)
    assert (socket.socket.connect, socket.socket.connect_ex, socket.socketpair) == before


def test_socketpair_still_works_inside_the_guard() -> None:
    with blocked_network(None):
        left, right = socket.socketpair()
        left.sendall(b"x")
        assert right.recv(1) == b"x"
        left.close()
        right.close()


# --- the upstream API the kit reads -------------------------------------------------------------------------


def test_vcrpy_still_offers_what_the_kit_reads(tmp_path: Path) -> None:
    """vcrpy (pinned in pyproject.toml) must keep these public names; if this fails, vcrpy changed under us."""
    import vcr
    from vcr.cassette import Cassette
    from vcr.filters import AVAILABLE_DECOMPRESSORS, replace_text
    from vcr.persisters.filesystem import CassetteDecodeError, FilesystemPersister

    assert replace_text({"a": ["x-KEY-x"]}, "KEY", "R") == {"a": ["x-R-x"]}
    assert {"gzip", "deflate"} <= set(AVAILABLE_DECOMPRESSORS)
    recorder = vcr.VCR()
    assert recorder.persister is FilesystemPersister and callable(recorder.register_persister)
    assert issubclass(CassetteDecodeError, ValueError)
    for name in ("path", "write_protected", "all_played"):
        assert isinstance(getattr(Cassette, name), property), f"vcrpy's Cassette.{name} is no longer a property"
    with pytest.raises(CannotOverwriteExistingCassetteException) as caught:
        with cassette(tmp_path / "none.yaml") as tape:
            assert tape.path == str(tmp_path / "none.yaml") and tape.play_counts == {} and tape.data == []
            httpx2.get("http://127.0.0.1:9/")
    assert caught.value.reason == "cassette_not_found" and caught.value.cassette is tape
    assert os.fspath(caught.value.cassette.path).endswith("none.yaml")
