"""The OpenAI-compatible path against a real llama.cpp server on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from core.engine import CompletionRequest
from core.providers import Message
from core.services import Services
from tests.conftest import MODELS_DIR
from tests.servers.procs import free_port, stop

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    from core.providers.local import bundled_model_path

    model = bundled_model_path(MODELS_DIR)
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    # The bundled Gemma is a base model: its own chat template stops at once,
    # so the server renders chats in the plain vicuna USER:/ASSISTANT: style.
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--chat_format",
        "vicuna",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "1024",
        "--model_alias",
        "gemma-3-270m",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"llama.cpp server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(base + "/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"llama.cpp server did not start: {log.read_text()[-2000:]}")
    yield base
    stop(proc)


@pytest.fixture
def svc(llama_server, monkeypatch):
    monkeypatch.setenv("TRELLIS_COMPAT_BASE_URL", llama_server)
    services = Services.build()
    yield services
    services.close()


def test_compat_provider_lists_the_server_model(svc):
    status = {s.name: s for s in svc.registry.statuses()}["compat"]
    assert status.available
    assert "gemma-3-270m" in status.models
    assert "compat/gemma-3-270m" in svc.registry.available_models()


def test_chat_through_llama_server(svc):
    resp = svc.engine.chat(
        CompletionRequest(
            messages=[Message("user", "What is the capital of France?")],
            model="compat/gemma-3-270m",
            max_tokens=16,
            temperature=0,
        )
    )
    assert resp.text.strip()
    assert resp.usage.input_tokens > 0 and 0 < resp.usage.output_tokens <= 16
    [row] = svc.telemetry.recent_calls()
    assert (row.provider, row.status, row.cost_usd) == ("compat", "ok", 0.0)


def test_stream_through_llama_server(svc):
    stream = svc.engine.stream(
        CompletionRequest(
            messages=[Message("user", "Name a fruit.")],
            model="compat/gemma-3-270m",
            max_tokens=12,
            temperature=0,
        )
    )
    text = "".join(stream)
    assert text.strip()
    resp = stream.response
    assert resp.ttft_ms is not None and resp.usage.output_tokens > 0
    [row] = svc.telemetry.recent_calls()
    assert row.stream and row.status == "ok"
