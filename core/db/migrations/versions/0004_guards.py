"""Guard policies and custom PII recognizers.

Revision ID: 0004_guards
Revises: 0003_rag
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_guards"
down_revision = "0003_rag"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guard_policy",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(50), nullable=False, unique=True),
        sa.Column("description", sa.Text()),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "guard_recognizer",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("entity_type", sa.String(50), nullable=False),
        sa.Column("pattern", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("context", sa.JSON()),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("guard_recognizer")
    op.drop_table("guard_policy")
