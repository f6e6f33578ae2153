"""`cassette()` outside pytest, the readable serializer (exact round trip, secrets, gzip) and the JSON matcher."""

from __future__ import annotations

import gzip
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
import yaml
from conftest import REAL_CASSETTES
from vcr.request import Request
from vcr.serialize import deserialize, serialize
from vcr.serializers import yamlserializer

from aiml_agent.testing import Reply, ScriptedServer, cassette
from aiml_agent.testing.cassettes import (
    PLACEHOLDER_KEY,
    REDACTED,
    ReadableYAMLSerializer,
    UnplayedInteractionsError,
    json_body,
)

FAKE_KEY = "sk-fake-SECRET-0123456789"


def ask(base_url: str, prompt: str) -> str:
    client = openai.OpenAI(base_url=base_url, api_key=os.environ["AIMLAPI_API_KEY"], max_retries=0)
    reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": prompt}])
    return reply.choices[0].message.content or ""


def test_records_then_replays_without_server_or_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cassettes" / "ask"
    monkeypatch.setenv("AIMLAPI_API_KEY", FAKE_KEY)
    with ScriptedServer(["Hello!"]) as server, cassette(path, mode="once"):
        base_url = server.base_url
        assert ask(base_url, f"my key is {FAKE_KEY}") == "Hello!"

    text = path.with_suffix(".yaml").read_text()
    assert FAKE_KEY not in text and REDACTED in text  # the header is dropped, the body mention scrubbed
    monkeypatch.delenv("AIMLAPI_API_KEY")

    with cassette(path) as tape:
        assert os.environ["AIMLAPI_API_KEY"] == PLACEHOLDER_KEY
        assert ask(base_url, f"my key is {REDACTED}") == "Hello!"
    assert tape.all_played
    assert "AIMLAPI_API_KEY" not in os.environ


