"""Budget reservations as rows, so a call that never settles (its process
died) stops holding budget room once its reservation expires.

Revision ID: 0006_budget_reservations
Revises: 0005_monitoring
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_budget_reservations"
down_revision = "0005_monitoring"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budget_reservation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "usage_id",
            sa.Integer(),
            sa.ForeignKey("budget_usage.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("amount_usd", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_budget_reservation_expires", "budget_reservation", ["expires_at"])


def downgrade() -> None:
    op.drop_table("budget_reservation")
