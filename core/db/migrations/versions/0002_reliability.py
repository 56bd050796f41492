"""Reliability: routes, breaker state, budgets, budget usage and alerts,
response cache, operations settings; route and downgrade columns on call_log.

Revision ID: 0002_reliability
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_reliability"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_log") as batch:
        batch.add_column(sa.Column("route", sa.String(100)))
        batch.add_column(sa.Column("downgraded_from", sa.String(300)))

    op.create_table(
        "route",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("deployments", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "breaker_state",
        sa.Column("deployment", sa.String(300), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("opened_count", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime()),
        sa.Column("reopens_at", sa.DateTime()),
        sa.Column("last_error", sa.String(50)),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "budget",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("subject", sa.String(200)),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("limit_usd", sa.Float(), nullable=False),
        sa.Column("policy", sa.String(10), nullable=False),
        sa.Column("downgrade_model", sa.String(300)),
        sa.Column("alert_threshold", sa.Float(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "budget_usage",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "budget_id",
            sa.Integer(),
            sa.ForeignKey("budget.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("period_start", sa.DateTime(), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("spent_usd", sa.Float(), nullable=False),
        sa.Column("reserved_usd", sa.Float(), nullable=False),
    )
    op.create_index(
        "ux_budget_usage", "budget_usage", ["budget_id", "period_start", "subject"], unique=True
    )
    op.create_table(
        "budget_alert",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "budget_id",
            sa.Integer(),
            sa.ForeignKey("budget.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("period_start", sa.DateTime(), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("spent_usd", sa.Float(), nullable=False),
        sa.Column("limit_usd", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("acknowledged", sa.Boolean(), nullable=False),
    )
    op.create_index(
        "ux_budget_alert",
        "budget_alert",
        ["budget_id", "period_start", "subject", "level"],
        unique=True,
    )
    op.create_table(
        "cache_entry",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("prompt_text", sa.Text(), nullable=False),
        sa.Column("response_text", sa.Text(), nullable=False),
        sa.Column("usage", sa.JSON(), nullable=False),
        sa.Column("cost_usd", sa.Float()),
        sa.Column("embedding", sa.LargeBinary()),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_cache_entry_scope_expires", "cache_entry", ["scope", "expires_at"])
    op.create_table(
        "ops_setting",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "ops_setting",
        "cache_entry",
        "budget_alert",
        "budget_usage",
        "budget",
        "breaker_state",
        "route",
    ):
        op.drop_table(table)
    with op.batch_alter_table("call_log") as batch:
        batch.drop_column("downgraded_from")
        batch.drop_column("route")
