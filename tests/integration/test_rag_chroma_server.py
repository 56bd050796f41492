"""Server mode: the same RAG service against a real `chroma run` server on loopback."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from core.engine import CompletionRequest
from core.providers import Message
from tests.servers.procs import free_port, stop

pytestmark = pytest.mark.slow
SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def _chroma_cli() -> str:
    found = Path(sys.executable).with_name("chroma")
    return str(found) if found.exists() else (shutil.which("chroma") or "chroma")


@pytest.fixture
def chroma_server(tmp_path: Path):
    port = free_port()
    proc = subprocess.Popen(
        [_chroma_cli(), "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).is_success:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("chroma server did not start")
            time.sleep(0.2)
        yield proc, port
    finally:
        stop(proc)


def test_server_mode_ingest_search_and_outage(chroma_server, wire, monkeypatch, isolated_env):
    proc, port = chroma_server
    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", str(port))
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{wire.base_url}/v1")
    from core.config import Settings
    from core.services import Services

    svc = Services.build(Settings())
    rag = svc.rag
    try:
        assert rag.store.host == "127.0.0.1"
        rag.create_collection("remote-docs")
        results = rag.ingest("remote-docs", [
            (n, (SAMPLES / n).read_bytes()) for n in ("api-reference.md", "product-faq.md")
        ])
        assert [r.status for r in results] == ["ready", "ready"]
        # Nothing went to the embedded store: the chunks are on the server.
        assert not (isolated_env / "chroma").exists()
        assert rag.store.names() == ["remote-docs"]
        assert rag.store.count("remote-docs") == sum(r.chunks for r in results)
        hits = rag.search("remote-docs", "What header carries the webhook signature?")
        assert hits[0].document == "api-reference.md" and "X-Beacon-Signature" in hits[0].text
        rag.rename_collection("remote-docs", "beacon-docs")
        assert rag.store.names() == ["beacon-docs"]

        # The server goes away: a chat with documents still answers, marked degraded.
        proc.terminate()
        proc.wait(timeout=10)
        resp = svc.engine.chat(CompletionRequest(
            messages=[Message("user", "How are webhooks signed?")], model="openai/gpt-4o-mini",
            options={"rag": {"collection": "beacon-docs"}},
        ))
        assert resp.status == "ok" and resp.degraded == ["retrieve"] and resp.sources == []
        span = next(s for s in resp.spans if s.name == "retrieve")
        assert "Chroma server at 127.0.0.1" in span.detail["errors"][0]
        # And an upload during the outage fails plainly, leaving no row that claims success.
        (failed,) = rag.ingest("beacon-docs", [("notes.txt", b"Webhooks retry five times.")])
        assert failed.status == "failed"
        assert "could not be reached" in failed.message
        assert {d.status for d in rag.documents("beacon-docs")} == {"ready", "failed"}
        assert next(d for d in rag.documents("beacon-docs")
                    if d.file_name == "notes.txt").status == "failed"
    finally:
        svc.close()
