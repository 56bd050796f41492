"""RAG document registry: collections and the documents ingested into them.

Revision ID: 0003_rag
Revises: 0002_reliability
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_rag"
down_revision = "0002_reliability"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rag_collection",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("chunking", sa.String(20), nullable=False),
        sa.Column("chunk_tokens", sa.Integer(), nullable=False),
        sa.Column("chunk_overlap", sa.Integer(), nullable=False),
        sa.Column("embedding_model", sa.String(300), nullable=False),
        sa.Column("created_by", sa.String(200)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "rag_document",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "collection_id",
            sa.Integer(),
            sa.ForeignKey("rag_collection.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("tags", sa.String(500)),
        sa.Column("chunking", sa.String(20)),
        sa.Column("created_by", sa.String(200)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index(
        "ix_rag_document_collection_hash", "rag_document", ["collection_id", "content_hash"]
    )
    op.create_index(
        "ix_rag_document_collection_status", "rag_document", ["collection_id", "status"]
    )


def downgrade() -> None:
    op.drop_table("rag_document")
    op.drop_table("rag_collection")
