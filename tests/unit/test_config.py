from pathlib import Path

import pytest

from core.config import Settings


def test_provider_keys_read_from_sdk_env_names_and_stay_secret(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-abc123")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ant-secret-xyz")
    s = Settings()
    assert s.openai_api_key.get_secret_value() == "sk-live-abc123"
    assert s.anthropic_api_key.get_secret_value() == "ant-secret-xyz"
    shown = repr(s) + str(s) + s.model_dump_json()
    assert "sk-live-abc123" not in shown
    assert "ant-secret-xyz" not in shown


def test_trellis_prefixed_names_and_dotenv(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(
        "TRELLIS_DEFAULT_MODEL=openai/gpt-4o-mini\nTRELLIS_MAX_MESSAGES=7\n"
    )
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.default_model == "openai/gpt-4o-mini"
    assert s.max_messages == 7


def test_default_database_is_sqlite_in_data_dir(isolated_env):
    s = Settings()
    assert s.resolved_database_url == f"sqlite:///{(isolated_env / 'trellis.db').resolve()}"


def test_database_url_setting_wins(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:p@127.0.0.1/x")
    assert Settings().resolved_database_url.startswith("postgresql+psycopg://")


def test_models_dir_defaults_under_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("TRELLIS_MODELS_DIR")
    s = Settings(data_dir=tmp_path / "d")
    assert s.resolved_models_dir == tmp_path / "d" / "models"


@pytest.mark.parametrize("field", ["openai_api_key", "anthropic_api_key", "compat_api_key"])
def test_every_key_field_is_secret(field):
    from pydantic import SecretStr

    annotation = Settings.model_fields[field].annotation
    assert SecretStr in getattr(annotation, "__args__", (annotation,))


def test_paths_are_paths():
    assert isinstance(Settings().data_dir, Path)
