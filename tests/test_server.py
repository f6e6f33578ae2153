"""ScriptedServer speaks the OpenAI/AIMLAPI wire format: checked through the real openai SDK and raw HTTP."""

from __future__ import annotations

import asyncio
import http.client
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from aiml_agent.testing import RecordedRequest, Reply, ScriptedServer, ToolCallReply

USER = [{"role": "user", "content": "What is the weather in Paris?"}]


def client(server: ScriptedServer, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0, **kwargs)


def raw_post(
    server: ScriptedServer, body: dict[str, Any], path: str = "/v1/chat/completions", method: str = "POST"
) -> tuple[http.client.HTTPResponse, bytes]:
    port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(method, path, json.dumps(body), {"content-type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


def sse_events(data: bytes) -> list[str]:
    """The `data:` payloads of an SSE body, in order (including "[DONE]")."""
    return [block[len("data: ") :] for block in data.decode().split("\n\n") if block.startswith("data: ")]


def stream_body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-test", "messages": USER, "stream": True, **extra}


# -- plain JSON replies ------------------------------------------------------------------------------


def test_text_reply_has_openai_shape_and_default_usage() -> None:
    with ScriptedServer(["Sunny and mild today."]) as server:
        completion = client(server).chat.completions.create(model="gpt-test", messages=USER)
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-test"  # defaults to the request's model
    assert isinstance(completion.created, int)
    choice = completion.choices[0]
    assert (choice.index, choice.finish_reason) == (0, "stop")
    assert choice.message.role == "assistant"
    assert choice.message.content == "Sunny and mild today."
    assert choice.message.tool_calls is None
    # deterministic: prompt = words in the messages (6), completion = words in the text (4)
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens) == (
        6,
        4,
        10,
    )


def test_several_tool_calls_with_dict_and_raw_string_arguments() -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    reply = Reply(
        tool_calls=[
            ToolCallReply("get_weather", {"city": "Paris"}),
            ToolCallReply("get_time", '{"tz": ', id="call_custom"),
        ],
        usage=usage,
        model="aimlapi/other-model",
    )
    with ScriptedServer([reply]) as server:
        completion = client(server).chat.completions.create(model="gpt-test", messages=USER)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert completion.model == "aimlapi/other-model"
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 2
    assert (calls[0].id, calls[0].type, calls[0].function.name) == ("call_1", "function", "get_weather")
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert (calls[1].id, calls[1].function.name, calls[1].function.arguments) == ("call_custom", "get_time", '{"tz": ')
    assert completion.usage is not None and completion.usage.model_dump(exclude_none=True) == usage


def test_explicit_finish_reason_and_text_with_tool_call() -> None:
    reply = Reply(text="Let me check.", tool_calls=[ToolCallReply("noop")], finish_reason="length")
    with ScriptedServer([reply]) as server:
        completion = client(server).chat.completions.create(model="gpt-test", messages=USER)
    choice = completion.choices[0]
    assert choice.finish_reason == "length"
    assert choice.message.content == "Let me check."
    assert choice.message.tool_calls is not None and choice.message.tool_calls[0].function.arguments == "{}"


def test_cost_rides_as_top_level_meta_usage() -> None:
    cost = {"credits_used": 42, "usd_spent": 0.000021}
    with ScriptedServer([Reply(text="Done", cost=cost), "no cost"]) as server:
        completion = client(server).chat.completions.create(model="gpt-test", messages=USER)
        _, raw = raw_post(server, {"model": "gpt-test", "messages": USER})
    assert completion.model_extra is not None and completion.model_extra["meta"] == {"usage": cost}
    assert "meta" not in json.loads(raw)


# -- streaming ---------------------------------------------------------------------------------------


def test_streamed_text_is_split_into_deltas_as_openai_does() -> None:
    text = "The weather in Paris is sunny, 21 degrees."
    with ScriptedServer([text, text]) as server:
        chunks = list(client(server).chat.completions.create(model="gpt-test", messages=USER, stream=True))
        response, raw = raw_post(server, stream_body())
    first = chunks[0].choices[0].delta
    assert (first.role, first.content) == ("assistant", "")
    deltas = [c.choices[0].delta.content for c in chunks[1:] if c.choices and c.choices[0].delta.content]
    assert len(deltas) >= 5 and all(len(d) < len(text) for d in deltas)
    assert "".join(deltas) == text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    # raw wire: SSE, ends with [DONE], no usage key when include_usage is not asked for
    assert response.getheader("content-type", "").startswith("text/event-stream")
    events = sse_events(raw)
    assert events[-1] == "[DONE]"
    assert all("usage" not in json.loads(e) for e in events[:-1])


def test_streamed_tool_calls_reassemble_from_fragments_by_index() -> None:
    reply = Reply(
        tool_calls=[
            ToolCallReply("get_weather", {"city": "Paris", "unit": "celsius"}, id="call_a"),
            ToolCallReply("get_time", '{"tz": '),
        ]
    )
    with ScriptedServer([reply]) as server:
        chunks = list(client(server).chat.completions.create(model="gpt-test", messages=USER, stream=True))
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or []:
            if delta.index not in calls:  # first fragment: id, type and name, empty arguments
                assert delta.id and delta.type == "function" and delta.function and delta.function.name
                assert delta.function.arguments == ""
                calls[delta.index] = {
                    "id": delta.id,
                    "name": delta.function.name,
                    "args": [],
                }
            else:  # later fragments: arguments only
                assert delta.id is None and delta.type is None
                assert delta.function is not None and delta.function.name is None
                calls[delta.index]["args"].append(delta.function.arguments)
    assert sorted(calls) == [0, 1]
    assert (calls[0]["id"], calls[0]["name"]) == ("call_a", "get_weather")
    assert (calls[1]["id"], calls[1]["name"]) == ("call_1", "get_time")
    assert len(calls[0]["args"]) >= 2 and len(calls[1]["args"]) >= 2
    assert json.loads("".join(calls[0]["args"])) == {"city": "Paris", "unit": "celsius"}
    assert "".join(calls[1]["args"]) == '{"tz": '
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_include_usage_adds_null_usage_everywhere_and_a_final_usage_chunk() -> None:
    usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    with ScriptedServer([Reply(text="one two three", usage=usage)]) as server:
        _, raw = raw_post(server, stream_body(stream_options={"include_usage": True}))
    events = sse_events(raw)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == usage


def test_include_usage_through_the_sdk_gives_default_usage() -> None:
    with ScriptedServer(["a b c"]) as server:
        chunks = list(
            client(server).chat.completions.create(
                model="gpt-test", messages=USER, stream=True, stream_options={"include_usage": True}
            )
        )
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    assert all(c.usage is None for c in chunks[:-1])


@pytest.mark.parametrize("include_usage", [False, True])
def test_cost_rides_on_the_last_chunk_before_done(include_usage: bool) -> None:
    cost = {"credits_used": 5, "usd_spent": 0.0000025}
    with ScriptedServer([Reply(text="hi there", cost=cost)]) as server:
        _, raw = raw_post(server, stream_body(stream_options={"include_usage": include_usage}))
    chunks = [json.loads(e) for e in sse_events(raw)[:-1]]
    assert chunks[-1]["meta"] == {"usage": cost}
    assert all("meta" not in c for c in chunks[:-1])
    assert (chunks[-1]["choices"] == []) is include_usage


def test_chunk_delay_spaces_out_events() -> None:
    with ScriptedServer([Reply(text="a b c d", chunk_delay=0.05)]) as server:
        arrivals = []
        for _ in client(server).chat.completions.create(model="gpt-test", messages=USER, stream=True):
            arrivals.append(time.perf_counter())
    assert len(arrivals) == 6  # role, 4 words, finish
    assert arrivals[-1] - arrivals[0] >= 0.2  # 5 gaps of 0.05 s, loosely


def test_cut_after_breaks_the_stream() -> None:
    with ScriptedServer([Reply(text="a long streamed answer", cut_after=2)]) as server:
        received = []
        with pytest.raises(openai.APIConnectionError):
            for chunk in client(server).chat.completions.create(model="gpt-test", messages=USER, stream=True):
                received.append(chunk)
        server.add(Reply(text="a long streamed answer", cut_after=3))
        port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("POST", "/v1/chat/completions", json.dumps(stream_body()))
        response = conn.getresponse()
        with pytest.raises(http.client.IncompleteRead) as excinfo:
            response.read()
    assert len(received) == 2
    events = sse_events(excinfo.value.partial)
    assert len(events) == 3 and "[DONE]" not in events


# -- errors, delays, the script ----------------------------------------------------------------------


def test_error_reply_has_aimlapi_flat_body() -> None:
    with ScriptedServer(
        [
            Reply.error(429, "Too many requests", headers={"retry-after": "0"}),
            Reply.error(401, "Invalid key", request_id="req-123"),
        ]
    ) as server:
        with pytest.raises(openai.RateLimitError) as rate_limited:
            client(server).chat.completions.create(model="gpt-test", messages=USER)
        with pytest.raises(openai.AuthenticationError) as unauthorized:
            client(server).chat.completions.create(model="gpt-test", messages=USER, stream=True)
    error = rate_limited.value
    assert error.status_code == 429
    assert error.response.headers["retry-after"] == "0"
    body = error.body
    assert isinstance(body, dict)
    assert set(body) == {"message", "path", "requestId", "statusCode", "timestamp"}
    assert (body["message"], body["path"], body["statusCode"]) == ("Too many requests", "/v1/chat/completions", 429)
    uuid.UUID(body["requestId"])
    assert body["timestamp"].endswith("Z")
    assert unauthorized.value.status_code == 401
    assert isinstance(unauthorized.value.body, dict) and unauthorized.value.body["requestId"] == "req-123"


def test_raw_error_body_is_sent_as_is() -> None:
    openai_error = {
        "error": {
            "message": "Invalid schema for function",
            "type": "invalid_request_error",
            "param": "tools[0]",
            "code": "invalid_function_parameters",
        }
    }
    with ScriptedServer(
        [Reply(status=400, body=openai_error), Reply(status=502, body="<html>Bad gateway</html>"), Reply(status=503)]
    ) as server:
        with pytest.raises(openai.BadRequestError) as excinfo:
            client(server).chat.completions.create(model="gpt-test", messages=USER)
        gateway, gateway_raw = raw_post(server, {"model": "m", "messages": USER})
        with pytest.raises(openai.InternalServerError) as unavailable:
            client(server).chat.completions.create(model="gpt-test", messages=USER)
    assert excinfo.value.status_code == 400
    assert "Invalid schema for function" in str(excinfo.value)
    assert excinfo.value.code == "invalid_function_parameters"
    assert gateway.status == 502 and gateway_raw == b"<html>Bad gateway</html>"
    assert gateway.getheader("content-type", "").startswith("text/plain")
    # a bare status still gets AIMLAPI's flat body, with the HTTP reason as message
    assert isinstance(unavailable.value.body, dict)
    assert (unavailable.value.body["statusCode"], unavailable.value.body["message"]) == (503, "Service Unavailable")


def test_delay_holds_the_answer_back() -> None:
    with ScriptedServer([Reply(text="slow", delay=0.2)]) as server:
        started = time.perf_counter()
        completion = client(server).chat.completions.create(model="gpt-test", messages=USER)
    assert time.perf_counter() - started >= 0.2
    assert completion.choices[0].message.content == "slow"


def test_exhausted_script_answers_500_saying_so() -> None:
    with ScriptedServer(["only one"]) as server:
        client(server).chat.completions.create(model="gpt-test", messages=USER)
        with pytest.raises(openai.InternalServerError) as excinfo:
            client(server).chat.completions.create(model="gpt-test", messages=USER)
        assert server.remaining == 0
        assert len(server.requests) == 2
    body = excinfo.value.body
    assert isinstance(body, dict) and body["statusCode"] == 500
    assert "script exhausted" in body["message"] and "1 requests served" in body["message"]


def test_add_extends_the_script() -> None:
    with ScriptedServer() as server:
        server.add("first", Reply(text="second"))
        assert server.remaining == 2
        answers = [
            client(server).chat.completions.create(model="m", messages=USER).choices[0].message.content
            for _ in range(2)
        ]
    assert answers == ["first", "second"]


def test_callable_script_sees_the_request_body() -> None:
    def echo(body: dict[str, Any]) -> Reply | str:
        last = body["messages"][-1]["content"]
        if last == "fail":
            raise ValueError("no answer for 'fail'")
        return Reply(text=f"echo: {last}") if body.get("temperature") else last.upper()

    with ScriptedServer(echo) as server:
        openai_client = client(server)
        plain = openai_client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        echoed = openai_client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], temperature=0.5
        )
        with pytest.raises(openai.InternalServerError, match="no answer for 'fail'"):
            openai_client.chat.completions.create(model="m", messages=[{"role": "user", "content": "fail"}])
        with pytest.raises(TypeError):
            server.add("not for a function script")
    assert plain.choices[0].message.content == "HI"
    assert echoed.choices[0].message.content == "echo: hi"


