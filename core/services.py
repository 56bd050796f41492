"""Build the whole core from settings, once: the handle the app, CLI and tests use."""

from __future__ import annotations

import logging
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
from core.rag.jobs import IngestJobs
from core.rag.service import RagService
from core.reliability import Reliability
from core.telemetry.store import TelemetryStore

log = logging.getLogger(__name__)


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
    jobs: IngestJobs

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
        jobs = IngestJobs(rag)
        try:  # documents and jobs a dead process left half-done: failed, chunks removed
            jobs.recover()
        except Exception:  # noqa: BLE001 - startup goes on; the worker sweeps again later
            log.exception("could not recover interrupted ingestion at start")
        if settings.guards_enabled:
            from core.guards import install_guards

            install_guards(engine, db, settings)
        access = AccessService(db, reliability.budgets)
        return cls(settings, db, registry, prices, telemetry, engine, reliability, rag, access,
                   prompts=prompts, render=render, jobs=jobs)

    def close(self) -> None:
        self.jobs.stop()
        self.rag.close()
        self.db.dispose()
