"""Experiments: experiment, experiment_variant, prompt_gate.

Revision ID: 0014_experiments
Revises: 0013_first_hour
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_experiments"
down_revision = "0013_first_hour"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("hypothesis", sa.Text()),
        sa.Column("prompt", sa.String(100), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(20), nullable=False),
        sa.Column("primary_metric", sa.String(40), nullable=False),
        sa.Column("guardrails", sa.JSON(), nullable=False),
        sa.Column("live_asserts", sa.JSON(), nullable=False),
        sa.Column("baseline_rate", sa.Float(), nullable=False),
        sa.Column("mde", sa.Float(), nullable=False),
        sa.Column("ramp", sa.Float(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("decision", sa.Text()),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", sa.DateTime()),
        sa.Column("started_at", sa.DateTime()),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_experiment_prompt", "experiment", ["prompt"])
    op.create_table(
        "experiment_variant",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("experiment_id", sa.Integer(),
                  sa.ForeignKey("experiment.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("control", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_experiment_variant_experiment_id", "experiment_variant",
                    ["experiment_id"])
    op.create_table(
        "prompt_gate",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("prompt", sa.String(100), nullable=False, unique=True),
        sa.Column("suite", sa.String(200), nullable=False),
        sa.Column("set_by", sa.String(200), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
    )
    # Results read one experiment's calls.
    op.create_index("ix_call_log_experiment", "call_log", ["experiment", "variant"])


def downgrade() -> None:
    op.drop_index("ix_call_log_experiment", table_name="call_log")
    op.drop_table("prompt_gate")
    op.drop_index("ix_experiment_variant_experiment_id", table_name="experiment_variant")
    op.drop_table("experiment_variant")
    op.drop_index("ix_experiment_prompt", table_name="experiment")
    op.drop_table("experiment")