# -- recording, HTTP, concurrency --------------------------------------------------------------------


def test_requests_are_recorded_with_lowercase_headers_and_json_body() -> None:
    with ScriptedServer(["ok"]) as server:
        client(server, default_headers={"X-Trace-Id": "abc"}).chat.completions.create(
            model="gpt-test", messages=USER, tools=[{"type": "function", "function": {"name": "f"}}]
        )
        response, raw = raw_post(server, {}, path="/v1/models", method="GET")
        recorded = server.requests
    assert response.status == 404 and json.loads(raw)["statusCode"] == 404
    assert len(recorded) == 2
    first = recorded[0]
    assert isinstance(first, RecordedRequest)
    assert (first.method, first.path) == ("POST", "/v1/chat/completions")
    assert first.headers["authorization"] == "Bearer test-key"
    assert first.headers["x-trace-id"] == "abc"
    assert all(key == key.lower() for key in first.headers)
    assert first.body["model"] == "gpt-test" and first.body["messages"] == USER
    assert first.body["tools"][0]["function"]["name"] == "f"
    assert (recorded[1].method, recorded[1].path) == ("GET", "/v1/models")


def test_keep_alive_connection_serves_several_requests() -> None:
    with ScriptedServer(["one", Reply.error(503, "busy"), "three"]) as server:
        port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        statuses = []
        for stream in (False, True, True):
            conn.request("POST", "/v1/chat/completions", json.dumps(stream_body(stream=stream)))
            response = conn.getresponse()
            data = response.read()
            statuses.append(response.status)
            if response.getheader("content-length"):
                assert int(response.getheader("content-length", "")) == len(data)
        assert statuses == [200, 503, 200]
        assert sse_events(data)[-1] == "[DONE]"
        conn.close()


