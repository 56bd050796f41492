"""The wire server must fool the real SDKs, or every test built on it lies.

These tests drive ``tests.servers.wire.WireServer`` with the installed
``openai`` and ``anthropic`` clients (no mocks), including streaming and each
fault kind, so a wire-format drift in either SDK shows up here first.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from tests.servers.wire import Fault, WireServer

REPLY = "The quick brown fox jumps over the lazy dog."
MESSAGES = [{"role": "user", "content": "say something nice"}]

try:  # The SDKs have moved to httpx2; a cut may surface as either library's error.
    import httpx2

    _TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (httpx.HTTPError, httpx2.HTTPError)
except ImportError:  # pragma: no cover - depends on the installed SDK generation
    _TRANSPORT_ERRORS = (httpx.HTTPError,)

CUT_ERRORS = (openai.APIError, anthropic.APIError, *_TRANSPORT_ERRORS)


@pytest.fixture
def srv() -> Iterator[WireServer]:
    with WireServer(REPLY) as server:
        yield server


def oai(srv: WireServer, **kwargs: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url + "/v1", api_key="test", max_retries=0, **kwargs)


def ant(srv: WireServer, **kwargs: object) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=srv.base_url, api_key="test", max_retries=0, **kwargs)


# -- happy paths ---------------------------------------------------------------


def test_openai_non_stream(srv: WireServer) -> None:
    resp = oai(srv).chat.completions.create(model="gpt-test", messages=MESSAGES)

    assert resp.model == "gpt-test"
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.content == REPLY
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == 3
    assert resp.usage.completion_tokens == len(REPLY.split())
    assert resp.usage.total_tokens == 3 + len(REPLY.split())
    assert resp.usage.prompt_tokens_details.cached_tokens == 0
    assert srv.requests[0].path == "/v1/chat/completions"
    assert srv.requests[0].body["model"] == "gpt-test"
    assert srv.requests[0].headers["authorization"] == "Bearer test"


def test_openai_stream_with_usage(srv: WireServer) -> None:
    stream = oai(srv).chat.completions.create(
        model="gpt-test",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage, finish = [], None, None
    for chunk in stream:
        if chunk.choices:
            text.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage

    assert "".join(text) == REPLY
    assert finish == "stop"
    assert usage is not None
    assert usage.completion_tokens == len(REPLY.split())
    assert usage.prompt_tokens == 3


def test_openai_max_tokens_truncates(srv: WireServer) -> None:
    resp = oai(srv).chat.completions.create(
        model="gpt-test", messages=MESSAGES, max_completion_tokens=3
    )
    assert resp.choices[0].message.content == "The quick brown"
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage is not None and resp.usage.completion_tokens == 3


def test_openai_models_list(srv: WireServer) -> None:
    assert [m.id for m in oai(srv).models.list().data] == ["wire-model"]


def test_anthropic_non_stream(srv: WireServer) -> None:
    msg = ant(srv).messages.create(model="claude-test", max_tokens=100, messages=MESSAGES)

    assert msg.model == "claude-test"
    assert msg.content[0].type == "text"
    assert msg.content[0].text == REPLY
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens == 3
    assert msg.usage.output_tokens == len(REPLY.split())
    assert srv.requests[0].path == "/v1/messages"
    # Older SDKs send x-api-key; newer ones a bearer token. Either proves the key arrived.
    headers = srv.requests[0].headers
    assert headers.get("x-api-key") == "test" or headers.get("authorization") == "Bearer test"
    assert "anthropic-version" in headers


def test_anthropic_stream(srv: WireServer) -> None:
    client = ant(srv)
    with client.messages.stream(model="claude-test", max_tokens=100, messages=MESSAGES) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()

    assert text == REPLY
    assert final.content[0].text == REPLY
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == 3
    assert final.usage.output_tokens == len(REPLY.split())


def test_anthropic_stream_max_tokens(srv: WireServer) -> None:
    with ant(srv).messages.stream(model="c", max_tokens=2, messages=MESSAGES) as s:
        final = s.get_final_message()
    assert final.content[0].text == "The quick"
    assert final.stop_reason == "max_tokens"


def test_callable_reply_echoes_last_user_message() -> None:
    def echo(body: dict) -> str:
        return "echo: " + body["messages"][-1]["content"]

    with WireServer(echo) as server:
        resp = oai(server).chat.completions.create(model="m", messages=MESSAGES)
        msg = ant(server).messages.create(model="m", max_tokens=50, messages=MESSAGES)
    assert resp.choices[0].message.content == "echo: say something nice"
    assert msg.content[0].text == "echo: say something nice"


def test_unknown_route_is_404(srv: WireServer) -> None:
    resp = httpx.get(srv.base_url + "/nope")
    assert resp.status_code == 404
    assert "error" in resp.json()


# -- faults --------------------------------------------------------------------


def test_429_with_retry_after(srv: WireServer) -> None:
    srv.enqueue(Fault("429", retry_after=2))
    with pytest.raises(openai.RateLimitError) as info:
        oai(srv).chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.code == "rate_limit_exceeded"

    srv.enqueue("429")
    with pytest.raises(anthropic.RateLimitError) as ainfo:
        ant(srv).messages.create(model="m", max_tokens=10, messages=MESSAGES)
    assert ainfo.value.response.headers["retry-after"] == "1"
    assert ainfo.value.body["error"]["type"] == "rate_limit_error"


def test_500_and_503(srv: WireServer) -> None:
    srv.enqueue("500", "503", "500", "503")
    with pytest.raises(openai.InternalServerError) as e500:
        oai(srv).chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(openai.InternalServerError) as e503:
        oai(srv).chat.completions.create(model="m", messages=MESSAGES)
    assert (e500.value.status_code, e503.value.status_code) == (500, 503)

    with pytest.raises(anthropic.InternalServerError) as a500:
        ant(srv).messages.create(model="m", max_tokens=10, messages=MESSAGES)
    with pytest.raises(anthropic.APIStatusError) as a503:
        ant(srv).messages.create(model="m", max_tokens=10, messages=MESSAGES)
    assert a500.value.body["error"]["type"] == "api_error"
    assert a503.value.status_code == 503
    assert a503.value.body["error"]["type"] == "overloaded_error"


def test_401_and_400(srv: WireServer) -> None:
    srv.enqueue("401", "400", "401")
    with pytest.raises(openai.AuthenticationError):
        oai(srv).chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(openai.BadRequestError):
        oai(srv).chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(anthropic.AuthenticationError):
        ant(srv).messages.create(model="m", max_tokens=10, messages=MESSAGES)


def test_context_length(srv: WireServer) -> None:
    srv.enqueue("context", "context")
    with pytest.raises(openai.BadRequestError) as info:
        oai(srv).chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.code == "context_length_exceeded"
    assert "maximum context length is 8192 tokens" in info.value.message

    with pytest.raises(anthropic.BadRequestError) as ainfo:
        ant(srv).messages.create(model="m", max_tokens=10, messages=MESSAGES)
    assert ainfo.value.body["error"]["type"] == "invalid_request_error"
    assert ainfo.value.body["error"]["message"] == "prompt is too long: 9000 tokens > 8192 maximum"


def test_fault_on_stream_request_fails_before_iteration(srv: WireServer) -> None:
    srv.enqueue("503")
    with pytest.raises(openai.InternalServerError):
        oai(srv).chat.completions.create(model="m", messages=MESSAGES, stream=True)


def test_hang_times_out_fast_and_stop_is_prompt() -> None:
    server = WireServer(REPLY).start()
    try:
        server.enqueue("hang", "hang")
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            oai(server, timeout=0.5).chat.completions.create(model="m", messages=MESSAGES)
        with pytest.raises(anthropic.APITimeoutError):
            ant(server, timeout=0.5).messages.create(model="m", max_tokens=10, messages=MESSAGES)
        assert time.monotonic() - started < 3
    finally:
        stopping = time.monotonic()
        server.stop()  # Two handlers are still "hanging" for 30 s; stop must wake them.
        assert time.monotonic() - stopping < 2


def test_hang_with_short_delay_then_answers(srv: WireServer) -> None:
    srv.enqueue(Fault("hang", delay=0.1))
    resp = oai(srv, timeout=5).chat.completions.create(model="m", messages=MESSAGES)
    assert resp.choices[0].message.content == REPLY


def test_slow_stream_still_complete(srv: WireServer) -> None:
    srv.enqueue(Fault("slow", delay=0.02))
    started = time.monotonic()
    stream = oai(srv).chat.completions.create(model="m", messages=MESSAGES, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == REPLY
    # One pause before the first byte plus one between each of the 9 words.
    assert time.monotonic() - started >= 0.02 * 9


def test_cut_openai_stream_raises_mid_iteration(srv: WireServer) -> None:
    srv.enqueue(Fault("cut", cut_after=3))
    stream = oai(srv).chat.completions.create(model="m", messages=MESSAGES, stream=True)
    received: list[str] = []
    with pytest.raises(CUT_ERRORS):
        for chunk in stream:
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "The quick brown "


def test_cut_anthropic_stream_raises_mid_iteration(srv: WireServer) -> None:
    srv.enqueue("cut")
    received: list[str] = []
    with (
        pytest.raises(CUT_ERRORS),
        ant(srv).messages.stream(model="m", max_tokens=100, messages=MESSAGES) as s,
    ):
        for text in s.text_stream:
            received.append(text)
    assert "".join(received) == "The quick "


def test_cut_short_reply_still_cut() -> None:
    # Fewer words than cut_after: the terminating events must still be withheld.
    with WireServer("hi") as server:
        server.enqueue(Fault("cut", cut_after=5))
        stream = oai(server).chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(CUT_ERRORS):
            list(stream)


def test_cut_non_stream_is_connection_error(srv: WireServer) -> None:
    srv.enqueue("cut", "cut")
    with pytest.raises(openai.APIConnectionError):
        oai(srv).chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(anthropic.APIConnectionError):
        ant(srv).messages.create(model="m", max_tokens=10, messages=MESSAGES)


# -- queue, counts, default, fault_rate ---------------------------------------------


def test_enqueue_order_counts_and_default(srv: WireServer) -> None:
    client = oai(srv)
    srv.enqueue("429", "500", "ok")
    outcomes = []
    for _ in range(4):
        try:
            client.chat.completions.create(model="m", messages=MESSAGES)
            outcomes.append("ok")
        except openai.APIStatusError as err:
            outcomes.append(str(err.status_code))
    assert outcomes == ["429", "500", "ok", "ok"]
    assert [r.directive for r in srv.requests] == outcomes
    assert srv.counts == {"429": 1, "500": 1, "ok": 2}
    assert srv.requests[0].time <= srv.requests[-1].time

    srv.default = "500"
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=MESSAGES)

    srv.reset()
    assert srv.requests == [] and not srv.counts and srv.default == "ok"
    client.chat.completions.create(model="m", messages=MESSAGES)
    assert srv.counts == {"ok": 1}


def test_sdk_retries_are_seen_as_separate_requests(srv: WireServer) -> None:
    srv.enqueue(Fault("429", retry_after=0.05), "503")
    client = openai.OpenAI(base_url=srv.base_url + "/v1", api_key="test", max_retries=2)
    resp = client.chat.completions.create(model="m", messages=MESSAGES)
    assert resp.choices[0].message.content == REPLY
    assert [r.directive for r in srv.requests] == ["429", "503", "ok"]


def _fault_sequence(seed: int, n: int = 30) -> list[str]:
    with WireServer(REPLY, seed=seed) as server:
        server.fault_rate = 0.5
        client = oai(server)
        for _ in range(n):
            with contextlib.suppress(openai.APIStatusError):
                client.chat.completions.create(model="m", messages=MESSAGES)
        return [r.directive for r in server.requests]


def test_fault_rate_is_seeded_and_reproducible() -> None:
    first = _fault_sequence(seed=7)
    assert first == _fault_sequence(seed=7)
    assert "ok" in first
    assert set(first) - {"ok"} <= {"429", "500", "503"}
    assert set(first) - {"ok"}, "fault_rate 0.5 over 30 requests should inject something"
    assert first != _fault_sequence(seed=8)


def test_unknown_directive_rejected() -> None:
    with pytest.raises(ValueError):
        Fault("teapot")
