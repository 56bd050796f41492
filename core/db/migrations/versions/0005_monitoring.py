"""Monitoring: indexes behind the dashboards, alert rules and alert events.

Revision ID: 0005_monitoring
Revises: 0004_guards
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_monitoring"
down_revision = "0004_guards"
branch_labels = None
depends_on = None

# Each filter the dashboards offer gets a (column, created_at) index so a
# filtered view reads only its own rows in time order; the error-class one
# also serves "breaker openings" and the errors-by-class chart.
_INDEXES = {
    "ix_call_log_provider_created": ["provider", "created_at"],
    "ix_call_log_source_created": ["source", "created_at"],
    "ix_call_log_prompt_created": ["prompt_name", "created_at"],
    "ix_call_log_error_class_created": ["error_class", "created_at"],
    "ix_feedback_created_at": ["created_at"],
}

# The unfiltered views (the default 30-day page) read most of the log. This
# index holds every column the dashboards aggregate, in time order, so
# SQLite answers them from the index alone (about a fifth of the table's
# bytes: no prompt or answer text) instead of reading every wide row.
_DASHBOARD = [
    "created_at", "status", "provider", "model", "latency_ms", "ttft_ms", "tokens_per_s",
    "cost_usd", "cost_saved_usd", "input_tokens", "output_tokens", "cache_hit", "user_id",
    "tags", "prompt_name", "prompt_version", "error_class", "retries", "fallback_from", "source",
]


def upgrade() -> None:
    op.create_index("ix_call_log_dashboard", "call_log", _DASHBOARD)
    for name, columns in _INDEXES.items():
        table = "feedback" if name.startswith("ix_feedback") else "call_log"
        op.create_index(name, table, columns)

    op.create_table(
        "alert_rule",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("window_minutes", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "alert_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "rule_id",
            sa.Integer(),
            sa.ForeignKey("alert_rule.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("fired_at", sa.DateTime(), nullable=False),
        sa.Column("subject", sa.String(200)),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("delivery", sa.String(200)),
    )
    op.create_index("ix_alert_event_rule_fired", "alert_event", ["rule_id", "fired_at"])


def downgrade() -> None:
    op.drop_table("alert_event")
    op.drop_table("alert_rule")
    op.drop_index("ix_call_log_dashboard", table_name="call_log")
    for name in reversed(_INDEXES):
        table = "feedback" if name.startswith("ix_feedback") else "call_log"
        op.drop_index(name, table_name=table)