def test_concurrent_requests_are_all_answered_and_recorded() -> None:
    count = 20
    with ScriptedServer([f"answer {i}" for i in range(count)]) as server:
        openai_client = client(server)

        def ask(i: int) -> str | None:
            messages = [{"role": "user", "content": f"question {i}"}]
            return openai_client.chat.completions.create(model="m", messages=messages).choices[0].message.content

        with ThreadPoolExecutor(max_workers=count) as pool:
            answers = list(pool.map(ask, range(count)))
        recorded = server.requests
    assert sorted(answers, key=lambda a: int(str(a).split()[1])) == [f"answer {i}" for i in range(count)]
    assert sorted(r.body["messages"][0]["content"] for r in recorded) == sorted(f"question {i}" for i in range(count))


async def test_async_client_plain_and_streamed() -> None:
    with ScriptedServer(
        ["async hello", Reply(tool_calls=[ToolCallReply("lookup", {"q": "x"})]), *[f"parallel {i}" for i in range(5)]]
    ) as server:
        async_client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)
        completion = await async_client.chat.completions.create(model="m", messages=USER)
        stream = await async_client.chat.completions.create(model="m", messages=USER, stream=True)
        arguments = "".join(
            [
                tc.function.arguments or ""
                async for chunk in stream
                for tc in chunk.choices[0].delta.tool_calls or []
                if tc.function
            ]
        )
        results = await asyncio.gather(
            *[async_client.chat.completions.create(model="m", messages=USER) for _ in range(5)]
        )
        await async_client.close()
    assert completion.choices[0].message.content == "async hello"
    assert json.loads(arguments) == {"q": "x"}
    assert sorted(r.choices[0].message.content or "" for r in results) == [f"parallel {i}" for i in range(5)]


