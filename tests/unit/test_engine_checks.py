"""The validate stage's checks and the record stage's storage helpers (core/engine/checks.py)."""

from __future__ import annotations

import math

import pytest

from core.engine import CompletionRequest
from core.engine.checks import (
    REFUSED_KEEP_CHARS,
    bounded,
    clean_request,
    invalid,
    json_safe,
    storable,
    stored_messages,
)
from core.providers import Message


def test_bounded_cuts_and_cleans_identifiers():
    assert bounded("ana\x00\x1b", 200) == "ana"
    assert bounded("  ", 200) is None and bounded(None, 10) is None
    assert bounded(12345, 200) == "12345"
    cut = bounded("x" * 100_000, 200)
    assert len(cut) == 200 and cut.endswith("…")
    assert bounded("caf\udce9", 10) == "caf"


def test_clean_request_copies_only_when_something_changes():
    req = CompletionRequest([Message("user", "hi")], user_id="ana", tags=["a", "b"])
    assert clean_request(req) is req
    dirty = CompletionRequest([Message("user", "hi")], user_id="a\x00b", source="",
                              tags="one,two", prompt_version="3")  # type: ignore[arg-type]
    clean = clean_request(dirty)
    assert clean is not dirty and dirty.user_id == "a\x00b"
    assert (clean.user_id, clean.source, clean.tags, clean.prompt_version) == (
        "ab", "unknown", ["one two"], None)


def test_tags_fit_the_column_and_drop_duplicates():
    clean = clean_request(CompletionRequest([], tags=["t"] * 5 + [f"tag{i}" for i in range(300)]))
    joined = ",".join(clean.tags)
    assert len(joined) <= 500 and clean.tags[:2] == ["t", "tag0"]


def test_storable_replaces_what_databases_refuse():
    assert storable("a\x00b\ud800c") == "a\ufffdb\ufffdc"
    assert storable(None) is None and storable("tab\tok\n") == "tab\tok\n"


def test_json_safe_keeps_numbers_finite_and_values_short():
    assert json_safe({"temperature": math.nan, "stop": ["x\x00"], "n": 3, "ok": True}) == {
        "temperature": "nan", "stop": ["x\ufffd"], "n": 3, "ok": True}
    assert json_safe(b"raw") == "b'raw'"
    assert len(json_safe("y" * 5000)) == 1000


def test_an_accepted_input_is_stored_whole():
    msgs = [Message("user", "x" * 50_000), Message("assistant", "ok")]
    stored, note = stored_messages(msgs, refused=False)
    assert note is None and stored[0]["content"] == "x" * 50_000


def test_a_refused_input_keeps_a_short_excerpt_and_says_so():
    words = "lorem ipsum " * 100_000
    stored, note = stored_messages([Message("user", words)], refused=True)
    assert len(stored) == 1 and len(stored[0]["content"]) <= REFUSED_KEEP_CHARS + 2
    assert stored[0]["content"].endswith(" …")  # cut on a space, not inside a word
    assert note == ("Stored shortened: the refused input had 1 message and 1,200,000 "
                    "characters; it is kept, cut to about 400 characters.")


def test_a_refused_long_conversation_keeps_its_first_and_last_turns():
    turns = [Message("user", f"turn {i}") for i in range(5001)]
    stored, note = stored_messages(turns, refused=True)
    assert [m["content"] for m in stored] == [
        "turn 0", "turn 1", "turn 2", "turn 4998", "turn 4999", "turn 5000"]
    assert "had 5,001 messages" in note and "the first 3 and the last 3 are kept" in note


def test_a_short_refused_input_needs_no_note_and_odd_items_are_described():
    stored, note = stored_messages(
        [{"role": "user", "content": "hi"}, Message("user", b"x"), Message("x", "y")],
        refused=True,
    )
    assert note is None
    assert stored == [{"role": "invalid", "content": "(a dictionary)"},
                      {"role": "user", "content": "(bytes)"},
                      {"role": "invalid", "content": "y"}]


def test_invalid_names_the_callers_values():
    err = invalid("Model 'x/y' is odd.", "x/y", "")
    assert err.user_message == "Model 'x/y' is odd." and err.quoted == ("x/y",)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_blank_user_messages_are_refused(text, settings):
    from core.engine.checks import validate_request
    from core.engine.types import CallContext
    from core.providers import errors as E

    ctx = CallContext(CompletionRequest([Message("user", text)]), "t", None, 0.0,  # type: ignore
                      "local/x", [Message("user", text)])
    with pytest.raises(E.InvalidRequest, match="Type a message first: the message is empty."):
        validate_request(ctx, settings)
