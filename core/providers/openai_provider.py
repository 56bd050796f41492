"""OpenAI Chat Completions, and any server that speaks the same API.

One adapter serves api.openai.com and OpenAI-compatible servers (vLLM,
Ollama, LM Studio, TGI, llama.cpp's server); they differ only in base URL,
key, how models are listed, and whether calls cost money.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from core.providers import errors as E
from core.providers.base import (
    ChatRequest,
    Completion,
    ProviderStatus,
    StreamedCompletion,
    Usage,
)


def _import_openai():  # noqa: ANN202 - returns the module
    try:
        import openai
    except ImportError as exc:  # pragma: no cover - openai is a core dependency
        raise E.ProviderUnavailable(
            "The openai package is not installed; run `make run` again to install it."
        ) from exc
    return openai


class OpenAIProvider:
    """Chat Completions over the official `openai` SDK."""

    def __init__(
        self,
        *,
        name: str = "openai",
        label: str = "OpenAI",
        api_key: str | None,
        base_url: str | None = None,
        models: list[str] | None = None,
        self_hosted: bool = False,
        key_required: bool = True,
        timeout: float = 60.0,
        probe_ttl: float = 15.0,
    ) -> None:
        self.name = name
        self.label = label
        self.self_hosted = self_hosted
        self._api_key = api_key
        self._base_url = base_url
        self._models = list(models or [])
        self._key_required = key_required
        self._timeout = timeout
        self._client: Any = None
        self._lock = threading.Lock()
        self._probe_ttl = probe_ttl
        self._probe: tuple[float, ProviderStatus] | None = None

    # -- client -----------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    openai = _import_openai()
                    # Retries belong to the engine's reliability layer, which counts them.
                    self._client = openai.OpenAI(
                        api_key=self._api_key or "not-needed",
                        base_url=self._base_url,
                        max_retries=0,
                        timeout=self._timeout,
                    )
        return self._client

    # -- status -----------------------------------------------------------
    def status(self) -> ProviderStatus:
        if self._key_required and not self._api_key:
            return ProviderStatus(
                self.name,
                self.label,
                False,
                f"No API key: set OPENAI_API_KEY in .env to use {self.label}.",
            )
        if not self.self_hosted:
            return ProviderStatus(self.name, self.label, True, "API key set.", tuple(self._models))
        now = time.monotonic()
        if self._probe and now - self._probe[0] < self._probe_ttl:
            return self._probe[1]
        status = self._probe_server()
        self._probe = (now, status)
        return status

    def _probe_server(self) -> ProviderStatus:
        """A self-hosted server is available only when it answers /models."""
        try:
            listed = [m.id for m in self.client.with_options(timeout=2.0).models.list()]
        except Exception as exc:  # noqa: BLE001 - any failure means unreachable
            err = E.ConnectionFailed(str(exc), provider=self.label)
            return ProviderStatus(
                self.name,
                self.label,
                False,
                f"Server at {self._base_url} is not reachable ({err.error_class}); "
                "start it or fix TRELLIS_COMPAT_BASE_URL in .env.",
            )
        models = tuple(self._models or listed)
        return ProviderStatus(
            self.name, self.label, True, f"Server at {self._base_url} answered.", models
        )

    # -- calls ------------------------------------------------------------
    def _params(self, request: ChatRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content}
                         for m in request.schema_messages()],
        }
        if request.json_schema is not None:
            # Not strict: strict mode refuses many ordinary schemas (optional fields,
            # formats); the output guard validates the answer either way.
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": request.json_schema},
            }
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        if request.top_p is not None:
            params["top_p"] = request.top_p
        if request.stop:
            params["stop"] = request.stop
        if request.timeout is not None:
            params["timeout"] = request.timeout
        if request.extra:
            params["extra_body"] = dict(request.extra)
        return params

    def complete(self, request: ChatRequest) -> Completion:
        openai = _import_openai()
        params = self._params(request)
        timeout = params.pop("timeout", None)
        params.update(params.pop("extra_body", None) or {})
        try:
            # The SDK's own request path (auth, retries, status errors) without its
            # parameter transform and response models: the body is already plain JSON, and
            # those two cost about 0.6 ms a call, more than the rest of the engine.
            data = self.client.post("/chat/completions", cast_to=object, body=params,
                                    options={"timeout": timeout} if timeout is not None else {})
        except Exception as exc:  # noqa: BLE001 - translated below
            raise _translate(openai, exc, self.label) from exc
        if not isinstance(data, dict):
            raise E.ServerError("the answer is not a JSON object", provider=self.label)
        choices = data.get("choices") or []
        choice = None
        if choices:
            choice = choices[0] if isinstance(choices[0], dict) else {}
        message = (choice or {}).get("message") or {}
        return Completion(
            text=(message.get("content") or "") if choice is not None else "",
            usage=_usage_of(data.get("usage")),
            finish_reason=choice.get("finish_reason") if choice else None,
            model=data.get("model"),
        )

    def stream(self, request: ChatRequest) -> StreamedCompletion:
        openai = _import_openai()
        params = self._params(request)
        timeout = params.pop("timeout", None)
        params.update(params.pop("extra_body", None) or {})
        params["stream"] = True
        params["stream_options"] = {"include_usage": True}
        try:
            # As in `complete`: the SDK's request path and SSE decoder, with the chunks
            # kept as plain JSON instead of one response model per chunk.
            raw = self.client.post("/chat/completions", cast_to=object, body=params,
                                   stream=True, stream_cls=openai.Stream[object],
                                   options={"timeout": timeout} if timeout is not None else {})
        except Exception as exc:  # noqa: BLE001
            raise _translate(openai, exc, self.label) from exc

        def deltas(acc: StreamedCompletion) -> Iterator[str]:
            chunks = 0
            try:
                for chunk in raw:
                    if not isinstance(chunk, dict):
                        continue  # not a chunk object: nothing to read from it
                    if chunk.get("usage"):
                        acc.usage = _usage_of(chunk["usage"])
                    acc.model = chunk.get("model") or acc.model
                    for choice in chunk.get("choices") or ():
                        if not isinstance(choice, dict):
                            continue
                        if choice.get("finish_reason"):
                            acc.finish_reason = choice["finish_reason"]
                        delta = choice.get("delta")
                        text = delta.get("content") if isinstance(delta, dict) else None
                        if isinstance(text, str) and text:
                            chunks += 1
                            yield text
            except Exception as exc:  # noqa: BLE001
                raise _translate(openai, exc, self.label, mid_stream=True) from exc
            finally:
                raw.close()
            if acc.finish_reason is None:
                # A stream that ends without a finish reason was cut off.
                raise E.StreamInterrupted(
                    "stream ended without a finish reason", provider=self.label
                )
            if acc.usage.output_tokens == 0 and chunks:
                # Some servers omit the usage chunk; one chunk is about one token.
                acc.usage.output_tokens = chunks

        return StreamedCompletion(deltas)


def _translate(
    openai: Any, exc: Exception, label: str, *, mid_stream: bool = False
) -> E.TrellisError:
    from core.providers._sdk_errors import translate

    return translate(openai, exc, label, mid_stream=mid_stream)


def _usage_of(usage: Any) -> Usage:
    """Usage from the answer's JSON `usage` object."""
    if not isinstance(usage, dict):
        return Usage()
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else 0
    return Usage(
        input_tokens=usage.get("prompt_tokens") or 0,
        output_tokens=usage.get("completion_tokens") or 0,
        cached_tokens=cached or 0,
    )