def test_lifecycle_start_stop_and_base_url() -> None:
    server = ScriptedServer(["x"])
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url
    server.start()
    try:
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
        assert client(server).chat.completions.create(model="m", messages=USER).choices[0].message.content == "x"
    finally:
        server.stop()
    with pytest.raises(RuntimeError):
        _ = server.base_url
    with pytest.raises(TypeError, match="list of replies"):
        ScriptedServer("just one string")  # type: ignore[arg-type]


# -- AIMLAPI's own wire: models, problem+json, cost headers, ids, odd streams ------------------------------


def raw_get(server: ScriptedServer, path: str, headers: dict[str, str] | None = None) -> tuple[Any, bytes]:
    port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


def test_models_endpoint_answers_with_a_weak_etag_and_304() -> None:
    catalogue = {"object": "list", "data": [{"id": "acme/chat", "type": "openai/chat-completions"}]}
    with ScriptedServer(models=catalogue) as server:
        response, data = raw_get(server, "/v1/models?include=capabilities")
        etag = response.getheader("etag")
        again, empty = raw_get(server, "/models", {"If-None-Match": etag})
        other, _ = raw_get(server, "/v1/models", {"If-None-Match": 'W/"something-else"'})
        recorded = [(r.method, r.path) for r in server.requests]
    assert response.status == 200 and json.loads(data) == catalogue and etag.startswith('W/"')
    assert (again.status, empty, again.getheader("etag")) == (304, b"", etag)
    assert other.status == 200
    assert recorded == [("GET", "/v1/models?include=capabilities"), ("GET", "/models"), ("GET", "/v1/models")]
    with ScriptedServer() as server:
        assert raw_get(server, "/v1/models")[0].status == 404  # no models= given


