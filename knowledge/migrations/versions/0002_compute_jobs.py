"""Compute jobs: one row per content key of a computation a compute executor ran (or is running).

Revision ID: 0002_compute_jobs
Revises: 0001_initial
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0002_compute_jobs'
down_revision = '0001_initial'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('computejob',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('group', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('executor', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('client', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('worker', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('progress', sa.Float(), nullable=True),
    sa.Column('timeout_s', sa.Float(), nullable=True),
    sa.Column('result_ref', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('computejob', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_computejob_group'), ['group'], unique=False)
        batch_op.create_index(batch_op.f('ix_computejob_key'), ['key'], unique=True)
        batch_op.create_index(batch_op.f('ix_computejob_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_computejob_submitted_at'), ['submitted_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('computejob', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_computejob_submitted_at'))
        batch_op.drop_index(batch_op.f('ix_computejob_status'))
        batch_op.drop_index(batch_op.f('ix_computejob_key'))
        batch_op.drop_index(batch_op.f('ix_computejob_group'))

    op.drop_table('computejob')
