"""Shared fixtures. Every test gets its own data directory and a clean
environment (no provider keys from the developer's shell or .env)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings, enforce_offline

ROOT = Path(__file__).resolve().parents[1]
# The bundled model is assembled once per machine, not once per test.
MODELS_DIR = ROOT / "data" / "models"

enforce_offline()

_PROVIDER_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "DATABASE_URL",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point Trellis at a fresh data dir and away from the repo's .env."""
    for name in list(os.environ):
        if name.startswith("TRELLIS_") or name in _PROVIDER_ENV:
            monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("TRELLIS_DATA_DIR", str(data))
    monkeypatch.setenv("TRELLIS_MODELS_DIR", str(MODELS_DIR))
    # Guards are on in the product; suites about other stages turn them off so
    # their assertions see plain text. The guard suites turn them back on.
    monkeypatch.setenv("TRELLIS_GUARDS_ENABLED", "false")
    # The app's background model warm-up: tests load what they use when they use it.
    monkeypatch.setenv("TRELLIS_WARM_UP", "false")
    monkeypatch.chdir(tmp_path)
    yield data


@pytest.fixture
def settings(isolated_env: Path) -> Settings:
    return Settings()


@pytest.fixture
def services(settings: Settings):
    from core.services import Services

    svc = Services.build(settings)
    yield svc
    svc.close()


@pytest.fixture
def wire():
    """A loopback server speaking the OpenAI and Anthropic wire formats."""
    from tests.servers.wire import WireServer

    with WireServer() as srv:
        yield srv


@pytest.fixture
def guards_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRELLIS_GUARDS_ENABLED", "true")
