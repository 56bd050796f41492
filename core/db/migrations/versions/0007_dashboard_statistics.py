"""Dashboards: planner statistics for the time-bucketed GROUP BYs (PostgreSQL).

Revision ID: 0007_dashboard_statistics
Revises: 0006_budget_reservations

The monitoring views group a month of calls by day and model (latency,
errors) and by day, model and prompt version (cost). PostgreSQL keeps no
statistics on an expression such as date_trunc('day', created_at), so it
guesses one group per row, sorts a million rows (spilling to disk) and
aggregates the sorted stream. With these extended statistics (PostgreSQL 14
and later; filled by ANALYZE, which autovacuum runs) it knows there are a few
hundred groups and uses a hash aggregate: no sort. SQLite needs nothing here:
it has no such statistics, and the dashboards avoid its GROUP BY sort where
it matters (see core/telemetry/sqlfuncs.py).
"""

from alembic import op

revision = "0007_dashboard_statistics"
down_revision = "0006_budget_reservations"
branch_labels = None
depends_on = None

_DAY = "date_trunc('day', created_at)"
_STATISTICS = {
    "st_call_log_day_model": f"{_DAY}, provider, model",
    "st_call_log_day_version": f"{_DAY}, provider, model, prompt_name, prompt_version",
}


def _supported() -> bool:
    bind = op.get_bind()
    return bind.dialect.name == "postgresql" and bind.dialect.server_version_info >= (14,)


def upgrade() -> None:
    if not _supported():
        return
    for name, columns in _STATISTICS.items():
        op.execute(f"CREATE STATISTICS IF NOT EXISTS {name} (ndistinct) ON {columns} "
                   "FROM call_log")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in reversed(_STATISTICS):
        op.execute(f"DROP STATISTICS IF EXISTS {name}")
