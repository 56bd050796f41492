"""Evals: versioned datasets and cases, runs with a configuration snapshot, per-cell results.

Revision ID: 0010_evals
Revises: 0009_gateway
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_evals"
down_revision = "0009_gateway"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eval_dataset",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(200)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_eval_dataset_name_version"),
    )
    op.create_table(
        "eval_case",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "dataset_id", sa.Integer(),
            sa.ForeignKey("eval_dataset.id", ondelete="CASCADE"), nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("message", sa.Text()),
        sa.Column("variables", sa.JSON()),
        sa.Column("expected", sa.Text()),
        sa.Column("context", sa.Text()),
        sa.Column("tags", sa.JSON()),
        sa.Column("metadata", sa.JSON()),
        sa.Column("source_call_id", sa.Integer()),
    )
    op.create_index("ix_eval_case_dataset", "eval_case", ["dataset_id", "position"])
    op.create_table(
        "eval_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("suite", sa.String(200), nullable=False),
        sa.Column("label", sa.String(200)),
        sa.Column(
            "dataset_id", sa.Integer(), sa.ForeignKey("eval_dataset.id", ondelete="SET NULL")
        ),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("total_cells", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(200)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime()),
        sa.Column("finished_at", sa.DateTime()),
        sa.Column("duration_s", sa.Float(), nullable=False),
    )
    op.create_index("ix_eval_run_suite_created", "eval_run", ["suite", "created_at"])
    op.create_table(
        "eval_result",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "run_id", sa.Integer(), sa.ForeignKey("eval_run.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("cell_key", sa.String(400), nullable=False),
        sa.Column("prompt", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("case_key", sa.String(200), nullable=False),
        sa.Column("case_id", sa.Integer()),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("output", sa.Text()),
        sa.Column("error", sa.Text()),
        sa.Column("error_class", sa.String(50)),
        sa.Column("assertions", sa.JSON()),
        sa.Column("call_id", sa.Integer()),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float()),
        sa.Column("latency_ms", sa.Float()),
        sa.Column("ttft_ms", sa.Float()),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("request_key", sa.String(64)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("run_id", "cell_key", name="uq_eval_result_cell"),
    )
    op.create_index("ix_eval_result_run_case", "eval_result", ["run_id", "case_key"])
    op.create_index("ix_eval_result_request_key", "eval_result", ["request_key"])


def downgrade() -> None:
    op.drop_table("eval_result")
    op.drop_table("eval_run")
    op.drop_table("eval_case")
    op.drop_table("eval_dataset")
