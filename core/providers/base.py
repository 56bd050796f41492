"""The one protocol every provider adapter implements.

A provider owns credentials, base URL and client; it turns a `ChatRequest`
into text and usage. `stream` returns a `StreamedCompletion`: iterate it for
text deltas, and it accumulates usage and finish reason as it goes, which is
what cost tracking and time-to-first-token need.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


JSON_INSTRUCTION = (
    "Answer with one JSON value only: no other text and no code fence. "
    "It must match this JSON Schema:\n{schema}"
)


def with_json_instruction(messages: list[Message], schema: dict[str, Any]) -> list[Message]:
    """`messages` with the JSON instruction at the end of the (first) system message.

    Small models rarely answer in JSON from a schema alone; with the instruction, and
    a grammar where the provider has one, they do.
    """
    note = JSON_INSTRUCTION.format(schema=json.dumps(schema, ensure_ascii=False))
    out = list(messages)
    for i, m in enumerate(out):
        if m.role == "system":
            out[i] = Message("system", f"{m.content}\n\n{note}" if m.content else note)
            return out
    return [Message("system", note), *out]


@dataclass(slots=True)
class ChatRequest:
    """What an adapter needs for one call. `model` is the provider's own name."""

    model: str
    messages: list[Message]
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    timeout: float | None = None
    #: Provider-specific parameters (seed, penalties) sent as they are by adapters whose
    #: API takes them (the OpenAI-compatible ones); others ignore them.
    extra: dict[str, Any] | None = None
    #: The answer must be one JSON value matching this JSON Schema. Every adapter
    #: sends `schema_messages` (the instruction); those that can also constrain
    #: generation do (OpenAI-compatible: `response_format`; local: a grammar).
    json_schema: dict[str, Any] | None = None

    def schema_messages(self) -> list[Message]:
        """The messages with the JSON instruction added to the system prompt, if needed."""
        if self.json_schema is None:
            return self.messages
        return with_json_instruction(self.messages, self.json_schema)


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0


@dataclass(slots=True)
class Completion:
    text: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    model: str | None = None


class StreamedCompletion:
    """Text deltas from a provider, accumulating text, usage and finish reason.

    Adapters hand a generator of deltas plus a callback that fills usage;
    the generator updates `usage` and `finish_reason` on this object as the
    final chunks arrive.
    """

    def __init__(self, deltas: Callable[[StreamedCompletion], Iterator[str]]) -> None:
        self.usage = Usage()
        self.finish_reason: str | None = None
        self.model: str | None = None
        self._parts: list[str] = []
        self._deltas = deltas(self)
        self.done = False

    def __iter__(self) -> Iterator[str]:
        try:
            for delta in self._deltas:
                if delta:
                    self._parts.append(delta)
                    yield delta
            self.done = True
        finally:
            # A reader that stops early closes the provider's stream with it.
            self.close()

    def close(self) -> None:
        close = getattr(self._deltas, "close", None)
        if close:
            close()

    @property
    def text(self) -> str:
        return "".join(self._parts)


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """Whether a provider can work here, and if not, why, in one sentence."""

    name: str
    label: str
    available: bool
    reason: str
    models: tuple[str, ...] = ()


@runtime_checkable
class Provider(Protocol):
    """One model provider. Adapters declare what they can do as attributes."""

    name: str
    label: str
    #: Self-hosted and local models cost nothing unless a price override says so.
    self_hosted: bool

    def status(self) -> ProviderStatus: ...

    def complete(self, request: ChatRequest) -> Completion: ...

    def stream(self, request: ChatRequest) -> StreamedCompletion: ...
