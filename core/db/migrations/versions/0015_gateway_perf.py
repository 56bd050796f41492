"""Shared per-minute rate windows for API keys: rate_window (branch gateway-perf; alembic
allows no hyphen in a revision id).

Revision ID: 0015_gateway_perf
Revises: 0014_experiments
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_gateway_perf"
down_revision = "0014_experiments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_window",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
    )
    op.create_index("ux_rate_window", "rate_window", ["subject", "minute"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_rate_window", table_name="rate_window")
    op.drop_table("rate_window")
