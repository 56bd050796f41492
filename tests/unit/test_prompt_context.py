"""A rendered prompt against the chosen model's context window: windows, token
counts, and the plain sentence when a prompt does not fit."""

from __future__ import annotations

import pytest

from core.config import Settings
from core.prompts.stage import PromptTooLong, check_fits
from core.providers.base import Message, with_json_instruction
from core.providers.context import (
    PER_MESSAGE_TOKENS,
    REPLY_TOKENS,
    ContextWindows,
    estimate_text_tokens,
)
from core.providers.registry import ProviderRegistry
from tests.conftest import MODELS_DIR


@pytest.fixture
def windows(monkeypatch):
    monkeypatch.setenv("TRELLIS_LOCAL_CONTEXT", "1024")
    monkeypatch.setenv("TRELLIS_DEFAULT_CONTEXT_TOKENS", "4096")
    settings = Settings()
    chains = {"route/cheap": ["openai/gpt-4o-mini", "local/smollm2-135m-instruct"]}
    return ContextWindows(settings, ProviderRegistry.from_settings(settings),
                          chain=lambda m: chains[m])


def test_each_model_gets_its_own_window(windows):
    assert windows.window("local/smollm2-135m-instruct").tokens == 1024  # the n_ctx it loads
    assert windows.window("local/smollm2-135m-instruct").source == "local model"
    assert windows.window("openai/gpt-4o-mini").tokens == 128_000  # genai-prices data
    assert windows.window("anthropic/claude-haiku-4-5").tokens == 200_000
    assert windows.window("openai/gpt-4o-mini").source == "price data"
    # A model nobody lists, and a provider not configured: the conservative default.
    assert windows.window("openai/my-finetune-xyz").tokens == 4096
    assert windows.window("compat/llama3.1:8b").source == "default"
    # A route may be served by any deployment of its chain: the smallest window.
    assert windows.window("route/cheap").tokens == 1024


def test_the_cheap_estimate_is_a_token_per_four_bytes_plus_message_overhead(windows):
    assert estimate_text_tokens("abcd" * 10) == 10
    assert estimate_text_tokens("abcde") == 2
    assert estimate_text_tokens("日本語") == 3  # 9 bytes of UTF-8
    msgs = [Message("system", "a" * 40), Message("user", "b" * 8)]
    count = windows.count(msgs, "openai/gpt-4o-mini")
    assert count.tokens == 10 + 2 + 2 * PER_MESSAGE_TOKENS + REPLY_TOKENS
    assert count.exact is False
    # The local model is not loaded in this test: counting never loads it.
    assert windows.count(msgs, "local/smollm2-135m-instruct").exact is False


def test_a_prompt_that_does_not_fit_is_one_sentence_naming_version_size_and_limit(windows):
    msgs = [Message("system", "x" * 3000), Message("user", "y" * 400)]  # 850 + 11 tokens
    size = check_fits(windows, "support v3", msgs, "openai/gpt-4o-mini", 100)
    assert size == {"tokens": 861, "exact": False, "window": 128_000}
    with pytest.raises(PromptTooLong) as info:
        check_fits(windows, "support v3", msgs, "local/smollm2-135m-instruct", 200)
    assert info.value.user_message == (
        "Prompt support v3 needs about 1,061 tokens (861 for the messages and 200 for the "
        "answer), but local/smollm2-135m-instruct holds 1,024. Shorten the messages, the "
        "examples or the variable values, lower Max tokens, or pick a model with a larger "
        "context.")
    # Without max tokens the messages alone fit.
    check_fits(windows, "support v3", msgs, "local/smollm2-135m-instruct", None)
    with pytest.raises(PromptTooLong, match="^The draft of support needs about 1,065 tokens "
                                            "for its messages, but route/cheap holds 1,024."):
        check_fits(windows, "the draft of support", msgs + [Message("user", "z" * 800)],
                   "route/cheap", None)


def test_the_json_instruction_a_schema_adds_is_counted(windows):
    schema = {"type": "object", "properties": {f"field_{i}": {"type": "string"}
                                               for i in range(40)}}
    msgs = [Message("system", "x" * 3000), Message("user", "y" * 400)]  # 861 tokens
    plain = check_fits(windows, "support v3", msgs, "openai/gpt-4o-mini", None)
    sent = with_json_instruction(msgs, schema)
    with_schema = check_fits(windows, "support v3", msgs, "openai/gpt-4o-mini", None,
                             json_schema=schema)
    assert with_schema["tokens"] == windows.count(sent, "openai/gpt-4o-mini").tokens
    assert with_schema["tokens"] > plain["tokens"] + 200
    # The messages alone fit the local model's 1,024 tokens; with the instruction they do not.
    check_fits(windows, "support v3", msgs, "local/smollm2-135m-instruct", None)
    with pytest.raises(PromptTooLong, match="for its messages, but local/smollm2"):
        check_fits(windows, "support v3", msgs, "local/smollm2-135m-instruct", None,
                   json_schema=schema)
    # Something that is not a schema (a caller's bad option) is left to validation.
    assert check_fits(windows, "support v3", msgs, "openai/gpt-4o-mini", None,
                      json_schema="not a schema") == plain


@pytest.mark.slow
def test_a_loaded_local_model_counts_with_its_own_tokenizer():
    from core.providers.local import LocalProvider

    local = LocalProvider(models_dir=MODELS_DIR, n_ctx=512)
    if not local.status().available:
        pytest.skip("the local model is not installed")
    assert local.count_tokens(["hello"], "smollm2-135m-instruct") is None  # not loaded yet
    local.warm_up("smollm2-135m-instruct")
    [n] = local.count_tokens(["Hello there, how are you today?"], "smollm2-135m-instruct")
    assert 5 <= n <= 12
    settings = Settings()

    class _One:
        def get(self, name):
            return local

    windows = ContextWindows(settings, _One())
    count = windows.count([Message("user", "Hello there, how are you today?")],
                          "local/smollm2-135m-instruct")
    assert count.exact and count.tokens == n + PER_MESSAGE_TOKENS + REPLY_TOKENS
    assert windows.window("local/smollm2-135m-instruct").tokens == 512