def test_problem_json_error() -> None:
    with ScriptedServer([Reply.problem(401, "You provided an empty string", request_id="req-1")]) as server:
        response, data = raw_post(server, {"model": "m", "messages": USER})
    body = json.loads(data)
    assert response.status == 401 and response.getheader("content-type").startswith("application/problem+json")
    assert body["title"] == "Unauthorized" and body["status"] == 401 and body["requestId"] == "req-1"
    assert body["error"] == {"name": "UnauthorizedException", "message": "You provided an empty string"}
    assert response.getheader("x-request-id") == "req-1" and body["instance"] == "/v1/chat/completions"


@pytest.mark.parametrize("cost_in", ["body", "headers", "both"])
def test_cost_in_body_headers_or_both(cost_in: str) -> None:
    with ScriptedServer([Reply(text="ok", cost={"credits_used": 42, "usd_spent": 0.00124}, cost_in=cost_in)]) as server:
        response, data = raw_post(server, {"model": "m", "messages": USER})
    in_body = "meta" in json.loads(data)
    in_headers = response.getheader("x-aimlapi-credits-used") == "42"
    assert (in_body, in_headers) == (cost_in != "headers", cost_in != "body")
    if in_headers:
        assert response.getheader("x-aimlapi-usd-spent") == "0.001240000"


