"""Docking targets: a named receptor (by the hash of its prepared form) and its search box.

Revision ID: 0005_docking_targets
Revises: 0004_fact_conditions
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005_docking_targets"
down_revision = "0004_fact_conditions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dockingtarget",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("receptor_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("box", sa.JSON(), nullable=False),
        sa.Column("receptor_path", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dockingtarget", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dockingtarget_name"), ["name"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("dockingtarget", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dockingtarget_name"))
    op.drop_table("dockingtarget")
