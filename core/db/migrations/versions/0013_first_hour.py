"""Chat conversations per user: the conversation and its turns (redacted texts).

Revision ID: 0013_first_hour (the branch is first-hour; Alembic ids allow no hyphen)
Revises: 0012_documents
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_first_hour"
down_revision = "0012_documents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(200), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_conversation_user_updated", "conversation", ["user_id", "updated_at"])
    op.create_table(
        "conversation_turn",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "conversation_id",
            sa.String(32),
            sa.ForeignKey("conversation.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index(
        "ix_conversation_turn_conversation_id", "conversation_turn", ["conversation_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_conversation_turn_conversation_id", table_name="conversation_turn")
    op.drop_table("conversation_turn")
    op.drop_index("ix_conversation_user_updated", table_name="conversation")
    op.drop_table("conversation")
