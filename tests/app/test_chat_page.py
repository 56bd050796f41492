"""The chat playground through Streamlit's AppTest, on the real engine."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.services import Services

pytestmark = pytest.mark.slow


def _open(app_path) -> AppTest:
    at = AppTest.from_file(app_path, default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def _rows():
    """The log rows, read through a fresh handle on the same database."""
    svc = Services.build(Settings())
    return svc.telemetry.recent_calls(), svc


def test_shell_lists_providers_and_why_some_are_not_available(app_path):
    at = _open(app_path)
    assert at.title[0].value == "Chat playground"
    markdown = [m.value for m in at.sidebar.markdown]
    assert any("Local model" in m for m in markdown)
    captions = [c.value for c in at.sidebar.caption]
    assert any("OPENAI_API_KEY" in c for c in captions)
    assert any("ANTHROPIC_API_KEY" in c for c in captions)


def test_local_model_answers_with_its_figures(app_path):
    at = _open(app_path)
    at.chat_input[0].set_value("What is the capital of France?").run()
    assert not at.exception, at.exception
    assert not at.error
    assistant = [m for m in at.chat_message if m.name == "assistant"]
    assert len(assistant) == 1
    figures = [c.value for c in assistant[0].caption]
    assert any(
        "local/gemma-3-270m" in f and "tokens" in f and "$0" in f and "TTFT" in f and "latency" in f
        for f in figures
    ), figures
    rows, svc = _rows()
    assert len(rows) == 1 and rows[0].status == "ok" and rows[0].source == "playground"
    # Thumbs down on the answer lands in the feedback table.
    at.feedback[0].set_value(0).run()
    assert [f.score for f in svc.telemetry.feedback_for(rows[0].id)] == [-1]
    # Changing the thumb changes the rating; clearing it withdraws it.
    at.feedback[0].set_value(1).run()
    assert [f.score for f in svc.telemetry.feedback_for(rows[0].id)] == [1]
    at.feedback[0].set_value(None).run()
    assert svc.telemetry.feedback_for(rows[0].id) == []
    svc.close()


def test_failing_provider_shows_a_plain_sentence(app_path, wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    wire.default = "500"
    at = _open(app_path)
    at.selectbox(key="chat.model_a").set_value("openai/gpt-4o-mini").run()
    at.chat_input[0].set_value("Hello?").run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert errors == ["OpenAI had an internal error; try again in a moment."]
    rows, svc = _rows()
    assert [(r.status, r.error_class) for r in rows] == [("error", "server")]
    svc.close()


def test_compare_mode_answers_side_by_side_and_clear_empties(app_path, wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    wire.reply = "Bonjour from the wire."
    at = _open(app_path)
    at.toggle(key="chat.compare").set_value(True).run()
    at.selectbox(key="chat.model_a").set_value("local/gemma-3-270m")
    at.selectbox(key="chat.model_b").set_value("openai/gpt-4o-mini").run()
    at.chat_input[0].set_value("Say hello in French.").run()
    assert not at.exception, at.exception
    assistant = [m for m in at.chat_message if m.name == "assistant"]
    captions = " | ".join(c.value for c in assistant[0].caption)
    assert "local/gemma-3-270m" in captions and "openai/gpt-4o-mini" in captions
    assert any("Bonjour from the wire." in m.value for m in assistant[0].markdown)
    rows, svc = _rows()
    assert sorted(r.provider for r in rows) == ["local", "openai"]
    svc.close()
    at.button(key="chat.clear").click().run()
    assert not [m for m in at.chat_message]
