"""Concurrent-learning runs (atomloop atoms learn): configuration, state and per-iteration reports.

Revision ID: 0007_learning_runs
Revises: 0006_atomistic
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007_learning_runs"
down_revision = "0006_atomistic"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learningrun",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("folder", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("iterations", sa.JSON(), nullable=False),
        sa.Column("labels_spent", sa.Integer(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("learningrun", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_learningrun_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_learningrun_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("learningrun", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learningrun_status"))
        batch_op.drop_index(batch_op.f("ix_learningrun_name"))
    op.drop_table("learningrun")
