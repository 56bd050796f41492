"""Background ingestion: the job table, and who owns an `ingesting` document.

Revision ID: 0012_documents
Revises: 0011_prompts
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_documents"
down_revision = "0011_prompts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rag_document") as batch:
        batch.add_column(sa.Column("owner", sa.String(100)))
    op.create_table(
        "rag_job",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "collection_id",
            sa.Integer(),
            sa.ForeignKey("rag_collection.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("staged", sa.String(200)),
        sa.Column("tags", sa.String(500)),
        sa.Column("replace", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(200)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.Text()),
        sa.Column("document_id", sa.Integer()),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("dismissed", sa.Boolean(), nullable=False),
        sa.Column("worker", sa.String(100)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime()),
        sa.Column("heartbeat_at", sa.DateTime()),
        sa.Column("finished_at", sa.DateTime()),
    )
    op.create_index("ix_rag_job_collection_status", "rag_job", ["collection_id", "status"])
    op.create_index("ix_rag_job_status", "rag_job", ["status"])


def downgrade() -> None:
    op.drop_table("rag_job")
    with op.batch_alter_table("rag_document") as batch:
        batch.drop_column("owner")
