"""Conversations kept per user (core/telemetry/conversations.py) on SQLite and
PostgreSQL, and the engine's stage reports that the chat shows while a call runs."""

from __future__ import annotations

import pytest

from core.engine import CompletionRequest
from core.providers import Message
from core.services import Services
from core.telemetry.conversations import ConversationStore

ANSWER = {"model": "local/smollm2-135m-instruct", "text": "Paris.", "call_id": 7,
          "sources": [{"n": 1, "document": "a.md", "text": "Paris is in France."}]}


def test_a_conversation_keeps_its_turns_in_order(db):
    store = ConversationStore(db)
    cid = store.create()
    store.add_user_turn(cid, "What is the capital of France?")
    store.add_assistant_turn(cid, [ANSWER])
    store.add_user_turn(cid, "And of Spain?")
    view = store.get(cid)
    assert view is not None and view.title == "What is the capital of France?"
    assert view.turns == [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "answers": [ANSWER]},
        {"role": "user", "content": "And of Spain?"},
    ]
    [summary] = store.list()
    assert (summary.id, summary.turns) == (cid, 3)


def test_conversations_belong_to_their_user(db):
    store = ConversationStore(db)
    ana, bob = store.create("ana"), store.create("bob")
    store.add_user_turn(ana, "Ana's question")
    store.add_user_turn(bob, "Bob's question")
    assert [c.title for c in store.list("ana")] == ["Ana's question"]
    assert store.get(bob, "ana") is None
    assert store.delete(bob, "ana") is False
    assert store.get(bob, "bob") is not None
    # The anonymous local user sees neither.
    assert store.list() == []


def test_empty_conversations_are_not_listed_and_delete_removes_turns(db):
    store = ConversationStore(db)
    empty = store.create()
    used = store.create()
    store.add_user_turn(used, "x" * 200)
    listed = store.list()
    assert [c.id for c in listed] == [used]
    assert len(listed[0].title) <= 80 and listed[0].title.endswith("…")
    assert store.get(empty) is not None
    assert store.delete(used) is True
    assert store.get(used) is None and store.list() == []
    with pytest.raises(KeyError):
        store.add_user_turn(used, "late")


def test_newest_conversation_is_listed_first(db):
    store = ConversationStore(db)
    first, second = store.create(), store.create()
    store.add_user_turn(first, "first")
    store.add_user_turn(second, "second")
    store.add_user_turn(first, "first again")
    assert [c.title for c in store.list()] == ["first", "second"]


def test_stored_texts_go_through_the_text_filter(db):
    store = ConversationStore(db)
    store.text_filter = lambda text: text.replace("Ana", "<PERSON_1>")
    cid = store.create()
    store.add_user_turn(cid, "I am Ana")
    store.add_assistant_turn(cid, [{**ANSWER, "text": "Hello Ana",
                                    "sources": [{"n": 1, "text": "Ana's file"}]}])
    turns = store.get(cid).turns
    assert turns[0]["content"] == "I am <PERSON_1>"
    assert turns[1]["answers"][0]["text"] == "Hello <PERSON_1>"
    assert turns[1]["answers"][0]["sources"][0]["text"] == "<PERSON_1>'s file"
    assert store.list()[0].title == "I am <PERSON_1>"


@pytest.fixture
def wire_svc(wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    wire.reply = "Paris."
    svc = Services.build()
    yield svc
    svc.close()


@pytest.mark.parametrize("streaming", [False, True])
def test_engine_reports_each_stage_that_runs(wire_svc, streaming):
    seen: list[str] = []
    request = CompletionRequest(
        messages=[Message("user", "Capital of France?")], model="openai/gpt-4o-mini",
        on_stage=seen.append,
    )
    if streaming:
        "".join(wire_svc.engine.stream(request))
    else:
        wire_svc.engine.chat(request)
    # Stages with nothing to do (guards are off here) are not reported.
    assert "validate" in seen and seen.index("validate") < seen.index("route")
    assert seen.index("route") < seen.index("provider")
    assert "input_guards" not in seen
    assert seen.count("provider") == 1


def test_a_broken_stage_callback_does_not_cost_the_answer(wire_svc):
    def broken(_stage: str) -> None:
        raise RuntimeError("display went away")

    resp = wire_svc.engine.chat(CompletionRequest(
        messages=[Message("user", "Hi")], model="openai/gpt-4o-mini", on_stage=broken))
    assert resp.text == "Paris." and resp.status == "ok"