def test_every_credential_header_is_dropped_and_its_value_scrubbed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys sent in any credential header (not only ``Authorization``) never reach the file, even when no
    ``*_API_KEY`` variable holds them: the value seen in the header is also scrubbed from the bodies."""
    for name in [k for k in os.environ if k.upper().endswith("API_KEY")]:
        monkeypatch.delenv(name)
    keys = {
        "api-key": "azure-KEY-111111",
        "x-api-key": "anthropic-KEY-222222",
        "x-goog-api-key": "google-KEY-333333",
        "cookie": "session=COOKIE-444444",
    }
    response_headers = {
        "set-cookie": "sid=SETCOOKIE-555555",
        "openai-organization": "org-666666",
        "openai-project": "proj-777777",
        "x-request-id": "req-888888",
        "request-id": "req-999999",
    }
    mentioned = " ".join(value for name, value in keys.items() if name != "cookie")
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": f"keys: {mentioned}"}]})
    with ScriptedServer([Reply(text="ok", headers=response_headers)]) as server, cassette(tmp_path / "h", mode="once"):
        httpx2.post(f"{server.base_url}/chat/completions", content=body.encode(), headers=keys)

    text = (tmp_path / "h.yaml").read_text()
    stored = yaml.safe_load(text)["interactions"][0]
    assert not {*keys, "authorization"} & {name.lower() for name in stored["request"]["headers"]}
    assert not {*response_headers} & {name.lower() for name in stored["response"]["headers"]}
    for value in [*keys.values(), *response_headers.values()]:
        assert value.split("=")[-1] not in text, f"{value} written to the cassette"
    assert stored["request"]["body"]["json"]["messages"][0]["content"].count(REDACTED) == 3


def test_replay_fails_on_unplayed_interactions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMLAPI_API_KEY", FAKE_KEY)
    with ScriptedServer(["one", "two"]) as server, cassette(tmp_path / "two.yaml", mode="once"):
        base_url = server.base_url
        ask(base_url, "1")
        ask(base_url, "2")

    with pytest.raises(UnplayedInteractionsError, match=r"1 of 2 recorded interactions.*\n  #2 POST"):
        with cassette(tmp_path / "two.yaml"):
            ask(base_url, "1")
    with cassette(tmp_path / "two.yaml", allow_unplayed=True):
        ask(base_url, "1")


def test_rewrite_records_again_and_bad_mode_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMLAPI_API_KEY", FAKE_KEY)
    with ScriptedServer(["first", "second"]) as server:
        with cassette(tmp_path / "c", mode="once"):
            assert ask(server.base_url, "q") == "first"
        with cassette(tmp_path / "c", mode="rewrite"):
            assert ask(server.base_url, "q") == "second"
    assert "second" in (tmp_path / "c.yaml").read_text() and "first" not in (tmp_path / "c.yaml").read_text()
    with pytest.raises(ValueError, match="Unknown cassette mode 'replay'"), cassette(tmp_path / "c", mode="replay"):
        pass


def test_json_key_order_is_ignored_and_a_change_is_shown(tmp_path: Path) -> None:
    with ScriptedServer(["ok"]) as server, cassette(tmp_path / "order", mode="once"):
        base_url = server.base_url
        httpx2.post(f"{base_url}/chat/completions", content=b'{"model":"m","messages":[],"n":1}')

    with cassette(tmp_path / "order"):
        response = httpx2.post(f"{base_url}/chat/completions", content=b'{"n":1,"messages":[],"model":"m"}')
    assert response.json()["choices"][0]["message"]["content"] == "ok"

    recorded = Request("POST", "http://x/v1/chat/completions", b'{"model":"m","temperature":0}', {})
    changed = Request("POST", "http://x/v1/chat/completions", b'{"temperature":0.5,"model":"m"}', {})
    with pytest.raises(AssertionError) as failure:
        json_body(changed, recorded)
    assert '-  "temperature": 0\n+  "temperature": 0.5' in str(failure.value)
    json_body(Request("GET", "http://x/", None, {}), Request("GET", "http://x/", b"", {}))


class _GzipHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        data = gzip.compress(json.dumps({"answer": "zipped", "n": [1, 2]}).encode())
        self.send_response(200)
        for name, value in (
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
            ("content-length", str(len(data))),
            ("x-request-id", "req-9"),
        ):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def gzip_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _GzipHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/data"
    server.shutdown()
    server.server_close()


def test_gzip_body_is_stored_decoded(tmp_path: Path, gzip_url: str) -> None:
    with cassette(tmp_path / "gz", mode="once"):
        assert httpx2.get(gzip_url).json() == {"answer": "zipped", "n": [1, 2]}

    stored = yaml.safe_load((tmp_path / "gz.yaml").read_text())["interactions"][0]["response"]
    assert stored["body"]["json"] == {"answer": "zipped", "n": [1, 2]}
    assert "content-encoding" not in stored["headers"] and "x-request-id" not in stored["headers"]
    with cassette(tmp_path / "gz"):
        assert httpx2.get(gzip_url).json() == {"answer": "zipped", "n": [1, 2]}


BODIES = [
    '{"a":1,"b":[true,null,"é"]}',
    '{"a": 1, "b": "\\u00e9"}',
    '{\n  "a": 1,\n  "b": {}\n}\n',
    '{"a":1, "b":2}',  # mixed spacing: not reproducible, must stay text
    'data: {"x":1}\n\ndata: [DONE]\n\n',
    "line with trailing space \nnext\r\n",
    "plain text",
    "",
    None,
]


@pytest.mark.parametrize("body", BODIES)
def test_loading_gives_back_the_exact_bytes(body: str | None) -> None:
    request = Request("POST", "http://x/v1/chat/completions", body, {"content-type": "application/json"})
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {},
        "body": {"string": body.encode() if body is not None else None},
    }
    expected = body.encode() if body is not None else None
    text = serialize({"requests": [request], "responses": [response]}, ReadableYAMLSerializer)
    (requests, responses) = deserialize(text, ReadableYAMLSerializer)
    assert requests[0].body == expected
    assert responses[0]["body"]["string"] == expected


@pytest.mark.parametrize("path", sorted(REAL_CASSETTES.glob("*.yaml")), ids=lambda p: p.stem)
def test_real_openai_cassettes_round_trip_readably(path: Path) -> None:
    data = yamlserializer.deserialize(path.read_text())
    if not isinstance(data, dict) or not all(
        "string" in i["response"].get("body", {}) for i in data.get("interactions", [])
    ):
        pytest.skip("not a plain vcrpy cassette")
    requests, responses = deserialize(path.read_text(), yamlserializer)[:2]
    expected = [r["body"]["string"] for r in responses]  # serialize() turns them into str in place
    text = serialize({"requests": requests, "responses": responses}, ReadableYAMLSerializer)
    again_requests, again_responses = deserialize(text, ReadableYAMLSerializer)[:2]

    assert [r.body for r in again_requests] == [r.body for r in requests]
    assert [r["body"]["string"] for r in again_responses] == expected
    stored = yaml.safe_load(text)["interactions"]
    assert all("json" in i["request"]["body"] for i in stored)  # every request body became a mapping


def test_rewrite_keeps_the_old_cassette_until_the_new_one_is_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a rewrite records, the old file still replays (e.g. a test run beside a re-recording); a failed
    rewrite leaves it as it was, and no side file stays behind."""
    monkeypatch.setenv("AIMLAPI_API_KEY", FAKE_KEY)
    path = tmp_path / "c.yaml"
    with ScriptedServer(["old", "new", "newer"]) as server:
        with cassette(path, mode="once"):
            ask(server.base_url, "q")
        with pytest.raises(RuntimeError, match="the run failed"), cassette(path, mode="rewrite"):
            assert ask(server.base_url, "q") == "new"
            raise RuntimeError("the run failed")
        assert "old" in path.read_text() and "new" not in path.read_text()
        with cassette(path, mode="rewrite"):
            assert ask(server.base_url, "q") == "newer"
            with cassette(path, allow_unplayed=True):  # meanwhile, a replay still finds the old recording
                assert ask(server.base_url, "q") == "old"
    assert "newer" in path.read_text() and "old" not in path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