def test_every_chat_answer_has_an_inference_id_and_echoes_the_client_request_id() -> None:
    with ScriptedServer(["one", Reply(text="two", inference_id="inf-fixed"), Reply.error(500, "x")]) as server:
        port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
        answers = []
        for client_id in ("abc-1", None, "abc-3"):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            headers = {"content-type": "application/json", **({"X-Client-Request-Id": client_id} if client_id else {})}
            conn.request("POST", "/v1/chat/completions", json.dumps({"model": "m", "messages": USER}), headers)
            response = conn.getresponse()
            response.read()
            answers.append((response.getheader("x-inference-id"), response.getheader("x-client-request-id")))
            conn.close()
    assert answers[0][0].startswith("inf-") and answers[0][1] == "abc-1"
    assert answers[1] == ("inf-fixed", None)
    assert answers[2][1] == "abc-3"  # errors too


@pytest.mark.parametrize(
    ("numbering", "head_indexes", "all_indexes"),
    [("sequential", [0, 1], {0, 1}), ("repeated", [0, 0], {0}), ("missing", [None, None], {None}),
     ("whole", [None, None], {None})],
)  # fmt: skip
def test_tool_call_index_modes(numbering: str, head_indexes: list[Any], all_indexes: set[Any]) -> None:
    calls = [ToolCallReply("a", {"x": 1}, id="c1"), ToolCallReply("b", {"y": 2}, id="c2")]
    with ScriptedServer([Reply(tool_calls=calls, tool_call_index=numbering)]) as server:
        _, data = raw_post(server, stream_body())
    deltas = [
        tc
        for event in sse_events(data)[:-1]
        for choice in json.loads(event)["choices"]
        for tc in choice["delta"].get("tool_calls") or []
    ]
    heads = [tc for tc in deltas if "id" in tc]
    assert [tc["id"] for tc in heads] == ["c1", "c2"] and [tc.get("index") for tc in heads] == head_indexes
    assert {tc.get("index") for tc in deltas} == all_indexes
    if numbering == "whole":
        assert deltas == heads and [tc["function"]["arguments"] for tc in heads] == ['{"x":1}', '{"y":2}']
    else:
        assert len(deltas) > len(heads)  # the arguments come in fragments after each call's head


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning", "reasoning_details"])
def test_reasoning_fields_whole_and_streamed(field: str) -> None:
    reply = Reply(text="Hi.", reasoning="Think first.", reasoning_field=field)
    with ScriptedServer([reply, reply]) as server:
        _, whole = raw_post(server, {"model": "m", "messages": USER})
        _, streamed = raw_post(server, stream_body())
    message = json.loads(whole)["choices"][0]["message"]
    deltas = [json.loads(e)["choices"][0]["delta"] for e in sse_events(streamed)[:-1] if json.loads(e)["choices"]]
    pieces = [d[field] for d in deltas if field in d]
    if field == "reasoning_details":
        assert message[field][0]["text"] == "Think first." and message[field][0]["type"] == "reasoning.text"
        assert "".join(p[0]["text"] for p in pieces) == "Think first."
    else:
        assert message[field] == "Think first." and "".join(pieces) == "Think first."


def test_raw_events_and_content_type_are_sent_as_given() -> None:
    with ScriptedServer([Reply(events=["{broken", "[DONE]"]), Reply(body=b"{", content_type="application/json")]) as s:
        _, streamed = raw_post(s, stream_body())
        response, data = raw_post(s, {"model": "m", "messages": USER})
    assert sse_events(streamed) == ["{broken", "[DONE]"]
    assert (response.getheader("content-type"), data) == ("application/json", b"{")
