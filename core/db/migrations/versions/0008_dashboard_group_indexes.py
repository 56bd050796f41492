"""Dashboards: indexes that let SQLite group a month of calls without sorting.

Revision ID: 0008_dashboard_group_indexes
Revises: 0007_dashboard_statistics

SQLite has no hash aggregate: it answers GROUP BY by sorting every row, unless
an index already yields the rows in group order. At a million calls the sort
costs about eight times the scan, so the Cost page's two grouped scans took
over 4 s. These two covering indexes hold the rows in the order the
dashboards group them:

- by day bucket (`substr(created_at, 1, 10)`, the expression
  `core.telemetry.sqlfuncs.bucket` writes for day buckets), provider, model
  and prompt version: the order of the latency scan, the cost breakdown and
  the errors timeline;
- by user and tag list, the order of the top-spenders tables.

Each also holds every column the filters test and the figures read, so a
query over it never touches the wide rows. Days are the bucket of every range
longer than four days, the ones with many rows; shorter ranges sort few rows.
PostgreSQL needs neither (it hashes; see 0007).
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_dashboard_group_indexes"
down_revision = "0007_dashboard_statistics"
branch_labels = None
depends_on = None

_FILTERED = ["created_at", "provider", "model", "prompt_name", "source", "status", "user_id",
             "tags"]
_SPEND = ["cost_usd", "cost_saved_usd", "input_tokens", "output_tokens", "cache_hit"]
_ERRORS = ["retries", "fallback_from", "error_class"]
_LATENCY = ["latency_ms", "ttft_ms", "tokens_per_s"]

_INDEXES = {
    "ix_call_log_day_groups": [
        sa.text("substr(created_at, 1, 10)"), "provider", "model", "prompt_name",
        "prompt_version", "created_at", "source", "status", "user_id", "tags", *_SPEND, *_ERRORS,
        *_LATENCY,
    ],
    "ix_call_log_user_tags": [
        "user_id", "tags", *[c for c in _FILTERED if c not in ("user_id", "tags")], *_SPEND,
    ],
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, columns in _INDEXES.items():
        op.create_index(name, "call_log", columns)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in reversed(_INDEXES):
        op.drop_index(name, table_name="call_log")
