"""Prompt registry: prompts, immutable versions, labels and label moves.

Revision ID: 0011_prompts
Revises: 0010_evals
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_prompts"
down_revision = "0010_evals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prompt",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("description", sa.Text()),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "prompt_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("prompt_id", sa.Integer(), sa.ForeignKey("prompt.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("prompt_id", "version", name="uq_prompt_version"),
    )
    op.create_table(
        "prompt_label",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("prompt_id", sa.Integer(), sa.ForeignKey("prompt.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("version", sa.Integer()),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(200)),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("prompt_id", "name", name="uq_prompt_label"),
    )
    op.create_table(
        "prompt_label_move",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("prompt_id", sa.Integer(), sa.ForeignKey("prompt.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("label", sa.String(50), nullable=False),
        sa.Column("from_version", sa.Integer()),
        sa.Column("to_version", sa.Integer()),
        sa.Column("moved_by", sa.String(200), nullable=False),
        sa.Column("moved_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text()),
    )
    op.create_index("ix_prompt_label_move_prompt", "prompt_label_move", ["prompt_id", "moved_at"])


def downgrade() -> None:
    op.drop_index("ix_prompt_label_move_prompt", table_name="prompt_label_move")
    op.drop_table("prompt_label_move")
    op.drop_table("prompt_label")
    op.drop_table("prompt_version")
    op.drop_table("prompt")
