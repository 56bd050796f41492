"""The OpenAI and Anthropic adapters, driven through the real SDKs against a
loopback server that speaks each wire format, faults included."""

from __future__ import annotations

import pytest

from core.providers import errors as E
from core.providers.anthropic_provider import AnthropicProvider
from core.providers.base import ChatRequest, Message
from core.providers.openai_provider import OpenAIProvider
from tests.servers.wire import Fault

REPLY = "The quick brown fox jumps over the lazy dog."


def _openai(srv, **kw):
    return OpenAIProvider(api_key="test-key", base_url=srv.base_url + "/v1", **kw)


def _anthropic(srv):
    return AnthropicProvider(api_key="test-key", base_url=srv.base_url)


ADAPTERS = {"openai": _openai, "anthropic": _anthropic}


def _req(**kw) -> ChatRequest:
    base = {
        "model": "wire-model",
        "messages": [Message("system", "Be brief."), Message("user", "say the sentence")],
    }
    base.update(kw)
    return ChatRequest(**base)


@pytest.fixture(params=sorted(ADAPTERS))
def adapter(request, wire):
    wire.reply = REPLY
    return request.param, ADAPTERS[request.param](wire), wire


def test_complete_returns_text_and_usage(adapter):
    name, provider, srv = adapter
    out = provider.complete(_req())
    assert out.text == REPLY
    assert out.usage.input_tokens == 5  # "Be brief." + "say the sentence", counted in words
    assert out.usage.output_tokens == len(REPLY.split())
    body = srv.requests[-1].body
    if name == "anthropic":
        # The system prompt travels as a parameter, not as a message.
        assert body["system"] == "Be brief."
        assert [m["role"] for m in body["messages"]] == ["user"]
    else:
        assert [m["role"] for m in body["messages"]] == ["system", "user"]


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_a_json_schema_is_sent_as_an_instruction_and_where_possible_a_response_format(
    adapter, stream
):
    name, provider, srv = adapter
    req = _req(json_schema=SCHEMA)
    if stream:
        list(provider.stream(req))
    else:
        provider.complete(req)
    body = srv.requests[-1].body
    system = body["system"] if name == "anthropic" else body["messages"][0]["content"]
    # The caller's own system prompt stays first; the instruction and schema follow it.
    assert system.startswith("Be brief.\n\n")
    assert "one JSON value only" in system and '"required": ["city"]' in system
    if name == "openai":
        assert body["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": SCHEMA},
        }
    else:
        assert "response_format" not in body
    # Without a schema nothing is added.
    provider.complete(_req())
    plain = srv.requests[-1].body
    assert "response_format" not in plain
    assert (plain["system"] if name == "anthropic" else plain["messages"][0]["content"]) == (
        "Be brief."
    )


def test_stream_yields_the_text_and_fills_usage(adapter):
    _, provider, _ = adapter
    streamed = provider.stream(_req())
    deltas = list(streamed)
    assert len(deltas) > 3
    assert "".join(deltas) == REPLY == streamed.text
    assert streamed.usage.output_tokens == len(REPLY.split())
    assert streamed.usage.input_tokens == 5
    assert streamed.finish_reason in ("stop", "end_turn")


def test_max_tokens_is_sent_and_respected(adapter):
    _, provider, srv = adapter
    out = provider.complete(_req(max_tokens=3))
    assert out.text.split() == REPLY.split()[:3]
    assert out.finish_reason in ("length", "max_tokens")


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault("429", retry_after=2), E.RateLimited),
        ("500", E.ServerError),
        ("503", E.ServerError),
        ("401", E.AuthenticationFailed),
        ("400", E.BadRequest),
        ("context", E.ContextTooLong),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_http_errors_become_typed_errors(adapter, fault, error, stream):
    _, provider, srv = adapter
    srv.enqueue(fault)
    with pytest.raises(error) as info:
        if stream:
            list(provider.stream(_req()))
        else:
            provider.complete(_req())
    err = info.value
    assert err.user_message.endswith(".")
    assert "Traceback" not in err.user_message
    if isinstance(err, E.RateLimited):
        assert err.retry_after == 2.0
        assert "2 s" in err.user_message


def test_a_slow_server_times_out(adapter):
    _, provider, srv = adapter
    srv.enqueue(Fault("hang", delay=5))
    with pytest.raises(E.Timeout):
        provider.complete(_req(timeout=0.3))


def test_a_stream_cut_midway_is_interrupted_not_success(adapter):
    _, provider, srv = adapter
    srv.enqueue(Fault("cut", cut_after=3))
    streamed = provider.stream(_req())
    got: list[str] = []
    with pytest.raises(E.StreamInterrupted):
        for delta in streamed:
            got.append(delta)
    assert "".join(got) == " ".join(REPLY.split()[:3]) + " "


def test_connection_refused_is_a_connection_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = OpenAIProvider(api_key="k", base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(E.ConnectionFailed) as info:
        provider.complete(_req())
    assert "Could not reach" in info.value.user_message


def test_self_hosted_server_is_available_only_when_it_answers(wire):
    up = _openai(wire, name="compat", self_hosted=True, key_required=False)
    status = up.status()
    assert status.available and status.models == ("wire-model",)
    down = OpenAIProvider(
        name="compat",
        api_key=None,
        base_url="http://127.0.0.1:9/v1",
        self_hosted=True,
        key_required=False,
    )
    status = down.status()
    assert not status.available
    assert "not reachable" in status.reason


def test_missing_key_means_unavailable_with_the_fix():
    status = OpenAIProvider(api_key=None).status()
    assert not status.available and "OPENAI_API_KEY" in status.reason
    status = AnthropicProvider(api_key=None).status()
    assert not status.available and "ANTHROPIC_API_KEY" in status.reason
