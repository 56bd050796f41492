"""Build the whole core from settings, once: the handle the app, CLI and tests use."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine as DBEngine

from core.access import AccessService
from core.config import Settings, enforce_offline
from core.costs import PriceBook
from core.db import make_engine, migrate
from core.engine import Engine
from core.prompts import PromptRegistry
from core.prompts.experiments import ExperimentService
from core.prompts.stage import RenderStage
from core.prompts.stage import install as install_render
from core.providers.registry import ProviderRegistry
from core.rag.jobs import IngestJobs
from core.rag.service import RagService
from core.reliability import Reliability
from core.telemetry.conversations import ConversationStore
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
    conversations: ConversationStore
    #: A/B tests of prompt versions; its selector is the render stage's variant_selector.
    experiments: ExperimentService
    #: The installed guards (None when TRELLIS_GUARDS_ENABLED is off).
    guards: Any = None

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
        render = install_render(engine, prompts, chain=reliability.routes.chain)
        jobs = IngestJobs(rag)
        try:  # documents and jobs a dead process left half-done: failed, chunks removed
            jobs.recover()
        except Exception:  # noqa: BLE001 - startup goes on; the worker sweeps again later
            log.exception("could not recover interrupted ingestion at start")
        conversations = ConversationStore(db)
        guards = None
        if settings.guards_enabled:
            from core.guards import install_guards

            guards = install_guards(engine, db, settings)
            # Conversations are stored redacted, exactly as the call log is.
            conversations.text_filter = guards.redact_text
        access = AccessService(db, reliability.budgets)
        experiments = ExperimentService(db, prompts, access)
        render.variant_selector = experiments.select_variant
        prompts.move_checks.append(experiments.move_check)
        return cls(settings, db, registry, prices, telemetry, engine, reliability, rag, access,
                   prompts=prompts, render=render, jobs=jobs, conversations=conversations,
                   experiments=experiments, guards=guards)

    def warm_up(self, on_step: Callable[[str], None] | None = None) -> list[str]:
        """Load the heavy models now (PII analyzer, the default local model, the
        embedder), so a user's first message does not wait seconds for them.

        Meant for a background thread at start-up; each part that fails is logged and
        skipped (the call that needs it will say what is wrong). Returns what loaded.
        """
        steps: list[tuple[str, Callable[[], object]]] = []
        if self.guards is not None:
            steps.append(("pii", lambda: self.guards.scanner.analyzer.analyze(
                text="Warm-up.", language="en")))
        provider_name, _, model = self.settings.default_model.partition("/")
        if provider_name == "local":
            local = self.registry.get("local")
            steps.append(("local_model", lambda: local.warm_up(model)))
        steps.append(("embedder", lambda: self.rag.embedder().tokenizer))
        done: list[str] = []
        for name, load in steps:
            if on_step is not None:
                on_step(name)
            try:
                load()
            except Exception:  # noqa: BLE001 - warming is an optimisation, never a failure
                log.warning("warm-up of %s failed", name, exc_info=True)
                continue
            done.append(name)
        return done

    def close(self) -> None:
        self.jobs.stop()
        self.rag.close()
        self.telemetry.close_writer()  # rows queued by the gateway are written first
        self.db.dispose()
