"""Anthropic Messages API over the official `anthropic` SDK."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from core.providers import errors as E
from core.providers._sdk_errors import translate
from core.providers.base import (
    ChatRequest,
    Completion,
    ProviderStatus,
    StreamedCompletion,
    Usage,
)

#: The Messages API requires max_tokens; this is used when the caller sets none.
DEFAULT_MAX_TOKENS = 1024


def _import_anthropic():  # noqa: ANN202
    try:
        import anthropic
    except ImportError as exc:  # pragma: no cover
        raise E.ProviderUnavailable(
            "The anthropic package is not installed; run `make run` again to install it."
        ) from exc
    return anthropic


class AnthropicProvider:
    name = "anthropic"
    label = "Anthropic"
    self_hosted = False

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None = None,
        models: list[str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url
        self._models = list(models or [])
        self._timeout = timeout
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    anthropic = _import_anthropic()
                    self._client = anthropic.Anthropic(
                        api_key=self._api_key,
                        base_url=self._base_url,
                        max_retries=0,
                        timeout=self._timeout,
                    )
        return self._client

    def status(self) -> ProviderStatus:
        if not self._api_key:
            return ProviderStatus(
                self.name,
                self.label,
                False,
                "No API key: set ANTHROPIC_API_KEY in .env to use Anthropic.",
            )
        return ProviderStatus(self.name, self.label, True, "API key set.", tuple(self._models))

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        # Anthropic takes the system prompt as a parameter, not a message.
        # A requested JSON Schema goes in as an instruction: there is no schema parameter.
        messages = request.schema_messages()
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        params: dict[str, Any] = {
            "model": request.model,
            "messages": [
                {"role": m.role, "content": m.content}
                for m in messages
                if m.role != "system"
            ],
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        }
        if system:
            params["system"] = system
        if request.temperature is not None:
            # Anthropic's range is 0..1; OpenAI-style 0..2 values are scaled down.
            params["temperature"] = min(request.temperature, 1.0)
        if request.top_p is not None:
            params["top_p"] = request.top_p
        if request.stop:
            params["stop_sequences"] = request.stop
        if request.timeout is not None:
            params["timeout"] = request.timeout
        return params

    def complete(self, request: ChatRequest) -> Completion:
        anthropic = _import_anthropic()
        try:
            msg = self.client.messages.create(**self._params(request))
        except Exception as exc:  # noqa: BLE001
            raise translate(anthropic, exc, self.label) from exc
        text = "".join(block.text for block in msg.content if block.type == "text")
        return Completion(
            text=text, usage=_usage(msg.usage), finish_reason=msg.stop_reason, model=msg.model
        )

    def stream(self, request: ChatRequest) -> StreamedCompletion:
        anthropic = _import_anthropic()
        params = self._params(request)
        params["stream"] = True
        try:
            raw = self.client.messages.create(**params)
        except Exception as exc:  # noqa: BLE001
            raise translate(anthropic, exc, self.label) from exc

        def deltas(acc: StreamedCompletion) -> Iterator[str]:
            stopped = False
            try:
                for event in raw:
                    kind = event.type
                    if kind == "message_start":
                        acc.usage = _usage(event.message.usage)
                        acc.model = event.message.model
                    elif kind == "content_block_delta" and event.delta.type == "text_delta":
                        yield event.delta.text
                    elif kind == "message_delta":
                        acc.finish_reason = event.delta.stop_reason
                        if event.usage and event.usage.output_tokens is not None:
                            acc.usage.output_tokens = event.usage.output_tokens
                    elif kind == "message_stop":
                        stopped = True
            except Exception as exc:  # noqa: BLE001
                raise translate(anthropic, exc, self.label, mid_stream=True) from exc
            finally:
                raw.close()
            if not stopped:
                raise E.StreamInterrupted("stream ended before message_stop", provider=self.label)

        return StreamedCompletion(deltas)


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    cached = getattr(usage, "cache_read_input_tokens", None) or 0
    return Usage(
        # Anthropic reports cache reads apart from input; Trellis counts all
        # prompt tokens as input and the cached share separately.
        input_tokens=(usage.input_tokens or 0) + cached,
        output_tokens=usage.output_tokens or 0,
        cached_tokens=cached,
    )
