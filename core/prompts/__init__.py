"""The prompt registry: versioned prompts, labels, templates, and the engine's
`render` stage.

Also a library for applications, without Streamlit::

    from core import prompts
    version = prompts.get("support-reply", label="production")
    messages = version.render({"customer": "Ada"})

`get` uses the Trellis database from the usual settings (TRELLIS_DATA_DIR or
DATABASE_URL); `connect(url)` gives a registry on another database.
"""

from __future__ import annotations

import threading
from typing import Any

from core.prompts.registry import (
    BUILTIN_LABELS,
    DEFAULT_LABEL,
    LATEST,
    PromptRegistry,
    config_label,
    diff_versions,
    slugify,
)
from core.prompts.templates import MissingVariable, PromptError, find_variables
from core.prompts.types import (
    LabelInfo,
    LabelMove,
    LabelMoveRequest,
    Prompt,
    PromptConfig,
    PromptMessage,
    PromptVersion,
    SaveResult,
    Variable,
    VersionDiff,
)

__all__ = [
    "BUILTIN_LABELS",
    "DEFAULT_LABEL",
    "LATEST",
    "LabelInfo",
    "LabelMove",
    "LabelMoveRequest",
    "MissingVariable",
    "Prompt",
    "PromptConfig",
    "PromptError",
    "PromptMessage",
    "PromptRegistry",
    "PromptVersion",
    "SaveResult",
    "Variable",
    "VersionDiff",
    "config_label",
    "connect",
    "diff_versions",
    "find_variables",
    "get",
    "slugify",
]

_default: tuple[str, PromptRegistry] | None = None
_default_lock = threading.Lock()


def connect(url: str | None = None) -> PromptRegistry:
    """A registry on `url` (default: the configured Trellis database), migrated."""
    from core.config import Settings
    from core.db import make_engine, migrate

    if url is None:
        url = Settings().resolved_database_url
    if url.startswith("sqlite:///"):
        Settings().ensure_data_dir()
    db = make_engine(url)
    migrate(db)
    return PromptRegistry(db)


def get(name: str, *, label: str | None = None, version: int | None = None) -> PromptVersion:
    """The version `label` (default production) or `version` of prompt `name`."""
    global _default
    from core.config import Settings

    url = Settings().resolved_database_url
    with _default_lock:
        if _default is None or _default[0] != url:
            if _default is not None:
                _default[1]._db.dispose()  # noqa: SLF001 - ours
            _default = (url, connect(url))
        registry = _default[1]
    return registry.get(name, label=label, version=version)


def render(name: str, variables: dict[str, Any] | None = None, *, label: str | None = None,
           version: int | None = None):  # noqa: ANN201 - list[Message]
    """Shortcut: `get(name, ...).render(variables)`."""
    return get(name, label=label, version=version).render(variables)
