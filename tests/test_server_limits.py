"""ScriptedServer's AIMLAPI limits: 429 above ``max_concurrent`` requests in flight, 403 after ``credits``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiml_agent.testing import Reply, ScriptedServer

BODY = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()


def post(url: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    request = urllib.request.Request(url + "/chat/completions", BODY, {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def test_requests_above_max_concurrent_get_aimlapis_429() -> None:
    with ScriptedServer(lambda body: Reply(text="ok", delay=0.5), max_concurrent=3) as server:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: post(server.base_url), range(8)))
        assert server.refused == 5 and len(server.requests) == 8
        later = post(server.base_url)  # the limit counts requests in flight, not requests ever made
    assert sorted(status for status, _, _ in answers) == [200] * 3 + [429] * 5
    _, body, headers = next(answer for answer in answers if answer[0] == 429)
    assert set(body) == {"message", "path", "requestId", "statusCode", "timestamp"}
    assert body["message"] == "Too Many Requests" and body["statusCode"] == 429
    assert "retry-after" not in {name.lower() for name in headers}  # AIMLAPI sends none
    assert later[0] == 200


def test_after_the_credits_every_request_gets_403() -> None:
    with ScriptedServer(["one", "two", "three"], credits=2) as server:
        answers = [post(server.base_url) for _ in range(4)]
        assert server.remaining == 1 and server.refused == 2  # a refused request takes no reply
    assert [status for status, _, _ in answers] == [200, 200, 403, 403]
    assert [body["choices"][0]["message"]["content"] for _, body, _ in answers[:2]] == ["one", "two"]
    assert answers[2][1]["message"].startswith("You've run out of credits") and answers[2][1]["statusCode"] == 403
