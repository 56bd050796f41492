"""The embedded GGUF models, for real: SmolLM2-135M-Instruct (the default, chat
template) and the Gemma 3 270M base model (completion style). Each file is read
into memory once per test session (the provider shares loaded models)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from core.engine import CompletionRequest
from core.providers import Message
from core.providers import errors as E
from core.providers.base import ChatRequest
from core.providers.local import (
    GEMMA_ID,
    SMOLLM2_ID,
    LocalProvider,
    completion_prompt,
    smollm2_model_path,
)
from tests.conftest import MODELS_DIR

pytestmark = pytest.mark.slow

BOTH = pytest.mark.parametrize("model", [SMOLLM2_ID, GEMMA_ID])


@pytest.fixture(scope="module")
def local():
    return LocalProvider(models_dir=MODELS_DIR, chat_format="auto")


def _req(model, text="What is the capital of France?", **kw):
    return ChatRequest(model=model, messages=[Message("user", text)], **kw)


def test_completion_prompt_is_plain_turns_ending_with_the_assistant_cue():
    prompt = completion_prompt(
        [
            Message("system", "Be brief."),
            Message("user", "Hi"),
            Message("assistant", "Hello"),
            Message("user", "Capital of France?"),
        ]
    )
    assert prompt == "Be brief.\n\nUSER: Hi\nASSISTANT: Hello\nUSER: Capital of France?\nASSISTANT:"


def test_both_bundled_models_are_listed_smollm2_first(local):
    status = local.status()
    assert status.available
    assert status.models == (SMOLLM2_ID, GEMMA_ID)
    assert local.model_id == SMOLLM2_ID
    assert smollm2_model_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_smollm2_uses_its_chat_template_and_gemma_does_not(local):
    assert local.uses_template(SMOLLM2_ID) is True
    assert local.uses_template(GEMMA_ID) is False


@BOTH
def test_complete_answers_with_tokens_counted(local, model):
    out = local.complete(_req(model, max_tokens=24, temperature=0))
    assert out.text.strip()
    assert "USER:" not in out.text and "ASSISTANT:" not in out.text
    assert "<|im_start|>" not in out.text and "<|im_end|>" not in out.text
    assert out.usage.input_tokens > 5
    assert 0 < out.usage.output_tokens <= 24


@BOTH
def test_stream_matches_usage_and_stops_at_the_turn_marker(local, model):
    streamed = local.stream(_req(model, "Name a color.", max_tokens=16, temperature=0))
    deltas = list(streamed)
    assert deltas and streamed.text == "".join(deltas)
    assert not streamed.text.startswith(" ")
    assert "USER:" not in streamed.text
    assert 0 < streamed.usage.output_tokens <= 16
    assert streamed.finish_reason in ("stop", "length")


ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["positive", "negative", "neutral"]},
        "summary": {"type": "string"},
    },
    "required": ["sentiment", "summary"],
}


def test_a_json_schema_makes_the_default_model_answer_valid_json(local):
    """Asked plainly, SmolLM2 does not answer in JSON; the instruction plus a grammar
    built from the schema make its answer valid JSON of that shape. (The Gemma base
    model also writes JSON under the grammar, but tends to run on inside a string
    until max_tokens.)"""
    model = SMOLLM2_ID
    review = "Review: the delivery was late and the box was crushed. Classify it."
    req = _req(model, review, max_tokens=96, temperature=0, json_schema=ANSWER_SCHEMA)
    out = local.complete(req)
    jsonschema.validate(json.loads(out.text), ANSWER_SCHEMA)
    streamed = local.stream(req)
    jsonschema.validate(json.loads("".join(streamed)), ANSWER_SCHEMA)
    # A schema llama.cpp cannot turn into a grammar leaves the answer unconstrained
    # (the output guard still checks it) rather than failing the call.
    odd = {"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}}
    assert local.complete(_req(model, "Hi", max_tokens=8, json_schema=odd)).usage.output_tokens


def test_smollm2_follows_a_system_prompt(local):
    """The reason it is the default: an instruction-tuned model does what the system
    prompt says (the base model ignored a pirate system prompt)."""
    out = local.complete(
        ChatRequest(
            model=SMOLLM2_ID,
            messages=[
                Message("system", "You are a pirate. Always answer like a pirate."),
                Message("user", "How is the weather today?"),
            ],
            max_tokens=40,
            temperature=0,
        )
    )
    words = ("pirate", "sailin", "arr", "matey", "ahoy", "ship", "sea")
    assert any(w in out.text.lower() for w in words), out.text


def test_greedy_decoding_is_deterministic(local):
    a = local.complete(_req(GEMMA_ID, "Count: one, two,", max_tokens=8, temperature=0)).text
    b = local.complete(_req(GEMMA_ID, "Count: one, two,", max_tokens=8, temperature=0)).text
    assert a == b


def test_wrong_model_name_is_a_bad_request(local):
    with pytest.raises(E.BadRequest) as info:
        local.complete(ChatRequest(model="llama-70b", messages=[Message("user", "hi")]))
    assert SMOLLM2_ID in str(info.value) and GEMMA_ID in str(info.value)


def test_too_long_prompt_is_context_too_long():
    small = LocalProvider(models_dir=MODELS_DIR, n_ctx=64)
    with pytest.raises(E.ContextTooLong) as info:
        small.complete(_req(SMOLLM2_ID, "word " * 400, max_tokens=8))
    assert "longer than this model can read" in info.value.user_message


def test_missing_model_file_is_listed_with_the_fix(tmp_path):
    status = LocalProvider(models_dir=tmp_path, model_path=tmp_path / "nope.gguf").status()
    # The bundled models still work; the reason names the setting to fix.
    assert status.available and "nope" not in status.models
    assert "TRELLIS_LOCAL_MODEL_PATH" in status.reason
    none = LocalProvider(models_dir=tmp_path, model_path=tmp_path / "nope.gguf", bundled=())
    assert not none.status().available and "TRELLIS_LOCAL_MODEL_PATH" in none.status().reason


def test_engine_streams_the_default_model_and_logs_it(services):
    stream = services.engine.stream(
        CompletionRequest(messages=[Message("user", "Say hi.")], max_tokens=12, temperature=0)
    )
    text = "".join(stream)
    assert text
    [row] = services.telemetry.recent_calls()
    assert (row.provider, row.model, row.status) == ("local", SMOLLM2_ID, "ok")
    assert row.cost_usd == 0.0  # self-hosted: free unless a price override says otherwise
    assert row.ttft_ms and row.tokens_per_s and row.output_tokens > 0


def test_engine_answers_a_schema_request_from_the_local_model_without_a_repair(
    guards_on, services
):
    """What a prompt with an answer format gets on the default model: valid JSON at
    the first try, so no repair call and no schema failure."""
    resp = services.engine.chat(
        CompletionRequest(
            messages=[Message("user", "Review: the delivery was late. Classify it.")],
            max_tokens=96, temperature=0, options={"json_schema": ANSWER_SCHEMA},
        )
    )
    jsonschema.validate(json.loads(resp.text), ANSWER_SCHEMA)
    assert resp.guard_report["validation"]["json_schema"] == "valid"


def test_chat_format_of_a_user_file_follows_the_file_and_the_setting():
    """auto uses a GGUF's own chat template only when the file carries one;
    the Gemma base model does not, so it stays completion-style. `template`
    forces the chat path (for instruction-tuned files)."""
    from core.providers.local import bundled_model_path

    path = bundled_model_path(MODELS_DIR)
    req = ChatRequest(model=path.stem, messages=[Message("user", "Hi")], max_tokens=8)
    auto = LocalProvider(models_dir=MODELS_DIR, model_path=path, chat_format="auto")
    assert auto.model_id == path.stem
    assert auto.status().models[0] == path.stem
    auto.complete(req)
    assert auto.uses_template(path.stem) is False
    forced = LocalProvider(models_dir=MODELS_DIR, model_path=path, chat_format="template")
    out = forced.complete(req)
    assert forced.uses_template(path.stem) is True
    assert out.finish_reason in ("stop", "length")


def test_warm_up_loads_the_heavy_models(guards_on, settings):
    """What the app runs in a background thread at start (bug 4: the first answer
    waited ~10 s for the PII analyzer and the model)."""
    from core.services import Services

    svc = Services.build(settings)
    try:
        steps: list[str] = []
        assert svc.warm_up(steps.append) == ["pii", "local_model", "embedder"]
        assert steps == ["pii", "local_model", "embedder"]
    finally:
        svc.close()
