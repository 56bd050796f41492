"""Initial schema: call log, spans, feedback and price overrides.

Revision ID: 0001_initial
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("trace_id", sa.String(32), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("user_id", sa.String(200)),
        sa.Column("session_id", sa.String(200)),
        sa.Column("tags", sa.String(500)),
        sa.Column("provider", sa.String(50)),
        sa.Column("model", sa.String(200)),
        sa.Column("prompt_name", sa.String(200)),
        sa.Column("prompt_version", sa.Integer()),
        sa.Column("experiment", sa.String(200)),
        sa.Column("variant", sa.String(200)),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cached_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float()),
        sa.Column("cost_saved_usd", sa.Float()),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("ttft_ms", sa.Float()),
        sa.Column("tokens_per_s", sa.Float()),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error_class", sa.String(50)),
        sa.Column("error_message", sa.Text()),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("fallback_from", sa.String(300)),
        sa.Column("cache_hit", sa.String(20)),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("guard_actions", sa.JSON()),
        sa.Column("degraded", sa.JSON()),
        sa.Column("params", sa.JSON()),
        sa.Column("input_text", sa.Text()),
        sa.Column("output_text", sa.Text()),
    )
    op.create_index("ix_call_log_created_at", "call_log", ["created_at"])
    op.create_index("ix_call_log_model_created", "call_log", ["model", "created_at"])
    op.create_index("ix_call_log_user_created", "call_log", ["user_id", "created_at"])
    op.create_index("ix_call_log_status_created", "call_log", ["status", "created_at"])

    op.create_table(
        "span",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "call_id",
            sa.Integer(),
            sa.ForeignKey("call_log.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("start_ms", sa.Float(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("detail", sa.JSON()),
    )
    op.create_index("ix_span_call_id", "span", ["call_id"])

    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "call_id",
            sa.Integer(),
            sa.ForeignKey("call_log.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text()),
        sa.Column("user_id", sa.String(200)),
    )
    op.create_index("ix_feedback_call_id", "feedback", ["call_id"])

    op.create_table(
        "model_price",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("provider", sa.String(50), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("input_per_mtok", sa.Float(), nullable=False),
        sa.Column("output_per_mtok", sa.Float(), nullable=False),
        sa.Column("cached_input_per_mtok", sa.Float()),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index(
        "ux_model_price_provider_model", "model_price", ["provider", "model"], unique=True
    )


def downgrade() -> None:
    op.drop_table("model_price")
    op.drop_table("feedback")
    op.drop_table("span")
    op.drop_table("call_log")