def round_trip(body: str) -> tuple[str, Any, Any]:
    """Serialize one request and response carrying ``body``; the file text and both bodies loaded back."""
    request = Request("POST", "http://x/v1/chat/completions", body, {"content-type": "application/json"})
    response = {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": body.encode()}}
    text = serialize({"requests": [request], "responses": [response]}, ReadableYAMLSerializer)
    (requests, responses) = deserialize(text, ReadableYAMLSerializer)
    return text, requests[0].body, responses[0]["body"]["string"]


def test_json_yaml_cannot_write_is_stored_as_its_text() -> None:
    body = '{"k": "\\ud800"}'  # valid JSON, but the string it holds (a lone surrogate) is no UTF-8 text
    text, request_body, response_body = round_trip(body)
    assert request_body == response_body == body.encode()
    assert "json:" not in text


def test_a_body_the_yaml_form_would_change_falls_back_to_plainer_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiml_agent.testing import cassettes

    def lossy(dumper: Any, value: str) -> Any:  # a writer that loses a trailing "!" unless quoted
        return dumper.represent_scalar("tag:yaml.org,2002:str", value.rstrip("!"))

    monkeypatch.setitem(cassettes._Dumper.yaml_representers, str, lossy)
    text, request_body, response_body = round_trip('{"a":"x!"}')  # its JSON form loses the "!": kept as text
    assert request_body == response_body == b'{"a":"x!"}' and "json:" not in text
    text, request_body, response_body = round_trip("plain text!")  # its text loses it too: double-quoted
    assert request_body == response_body == b"plain text!" and text.count('"plain text!"') == 2
    assert "hello" in round_trip('{"a":"hello"}')[0]  # bodies the writer keeps stay readable

    monkeypatch.setitem(cassettes._Dumper.yaml_representers, cassettes._Quoted, lossy)
    with pytest.raises(ValueError, match="load back exactly"):
        round_trip("no way to keep this!")


def test_cassette_path_adds_yaml_only_without_a_suffix(tmp_path: Path) -> None:
    from aiml_agent.testing.cassettes import cassette_path

    assert cassette_path(tmp_path / "run") == tmp_path / "run.yaml"
    assert cassette_path("run.yml") == Path("run.yml") and cassette_path("a/run.json") == Path("a/run.json")
