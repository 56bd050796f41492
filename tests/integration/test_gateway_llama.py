"""The gateway in front of a real llama.cpp server: the SDK's view of a real model."""

from __future__ import annotations

import time

import openai
import pytest

from core.access import LOCAL_ADMIN
from core.services import Services
from tests.integration.test_llama_server import llama_server  # noqa: F401 - module fixture
from tests.servers.gateway import ThreadGateway

pytestmark = pytest.mark.slow


@pytest.fixture
def sdk(llama_server, monkeypatch):  # noqa: F811 - the imported fixture
    monkeypatch.setenv("TRELLIS_COMPAT_BASE_URL", llama_server)
    services = Services.build()
    key = services.access.create_key(LOCAL_ADMIN, "llama").secret
    with ThreadGateway(services) as gw:
        yield services, openai.OpenAI(base_url=gw.base_url + "/v1", api_key=key, max_retries=0)
    services.close()


def test_real_model_through_the_gateway(sdk):
    services, client = sdk
    raw = client.chat.completions.with_raw_response.create(
        model="compat/gemma-3-270m", max_tokens=16, temperature=0,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
    )
    resp = raw.parse()
    assert resp.choices[0].message.content.strip()
    assert 0 < resp.usage.completion_tokens <= 16
    services.telemetry.flush()  # the gateway writes log rows in the background
    row = services.telemetry.get_by_trace(raw.headers["x-trellis-call-id"])
    assert (row.provider, row.status, row.source) == ("compat", "ok", "api")


def test_real_model_streams_with_usage(sdk):
    services, client = sdk
    stream = client.chat.completions.create(
        model="compat/gemma-3-270m", max_tokens=16, temperature=0, stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Name a fruit."}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    # A stream's row is queued as its generator ends, a moment after the last chunk.
    call_id = stream.response.headers["x-trellis-call-id"]
    deadline = time.monotonic() + 10
    while (row := services.telemetry.get_by_trace(call_id)) is None and time.monotonic() < deadline:
        services.telemetry.flush()
        time.sleep(0.05)
    assert row.stream and row.status == "ok" and row.output_text == text
