"""Which providers exist, which can work here, and model id resolution.

A model id is `provider/model`, for example `openai/gpt-4o-mini`,
`anthropic/claude-haiku-4-5`, `compat/llama3.1:8b` (an OpenAI-compatible
server), `local/smollm2-135m-instruct` or `local/gemma-3-270m` (the embedded models).
"""

from __future__ import annotations

from core.config import Settings
from core.providers import errors as E
from core.providers.anthropic_provider import AnthropicProvider
from core.providers.base import Provider, ProviderStatus
from core.providers.local import LocalProvider
from core.providers.openai_provider import OpenAIProvider


def _secret(value) -> str | None:  # noqa: ANN001 - SecretStr | None
    return value.get_secret_value() if value is not None else None


class ProviderRegistry:
    def __init__(self, providers: list[Provider]) -> None:
        self._providers = {p.name: p for p in providers}

    @classmethod
    def from_settings(cls, settings: Settings) -> ProviderRegistry:
        providers: list[Provider] = [
            LocalProvider(
                models_dir=settings.resolved_models_dir,
                model_path=settings.local_model_path,
                chat_format=settings.local_chat_format,
                n_ctx=settings.local_context,
                n_threads=settings.local_threads,
            ),
            OpenAIProvider(
                api_key=_secret(settings.openai_api_key),
                base_url=settings.openai_base_url,
                models=settings.openai_models,
                timeout=settings.request_timeout_s,
            ),
            AnthropicProvider(
                api_key=_secret(settings.anthropic_api_key),
                base_url=settings.anthropic_base_url,
                models=settings.anthropic_models,
                timeout=settings.request_timeout_s,
            ),
        ]
        if settings.compat_base_url:
            providers.append(
                OpenAIProvider(
                    name="compat",
                    label="OpenAI-compatible server",
                    api_key=_secret(settings.compat_api_key),
                    base_url=settings.compat_base_url,
                    models=settings.compat_models,
                    self_hosted=True,
                    key_required=False,
                    timeout=settings.request_timeout_s,
                )
            )
        return cls(providers)

    def add(self, provider: Provider) -> None:
        self._providers[provider.name] = provider

    def get(self, name: str) -> Provider:
        try:
            return self._providers[name]
        except KeyError:
            raise E.ProviderUnavailable(
                f"There is no provider called '{name}'; pick one of: "
                + ", ".join(sorted(self._providers))
                + "."
            ) from None

    def names(self) -> list[str]:
        return list(self._providers)

    def self_hosted(self) -> frozenset[str]:
        return frozenset(n for n, p in self._providers.items() if p.self_hosted)

    def statuses(self) -> list[ProviderStatus]:
        return [p.status() for p in self._providers.values()]

    def available_models(self) -> list[str]:
        """Every `provider/model` id that can be called now."""
        return [f"{s.name}/{m}" for s in self.statuses() if s.available for m in s.models]

    def resolve(self, model_id: str) -> tuple[Provider, str]:
        """Split `provider/model` and check the provider can work."""
        if "/" not in model_id:
            raise E.InvalidRequest(
                f"Model '{model_id}' should be written as provider/model, e.g. local/gemma-3-270m."
            )
        name, model = model_id.split("/", 1)
        provider = self.get(name)
        status = provider.status()
        if not status.available:
            raise E.ProviderUnavailable(status.reason, provider=provider.label)
        return provider, model
