"""Build the whole core from settings, once: the handle the app, CLI and tests use."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine as DBEngine

from core.access import AccessService
from core.config import Settings, enforce_offline
from core.costs import PriceBook
from core.db import make_engine, migrate
from core.engine import Engine
from core.prompts import PromptRegistry
from core.prompts.stage import RenderStage
from core.prompts.stage import install as install_render
from core.providers.registry import ProviderRegistry
from core.rag.service import RagService
from core.reliability import Reliability
from core.telemetry.store import TelemetryStore


@dataclass
class Services:
    settings: Settings
    db: DBEngine
    registry: ProviderRegistry
    prices: PriceBook
    telemetry: TelemetryStore
    engine: Engine
    reliability: Reliability
    rag: RagService
    access: AccessService
    prompts: PromptRegistry
    #: The engine's render stage (experiments set its `variant_selector`).
    render: RenderStage

    @classmethod
    def build(
        cls, settings: Settings | None = None, *, registry: ProviderRegistry | None = None
    ) -> Services:
        enforce_offline()
        settings = settings or Settings()
        settings.ensure_data_dir()
        db = make_engine(settings.resolved_database_url)
        migrate(db)
        registry = registry or ProviderRegistry.from_settings(settings)
        prices = PriceBook(db, self_hosted=registry.self_hosted())
        telemetry = TelemetryStore(db)
        engine = Engine(settings, registry, prices, telemetry)
        reliability = Reliability(db, prices, settings.max_output_tokens)
        reliability.install(engine)
        rag = RagService(settings, db)  # Chroma and the embedder open on first use
        rag.install(engine)
        prompts = PromptRegistry(db)
        render = install_render(engine, prompts)
        if settings.guards_enabled:
            from core.guards import install_guards

            install_guards(engine, db, settings)
        access = AccessService(db, reliability.budgets)
        return cls(settings, db, registry, prices, telemetry, engine, reliability, rag, access,
                   prompts=prompts, render=render)

    def close(self) -> None:
        self.rag.close()
        self.db.dispose()
