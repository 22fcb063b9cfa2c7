"""Atomistic results: structures by content hash and the calculations on them (single points, relaxations, MD).

Revision ID: 0006_atomistic
Revises: 0005_docking_targets
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006_atomistic"
down_revision = "0005_docking_targets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "atomicstructure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("structure_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("formula", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("n_atoms", sa.Integer(), nullable=False),
        sa.Column("periodic", sa.Boolean(), nullable=False),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("smiles", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("atomicstructure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_atomicstructure_structure_hash"), ["structure_hash"], unique=True)
        batch_op.create_index(batch_op.f("ix_atomicstructure_formula"), ["formula"], unique=False)
    op.create_table(
        "atomisticresult",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("op_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("task", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=False),
        sa.Column("output_structure_id", sa.Integer(), nullable=True),
        sa.Column("potential", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("potential_version", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("energy_ev", sa.Float(), nullable=True),
        sa.Column("energy_per_atom_ev", sa.Float(), nullable=True),
        sa.Column("fmax_ev_per_a", sa.Float(), nullable=True),
        sa.Column("max_force_deviation", sa.Float(), nullable=True),
        sa.Column("converged", sa.Boolean(), nullable=True),
        sa.Column("steps", sa.Integer(), nullable=True),
        sa.Column("trajectory_path", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["structure_id"], ["atomicstructure.id"]),
        sa.ForeignKeyConstraint(["output_structure_id"], ["atomicstructure.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("atomisticresult", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_atomisticresult_op_id"), ["op_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_atomisticresult_task"), ["task"], unique=False)
        batch_op.create_index(batch_op.f("ix_atomisticresult_structure_id"), ["structure_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_atomisticresult_potential"), ["potential"], unique=False)
        batch_op.create_index(batch_op.f("ix_atomisticresult_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("atomisticresult", schema=None) as batch_op:
        for name in ("created_at", "potential", "structure_id", "task", "op_id"):
            batch_op.drop_index(batch_op.f(f"ix_atomisticresult_{name}"))
    op.drop_table("atomisticresult")
    with op.batch_alter_table("atomicstructure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_atomicstructure_formula"))
        batch_op.drop_index(batch_op.f("ix_atomicstructure_structure_hash"))
    op.drop_table("atomicstructure")
