"""Database fixtures for integration tests: SQLite, and a real PostgreSQL
server started once per session from Debian's package (tests/pg.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from core.db import make_engine, migrate
from tests.pg import PostgresServer, PostgresUnavailable


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer | str]:
    """The running server, or the reason it could not start (tests then skip with it)."""
    try:
        server = PostgresServer()
        server.start()
    except (PostgresUnavailable, OSError, LookupError) as err:
        yield f"PostgreSQL could not be started: {err}"
        return
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer | str) -> str:
    """A fresh, empty PostgreSQL database for one test."""
    if isinstance(pg_server, str):
        pytest.skip(pg_server)
    return pg_server.create_database()


DIALECTS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)]


@pytest.fixture(params=DIALECTS)
def db(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    """A migrated database of each kind (all Alembic heads)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'monitor.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = make_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()
