import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

# Every module that declares tables, so the parity check covers the whole schema.
import core.access.models  # noqa: F401
import core.evals.models  # noqa: F401
import core.guards.models  # noqa: F401
import core.prompts.experiment_models  # noqa: F401
import core.prompts.models  # noqa: F401
import core.rag.models  # noqa: F401
import core.reliability.models  # noqa: F401
import core.telemetry.alert_models  # noqa: F401
import core.telemetry.conversations  # noqa: F401
import core.telemetry.models  # noqa: F401
from core.db import current_revision, downgrade, make_engine, migrate

#: SQLAlchemy cannot reflect SQLite's expression index (migration 0008) and says so.
EXPRESSION_INDEX_WARNING = (
    "ignore:Skipped unsupported reflection of expression-based index:sqlalchemy.exc.SAWarning")


def _sqlite(tmp_path):
    return make_engine(f"sqlite:///{tmp_path / 't.db'}")


@pytest.mark.filterwarnings(EXPRESSION_INDEX_WARNING)
def test_migrations_create_the_log_tables_with_indexes(tmp_path):
    engine = _sqlite(tmp_path)
    migrate(engine)
    insp = inspect(engine)
    assert {"call_log", "span", "feedback", "model_price"} <= set(insp.get_table_names())
    indexes = {ix["name"] for ix in insp.get_indexes("call_log")}
    assert {
        "ix_call_log_created_at",
        "ix_call_log_model_created",
        "ix_call_log_user_created",
        "ix_call_log_status_created",
    } <= indexes
    assert current_revision(engine)


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    engine = _sqlite(tmp_path)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


@pytest.mark.filterwarnings(EXPRESSION_INDEX_WARNING)
def test_migration_matches_the_models(tmp_path):
    """The hand-written migration and the SQLModel classes describe the same schema."""
    engine = _sqlite(tmp_path)
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_downgrade_to_base_removes_the_tables(tmp_path):
    engine = _sqlite(tmp_path)
    migrate(engine)
    downgrade(engine, "base")
    assert "call_log" not in inspect(engine).get_table_names()
    migrate(engine)
    assert "call_log" in inspect(engine).get_table_names()


def test_nothing_creates_tables_at_import(tmp_path):
    engine = _sqlite(tmp_path)
    import core.services  # noqa: F401

    assert inspect(engine).get_table_names() == []
