"""Hostile chat requests through `Engine.chat` (and `stream`), guards on.

Every case ends in a plain outcome (a sentence from the validate stage, an
answer, or a typed provider error) and leaves exactly one log row whose
stored texts are bounded, cleaned and redacted. What the requests cost in
time is measured by bench/hostile_chat.py, not asserted here.
"""

from __future__ import annotations

import json
import math

import pytest

from core.engine import CompletionRequest
from core.engine.checks import REFUSED_KEEP_CHARS
from core.providers import Message
from core.providers import errors as E

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("guards_on")]

MODEL = "openai/gpt-4o-mini"
PII = "My name is John Smith and my email is john.smith@example.com."


def _user(text: object) -> list[Message]:
    return [Message("user", text)]  # type: ignore[arg-type]


def _turns(n: int) -> list[Message]:
    return [Message("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(n)]


# (id, request fields, expected phrase in the refusal). All refused by `validate`.
REFUSED = [
    ("temperature-high", {"temperature": 3.0}, "Temperature must be between 0 and 2."),
    ("temperature-negative", {"temperature": -0.1}, "Temperature must be between 0 and 2."),
    ("temperature-nan", {"temperature": math.nan}, "Temperature must be between 0 and 2."),
    ("temperature-inf", {"temperature": math.inf}, "Temperature must be between 0 and 2."),
    ("temperature-string", {"temperature": "0.5"}, "Temperature must be a number between"),
    ("temperature-bool", {"temperature": True}, "Temperature must be a number between"),
    ("top-p-zero", {"top_p": 0.0}, "Top-p must be greater than 0 and at most 1."),
    ("top-p-high", {"top_p": 1.5}, "Top-p must be greater than 0 and at most 1."),
    ("top-p-nan", {"top_p": math.nan}, "Top-p must be greater than 0"),
    ("top-p-string", {"top_p": "1"}, "Top-p must be a number"),
    ("max-tokens-zero", {"max_tokens": 0}, "Max tokens must be between 1 and 4,096."),
    ("max-tokens-negative", {"max_tokens": -5}, "Max tokens must be between 1 and 4,096."),
    ("max-tokens-huge", {"max_tokens": 10**9}, "Max tokens must be between 1 and 4,096."),
    ("max-tokens-string", {"max_tokens": "8"}, "Max tokens must be a whole number"),
    ("max-tokens-float", {"max_tokens": 8.5}, "Max tokens must be a whole number"),
    ("max-tokens-nan", {"max_tokens": math.nan}, "Max tokens must be a whole number"),
    ("timeout-negative", {"timeout": -1.0}, "The timeout must be greater than 0"),
    ("timeout-string", {"timeout": "fast"}, "The timeout must be a number"),
    ("stop-string", {"stop": "###"}, "Stop sequences must be a list"),
    ("stop-empty-text", {"stop": [""]}, "Stop sequences must be a list"),
    ("stop-long", {"stop": ["x" * 1000]}, "Stop sequences must be a list"),
    ("stop-numbers", {"stop": [1, 2]}, "Stop sequences must be a list"),
    ("model-no-provider", {"model": "gpt-4o"}, "should be written as provider/model"),
    ("model-blank", {"model": "   "}, "Pick a model"),
    ("model-huge", {"model": "openai/" + "x" * 300}, "is not a model id"),
    ("model-nul", {"model": "openai/gpt\x00-4o"}, "is not a model id"),
    ("model-number", {"model": 123}, "The model must be a provider/model id"),
    ("no-messages", {"messages": []}, "Type a message first"),
    ("only-system", {"messages": [Message("system", "Be brief.")]}, "no user message"),
    ("empty", {"messages": _user("")}, "Type a message first: the message is empty."),
    ("whitespace", {"messages": _user("   \n\t  ")}, "the message is empty"),
    ("empty-in-history", {"messages": [Message("user", "hi"), Message("assistant", "hello"),
                                       Message("user", " ")]}, "message 3 is empty"),
    ("million-chars", {"messages": _user("x" * 1_000_000)},
     "The input is 1,000,000 characters; the limit is 100,000."),
    ("5001-turns", {"messages": _turns(5001)}, "5,001 messages; the limit is 200"),
    ("201-turns", {"messages": _turns(201)}, "201 messages; the limit is 200"),
    ("lone-surrogate", {"messages": _user("caf\udce9 please")}, "broken character"),
    ("nul-byte", {"messages": _user("a\x00b")}, "NUL character"),
    ("bytes-content", {"messages": _user(b"hello")}, "Message 1 is not text (it is bytes)"),
    ("none-content", {"messages": _user(None)}, "Message 1 is not text"),
    ("list-content", {"messages": _user(["hello"])}, "Message 1 is not text (it is a list)"),
    ("tuple-of-dicts", {"messages": ({"role": "user", "content": "hi"},)},
     "Message 1 is not a chat message (it is a dictionary)"),
    ("list-of-strings", {"messages": ["hello"]}, "Message 1 is not a chat message (it is a str)"),
    ("messages-none", {"messages": None}, "must be a list of chat messages"),
    ("messages-number", {"messages": 5}, "must be a list of chat messages"),
    ("role-tool", {"messages": [Message("tool", "hi")]},  # type: ignore[arg-type]
     "Message role 'tool' is not one of system, user, assistant."),
    ("options-string", {"options": "strict"}, "options must be a mapping"),
    ("system-bytes", {"system": b"be nice"}, "Message 1 is not text (it is bytes)"),
    ("unknown-policy", {"options": {"guard_policy": "nope"}}, "no guard policy named 'nope'"),
    ("path-policy", {"options": {"guard_policy": "../../etc/passwd"}},
     "no guard policy named '../../etc/passwd'"),
]


def _request(fields: dict) -> CompletionRequest:
    base = {"messages": _user("What is two plus two?"), "model": MODEL}
    base.update(fields)
    return CompletionRequest(**base)


@pytest.fixture
def svc(wire, monkeypatch):
    from core.services import Services

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    wire.reply = "Paris."
    services = Services.build()
    yield services
    services.close()


def _one_row(svc):
    rows = svc.telemetry.recent_calls(10)
    assert len(rows) == 1, f"expected one log row, found {len(rows)}"
    return rows[0]


def _stored(row) -> list[dict]:
    return json.loads(row.input_text)


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize(("fields", "phrase"), [c[1:] for c in REFUSED],
                         ids=[c[0] for c in REFUSED])
def test_refused_plainly_with_one_row(svc, wire, fields, phrase, stream):
    with pytest.raises(E.InvalidRequest) as info:
        if stream:
            list(svc.engine.stream(_request(fields)))
        else:
            svc.engine.chat(_request(fields))
    message = info.value.user_message
    assert phrase in message
    assert "Error" not in message and "None" not in message
    row = _one_row(svc)
    assert (row.status, row.error_class) == ("error", "validation")
    assert row.error_message == message  # nothing in these came from a person's data
    assert len(row.input_text) < 4 * REFUSED_KEEP_CHARS
    assert "\x00" not in row.input_text and "\x00" not in (row.error_message or "")
    assert wire.completion_requests() == []


def test_a_million_characters_are_stored_short_and_say_so(svc):
    text = PII + " " + "lorem ipsum " * 90_000
    with pytest.raises(E.InvalidRequest, match="the limit is 100,000"):
        svc.engine.chat(_request({"messages": _user(text)}))
    stored = _stored(_one_row(svc))
    assert stored[-1]["role"] == "note"
    assert stored[-1]["content"].startswith("Stored shortened: the refused input had 1 message")
    assert f"{len(text):,} characters" in stored[-1]["content"]
    kept = stored[0]["content"]
    assert len(kept) <= REFUSED_KEEP_CHARS + 2
    # The kept part is redacted like any other stored input.
    assert "<PERSON_1>" in kept and "<EMAIL_ADDRESS_1>" in kept
    assert "John Smith" not in kept and "john.smith@example.com" not in kept


def test_an_over_long_input_past_spacy_limits_is_refused_and_logged(svc):
    # 1.25 MB of names: scanning it whole made spaCy raise E088 in the log row.
    text = "Maria Garcia met John Smith. " * 43_000
    with pytest.raises(E.InvalidRequest):
        svc.engine.chat(_request({"messages": _user(text)}))
    row = _one_row(svc)
    assert row.error_class == "validation"
    assert "Maria Garcia" not in row.input_text and "<PERSON_1>" in row.input_text


def test_five_thousand_turns_keep_the_first_and_last(svc):
    with pytest.raises(E.InvalidRequest):
        svc.engine.chat(_request({"messages": _turns(5001)}))
    stored = _stored(_one_row(svc))
    assert [m["content"] for m in stored[:-1]] == [
        "turn 0", "turn 1", "turn 2", "turn 4998", "turn 4999", "turn 5000"]
    assert "had 5,001 messages" in stored[-1]["content"]
    assert "the first 3 and the last 3 are kept" in stored[-1]["content"]


def test_a_short_refused_input_is_stored_whole_without_a_note(svc):
    with pytest.raises(E.InvalidRequest):
        svc.engine.chat(_request({"max_tokens": 0}))
    assert _stored(_one_row(svc)) == [
        {"role": "user", "content": "What is two plus two?"}]


def test_engine_sentences_are_not_redacted_but_the_callers_values_are(svc):
    with pytest.raises(E.InvalidRequest):
        svc.engine.chat(_request({"max_tokens": 0, "messages": _user(PII)}))
    row = _one_row(svc)
    assert row.error_message == "Max tokens must be between 1 and 4,096."
    assert "John Smith" not in row.input_text

    with pytest.raises(E.InvalidRequest) as info:
        svc.engine.chat(_request({"messages": [Message("John Smith", "hi")]}))  # type: ignore
    assert "John Smith" in info.value.user_message  # the caller sees what they sent
    row = svc.telemetry.recent_calls(1)[0]
    assert "John Smith" not in row.error_message
    assert row.error_message.startswith("Message role '<PERSON")
    assert row.error_message.endswith("is not one of system, user, assistant.")


def test_a_policy_named_after_an_address_is_redacted_in_the_row(svc):
    with pytest.raises(E.InvalidRequest):
        svc.engine.chat(_request({"options": {"guard_policy": "john.smith@example.com"}}))
    row = _one_row(svc)
    assert "john.smith@example.com" not in row.error_message
    assert row.error_message.startswith("There is no guard policy named '<EMAIL_ADDRESS_1>'")


@pytest.mark.parametrize(
    ("model", "error", "phrase"),
    [
        ("nope/gpt", E.ProviderUnavailable, "There is no provider called 'nope'"),
        ("local/../../etc/passwd", E.BadRequest, "not accepted"),
        ("local/no-such-model", E.BadRequest, "not accepted"),
        ("../../etc/passwd", E.ProviderUnavailable, "There is no provider called '..'"),
    ],
)
def test_unknown_and_path_like_model_ids_fail_plainly(svc, model, error, phrase):
    with pytest.raises(error) as info:
        svc.engine.chat(_request({"model": model}))
    assert phrase in info.value.user_message
    row = _one_row(svc)
    assert row.status == "error" and row.error_message == info.value.user_message


@pytest.mark.parametrize(
    "text",
    [
        "{{ 7*7 }} {% for x in range(3) %}x{% endfor %}",
        "${HOME} $(whoami) `id` {0.__class__.__mro__}",
        "<script>alert(1)</script> <|im_start|>system",
        "%s%s%s%n {{config.items()}}",
        "'; DROP TABLE call_log; --",
    ],
)
def test_template_looking_text_comes_back_unevaluated(svc, wire, text):
    wire.reply = lambda body: body["messages"][-1]["content"]
    resp = svc.engine.chat(_request({"messages": _user(text)}))
    assert resp.text == text
    row = _one_row(svc)
    # Stored as sent (storage redaction may still mask a word it takes for a name).
    assert row.status == "ok" and _stored(row)[-1]["content"][:6] == text[:6]


def test_metadata_is_bounded_and_cleaned(svc):
    big = "u\x00" + "x" * 100_000
    resp = svc.engine.chat(_request({
        "user_id": big, "session_id": "s\x00\ud800" + "y" * 100_000,
        "source": "api\x00" + "z" * 100_000,
        "tags": ["a\x00b", "t" * 100_000, "c,d"] + [f"tag{i}" for i in range(200)],
        "experiment": "e" * 100_000,
        "variant": "v\x1b[31m", "prompt_version": "3",
    }))
    assert resp.status == "ok"
    row = _one_row(svc)
    for value, limit in ((row.user_id, 200), (row.session_id, 200), (row.source, 20),
                         (row.tags, 500), (row.experiment, 200)):
        assert value and len(value) <= limit and "\x00" not in value
    assert row.user_id.startswith("ux") and row.source.startswith("apiz")
    assert row.tags.split(",")[:2] == ["ab", "t" * 49 + "…"]
    assert "c d" in row.tags.split(",")
    assert row.variant == "v[31m" and row.prompt_version is None


def test_an_unknown_prompt_name_is_bounded_in_its_error_row(svc):
    with pytest.raises(E.TrellisError) as info:
        svc.engine.chat(_request({"prompt_name": "p\x00" * 50_000}))
    assert "\x00" not in info.value.user_message
    row = _one_row(svc)
    assert row.status == "error" and len(row.prompt_name) <= 200
    assert "\x00" not in row.prompt_name and row.prompt_name.startswith("ppp")


def test_metadata_of_other_types_is_stored_as_text(svc):
    svc.engine.chat(_request({"user_id": 12345, "tags": "single"}))
    row = _one_row(svc)
    assert (row.user_id, row.tags) == ("12345", "single")


def test_nan_parameters_are_stored_as_text_not_invalid_json(svc):
    with pytest.raises(E.InvalidRequest):
        svc.engine.chat(_request({"temperature": math.nan}))
    assert _one_row(svc).params == {"temperature": "nan"}


def test_nul_in_user_id_keeps_its_row_on_postgresql(pg_url, wire, monkeypatch):
    from core.services import Services

    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    wire.reply = "Paris."
    svc = Services.build()
    try:
        resp = svc.engine.chat(_request({
            "user_id": "ana\x00" + "x" * 100_000, "tags": ["a\x00"] * 3,
            "source": "s" * 1000, "session_id": "\x00" * 10,
        }))
        assert resp.status == "ok" and resp.call_id is not None
        with pytest.raises(E.InvalidRequest):
            svc.engine.chat(_request({"messages": _user("caf\udce9\x00"),
                                      "temperature": math.nan, "user_id": "b\x00"}))
        rows = svc.telemetry.recent_calls(10)
        assert len(rows) == 2
        assert rows[1].user_id.startswith("anax") and rows[1].session_id is None
        assert rows[0].user_id == "b" and rows[0].params == {"temperature": "nan"}
        assert "\x00" not in rows[0].input_text
    finally:
        svc.close()
