"""The chat playground through Streamlit's AppTest, on the real engine."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.services import Services
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _open(app_path) -> AppTest:
    at = AppTest.from_file(app_path, default_timeout=120).run()
    assert not at.exception, at.exception
    # Short answers keep the suite quick on a 2-core machine; nothing here needs more.
    at.number_input(key="chat.max_tokens").set_value(24).run()
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
        "local/smollm2-135m-instruct" in f
        and "tokens" in f and "$0" in f and "TTFT" in f and "latency" in f
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


def test_compare_mode_defaults_to_two_local_models(app_path):
    at = _open(app_path)
    at.toggle(key="chat.compare").set_value(True).run()
    assert at.selectbox(key="chat.model_a").value == "local/smollm2-135m-instruct"
    assert at.selectbox(key="chat.model_b").value == "local/gemma-3-270m"


def test_compare_mode_answers_side_by_side_and_new_chat_empties(app_path, wire, monkeypatch):
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
    at.button(key="chat.new").click().run()
    assert not [m for m in at.chat_message]
    assert "chat" not in at.query_params


def test_chat_settings_survive_a_page_switch(app_path):
    """Bug 1: temperature, system prompt, max tokens, models, compare, guard policy and
    the documents options came back as defaults after visiting another page."""
    at = _open(app_path)
    at.toggle(key="chat.compare").set_value(True).run()
    at.selectbox(key="chat.model_a").set_value("local/gemma-3-270m")
    at.selectbox(key="chat.model_b").set_value("local/smollm2-135m-instruct")
    at.slider(key="chat.temperature").set_value(1.3)
    at.number_input(key="chat.max_tokens").set_value(99)
    at.text_area(key="chat.system").input("Talk like a pirate.")
    at.toggle(key="chat.rag.on").set_value(True)
    at.run()

    at.switch_page("../pages/operations.py").run()
    assert not at.exception, at.exception
    at.run()  # a second run on the other page: Streamlit has dropped the chat widgets
    at.switch_page("../pages/chat.py").run()
    assert not at.exception, at.exception

    assert at.toggle(key="chat.compare").value is True
    assert at.selectbox(key="chat.model_a").value == "local/gemma-3-270m"
    assert at.selectbox(key="chat.model_b").value == "local/smollm2-135m-instruct"
    assert at.slider(key="chat.temperature").value == 1.3
    assert at.number_input(key="chat.max_tokens").value == 99
    assert at.text_area(key="chat.system").value == "Talk like a pirate."
    assert at.toggle(key="chat.rag.on").value is True


def test_guard_policy_choice_survives_a_page_switch(app_path, guards_on):
    at = _open(app_path)
    options = at.selectbox(key="chat.guard_policy").options
    other = next(o for o in options if o != at.selectbox(key="chat.guard_policy").value)
    at.selectbox(key="chat.guard_policy").set_value(other).run()
    at.switch_page("../pages/documents.py").run()
    at.run()
    at.switch_page("../pages/chat.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="chat.guard_policy").value == other


def test_a_refreshed_browser_finds_its_conversation(app_path):
    """Bug 9: the chat was lost on a refresh. The conversation is saved as it goes and
    its id is in the URL; a new session (a refresh) with that URL reopens it."""
    at = _open(app_path)
    at.chat_input[0].set_value("What is the capital of France?").run()
    assert not at.exception, at.exception
    conversation = at.query_params["chat"]
    conversation = conversation[0] if isinstance(conversation, list) else conversation
    answer = [m for m in at.chat_message if m.name == "assistant"][0].markdown[0].value
    at.feedback[0].set_value(1).run()  # thumbs up: shown again after the refresh

    refreshed = AppTest.from_file(app_path, default_timeout=120)
    refreshed.query_params["chat"] = conversation
    refreshed.run()
    assert not refreshed.exception, refreshed.exception
    users = [m for m in refreshed.chat_message if m.name == "user"]
    assistants = [m for m in refreshed.chat_message if m.name == "assistant"]
    assert [u.markdown[0].value for u in users] == ["What is the capital of France?"]
    assert assistants[0].markdown[0].value == answer
    assert refreshed.feedback[0].value == 1
    # It is listed in the sidebar, and can be deleted there.
    assert refreshed.button(key=f"chat.open.{conversation}").label.startswith("What is the")
    refreshed.button(key=f"chat.delete.{conversation}").click().run()
    assert not [m for m in refreshed.chat_message]
    assert "chat" not in refreshed.query_params

    gone = AppTest.from_file(app_path, default_timeout=120)
    gone.query_params["chat"] = conversation
    gone.run()
    assert not gone.exception
    assert any("not here any more" in i.value for i in gone.info)


def test_conversations_are_stored_redacted(app_path, guards_on):
    at = _open(app_path)
    at.chat_input[0].set_value("My name is John Smith, what is 2+2?").run()
    assert not at.exception, at.exception
    svc = Services.build(Settings())
    [conv] = svc.conversations.list()
    view = svc.conversations.get(conv.id)
    assert "John Smith" not in view.turns[0]["content"]
    assert "<PERSON_1>" in view.turns[0]["content"]
    assert "John Smith" not in conv.title
    svc.close()


def test_fallback_answer_says_which_model_served_it(app_path, wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    wire.default = "500"
    svc = Services.build(Settings())
    svc.reliability.routes.save("main", ["openai/gpt-4o-mini", "local/gemma-3-270m"])
    svc.close()
    at = _open(app_path)
    at.selectbox(key="chat.model_a").set_value("route/main").run()
    at.chat_input[0].set_value("Hello?").run()
    assert not at.exception, at.exception
    assistant = [m for m in at.chat_message if m.name == "assistant"]
    captions = [c.value for c in assistant[0].caption]
    assert any(
        "Answered by local/gemma-3-270m after openai/gpt-4o-mini failed." in c for c in captions
    ), captions


def test_signed_in_users_see_only_their_own_conversations(monkeypatch):
    import time

    from core.access import CLI

    monkeypatch.setenv("TRELLIS_AUTH", "password")
    svc = Services.build(Settings())
    for name in ("ada", "ed"):
        svc.access.add_user(CLI, name, "editor", "a long enough password")
    eds = svc.conversations.create("ed")
    svc.conversations.add_user_turn(eds, "Ed's question")
    svc.close()

    def chat_as(user: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "pages" / "chat.py"), default_timeout=60)
        at.session_state["auth.user"] = {"name": user, "expires": time.time() + 3600}
        at.query_params["chat"] = eds
        return at.run()

    ed = chat_as("ed")
    assert not ed.exception, ed.exception
    assert [m.markdown[0].value for m in ed.chat_message] == ["Ed's question"]
    ada = chat_as("ada")
    assert not ada.exception, ada.exception
    assert not ada.chat_message
    assert any("not here any more" in i.value for i in ada.info)
    assert not [b for b in ada.button if b.key == f"chat.open.{eds}"]


def test_an_answer_from_a_registry_prompt_names_the_version(app_path, wire, monkeypatch):
    """Which prompt version served an answer was only in the log, not on the page."""
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    svc = Services.build(Settings())
    svc.prompts.create("greet", by="ada")
    svc.prompts.save_version("greet", by="ada", system="You greet for {{ company }}.",
                             user="Greet the customer.",
                             variables=[{"name": "company", "example": "ACME"}])
    svc.close()
    at = _open(app_path)
    at.selectbox(key="chat.model_a").set_value("openai/gpt-4o-mini")
    at.selectbox(key="chat.prompt").set_value("greet").run()
    assert any("your chat follows" in c.value for c in at.sidebar.caption)
    at.chat_input[0].set_value("Hi there").run()
    assert not at.exception, at.exception
    [assistant] = [m for m in at.chat_message if m.name == "assistant"]
    figures = [c.value for c in assistant.caption]
    assert any("greet v1 (production)" in f for f in figures), figures
