"""The embedded GGUF model, for real: the bundled Gemma 3 270M base model."""

from __future__ import annotations

import pytest

from core.engine import CompletionRequest
from core.providers import Message
from core.providers import errors as E
from core.providers.base import ChatRequest
from core.providers.local import LocalProvider, completion_prompt
from tests.conftest import MODELS_DIR

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local():
    return LocalProvider(models_dir=MODELS_DIR, chat_format="auto")


def _req(text="What is the capital of France?", **kw):
    return ChatRequest(model="gemma-3-270m", messages=[Message("user", text)], **kw)


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


def test_complete_answers_with_tokens_counted(local):
    out = local.complete(_req(max_tokens=24, temperature=0))
    assert out.text.strip()
    assert "USER:" not in out.text and "ASSISTANT:" not in out.text
    assert out.usage.input_tokens > 5
    assert 0 < out.usage.output_tokens <= 24


def test_stream_matches_usage_and_stops_at_the_turn_marker(local):
    streamed = local.stream(_req("Name a color.", max_tokens=16, temperature=0))
    deltas = list(streamed)
    assert deltas and streamed.text == "".join(deltas)
    assert not streamed.text.startswith(" ")
    assert "USER:" not in streamed.text
    assert 0 < streamed.usage.output_tokens <= 16
    assert streamed.finish_reason in ("stop", "length")


def test_greedy_decoding_is_deterministic(local):
    a = local.complete(_req("Count: one, two,", max_tokens=8, temperature=0)).text
    b = local.complete(_req("Count: one, two,", max_tokens=8, temperature=0)).text
    assert a == b


def test_wrong_model_name_is_a_bad_request(local):
    with pytest.raises(E.BadRequest):
        local.complete(ChatRequest(model="llama-70b", messages=[Message("user", "hi")]))


def test_too_long_prompt_is_context_too_long(local):
    small = LocalProvider(models_dir=MODELS_DIR, n_ctx=64)
    with pytest.raises(E.ContextTooLong) as info:
        small.complete(_req("word " * 400, max_tokens=8))
    assert "longer than this model can read" in info.value.user_message


def test_missing_model_file_is_unavailable_with_the_fix(tmp_path):
    status = LocalProvider(models_dir=tmp_path, model_path=tmp_path / "nope.gguf").status()
    assert not status.available and "TRELLIS_LOCAL_MODEL_PATH" in status.reason


def test_engine_streams_the_local_model_and_logs_it(services):
    stream = services.engine.stream(
        CompletionRequest(messages=[Message("user", "Say hi.")], max_tokens=12, temperature=0)
    )
    text = "".join(stream)
    assert text
    [row] = services.telemetry.recent_calls()
    assert (row.provider, row.model, row.status) == ("local", "gemma-3-270m", "ok")
    assert row.cost_usd == 0.0  # self-hosted: free unless a price override says otherwise
    assert row.ttft_ms and row.tokens_per_s and row.output_tokens > 0


def test_chat_format_follows_the_file_and_the_setting():
    """auto uses a GGUF's own chat template only when the file carries one;
    the bundled base model does not, so it stays completion-style. `template`
    forces the chat path (for instruction-tuned files)."""
    from core.providers.local import bundled_model_path

    path = bundled_model_path(MODELS_DIR)
    req = ChatRequest(model=path.stem, messages=[Message("user", "Hi")], max_tokens=8)
    auto = LocalProvider(models_dir=MODELS_DIR, model_path=path, chat_format="auto")
    assert auto.model_id == path.stem
    auto.complete(req)
    assert auto._use_template is False
    forced = LocalProvider(models_dir=MODELS_DIR, model_path=path, chat_format="template")
    out = forced.complete(req)
    assert forced._use_template is True
    assert out.finish_reason in ("stop", "length")
