"""Switch off every library's attempt to reach a model hub.

Trellis loads weights only from installed packages or local paths. These
variables must be set before the libraries are imported, so the engine calls
`enforce_offline()` first thing.
"""

from __future__ import annotations

import os

_OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",  # chromadb's posthog telemetry
    "TOKENIZERS_PARALLELISM": "false",
}


def enforce_offline() -> None:
    """Set the offline switches unless the operator chose otherwise."""
    for key, value in _OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
