"""How many tokens a model's context holds, and about how many a prompt takes.

Windows, in order:

1. a local model: the `n_ctx` the local provider loads it with
   (TRELLIS_LOCAL_CONTEXT, 2048 by default);
2. an OpenAI or Anthropic model: the `context_window` the bundled
   `genai-prices` data lists for it (never fetched from the network);
3. anything else (an OpenAI-compatible server, a model the data does not
   know): TRELLIS_DEFAULT_CONTEXT_TOKENS, 8,192 unless set; deliberately
   small, so an unknown model is not promised more than most models hold.

A `route/<name>` gets the smallest window of its chain: any deployment
may serve it.

Token counts: with the local model's own tokenizer when that model is
loaded already; otherwise an estimate of one token per 4 bytes of UTF-8 text
(about right for English with GPT-style tokenizers; it undercounts for
languages written without spaces, whose characters take 3 bytes and about a
token each). Each message adds 4 tokens for its role and separators, and the
reply's opening 3 more (the overhead OpenAI documents for its chat format).
Counting never loads a model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from core.config import Settings
from core.providers.base import Message

ROUTE_PREFIX = "route/"
PER_MESSAGE_TOKENS = 4
REPLY_TOKENS = 3
BYTES_PER_TOKEN = 4

_GENAI_PROVIDERS = {"openai": "openai", "anthropic": "anthropic"}


@dataclass(frozen=True, slots=True)
class Window:
    tokens: int
    #: Where the figure comes from: "local model", "price data" or "default".
    source: str


@dataclass(frozen=True, slots=True)
class TokenCount:
    tokens: int
    #: True when counted by the model's own tokenizer, False for the estimate.
    exact: bool


def estimate_text_tokens(text: str) -> int:
    """The cheap bound: a token per 4 bytes of UTF-8, rounded up."""
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / BYTES_PER_TOKEN)


@lru_cache(maxsize=256)
def _price_data_window(provider_id: str, model: str) -> int | None:
    try:
        from genai_prices import data_snapshot

        _provider, info = data_snapshot.get_snapshot().find_provider_model(
            model, None, provider_id, None
        )
    except (LookupError, ImportError):
        return None
    window = getattr(info, "context_window", None)
    return int(window) if window else None


class ContextWindows:
    """Context windows and token counts for the models a provider registry serves."""

    def __init__(
        self,
        settings: Settings,
        providers: object,
        chain: Callable[[str], list[str]] | None = None,
    ) -> None:
        self.settings = settings
        self.providers = providers  # a ProviderRegistry (typed loosely: no import cycle)
        #: Resolves `route/<name>` to its deployments (the reliability route table).
        self.chain = chain

    def _provider(self, name: str) -> object | None:
        try:
            return self.providers.get(name)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - an unknown provider: the validate stage says so
            return None

    def window(self, model_id: str) -> Window:
        """The context window of `model_id` (a route: the smallest of its chain)."""
        if model_id.startswith(ROUTE_PREFIX) and self.chain is not None:
            try:
                chain = self.chain(model_id)
            except Exception:  # noqa: BLE001 - an unknown route fails in the route stage
                chain = []
            windows = [self.window(m) for m in chain if not m.startswith(ROUTE_PREFIX)]
            if windows:
                return min(windows, key=lambda w: w.tokens)
        name, _, model = model_id.partition("/")
        provider = self._provider(name)
        local_window = getattr(provider, "context_window", None)
        if callable(local_window):
            return Window(int(local_window(model)), "local model")
        provider_id = _GENAI_PROVIDERS.get(name)
        if provider_id and model:
            found = _price_data_window(provider_id, model)
            if found:
                return Window(found, "price data")
        return Window(self.settings.default_context_tokens, "default")

    def count(self, messages: Sequence[Message], model_id: str) -> TokenCount:
        """Tokens `messages` take for `model_id`: exact when a loaded tokenizer can tell."""
        texts = [m.content for m in messages]
        name, _, model = model_id.partition("/")
        counter = getattr(self._provider(name), "count_tokens", None)
        counts = None
        if callable(counter):
            try:
                counts = counter(texts, model)
            except Exception:  # noqa: BLE001 - the estimate below still answers
                counts = None
        exact = counts is not None
        if counts is None:
            counts = [estimate_text_tokens(t) for t in texts]
        total = sum(counts) + PER_MESSAGE_TOKENS * len(texts) + REPLY_TOKENS
        return TokenCount(total, exact)
