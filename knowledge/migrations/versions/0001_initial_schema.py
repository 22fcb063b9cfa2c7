"""Initial schema: molecules, samples, documents and facts, measurements, predictions, model versions,
dataset snapshots, agent runs (run, step, tool call) and campaigns.

Revision ID: 0001_initial
Revises: (none)
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0001_initial'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaign',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('datasetsnapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('property', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('path', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('datasetsnapshot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_datasetsnapshot_content_hash'), ['content_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_datasetsnapshot_property'), ['property'], unique=False)

    op.create_table('document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('path', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('authors', sa.JSON(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('flagged_pages', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_sha256'), ['sha256'], unique=True)

    op.create_table('modelversion',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('property', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('parent_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('dataset_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('artifact_path', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('approved', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['modelversion.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('modelversion', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_modelversion_property'), ['property'], unique=False)

    op.create_table('molecule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inchikey', sqlmodel.sql.sqltypes.AutoString(length=27), nullable=False),
    sa.Column('smiles', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('formula', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('molecule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_molecule_inchikey'), ['inchikey'], unique=True)

    op.create_table('run',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('request', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('planner', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('answer', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('report_path', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_run_created_at'), ['created_at'], unique=False)

    op.create_table('fact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('molecule_id', sa.Integer(), nullable=True),
    sa.Column('compound', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('property', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('value_high', sa.Float(), nullable=True),
    sa.Column('qualifier', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('uncertainty', sa.Float(), nullable=True),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('page', sa.Integer(), nullable=False),
    sa.Column('bbox', sa.JSON(), nullable=True),
    sa.Column('snippet', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['document.id'], ),
    sa.ForeignKeyConstraint(['molecule_id'], ['molecule.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('document_id', 'fingerprint', name='uq_fact_document_fingerprint')
    )
    with op.batch_alter_table('fact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fact_document_id'), ['document_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fact_molecule_id'), ['molecule_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fact_property'), ['property'], unique=False)

    op.create_table('iteration',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('index', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('model_version_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('snapshot_id', sa.Integer(), nullable=True),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['model_version_id'], ['modelversion.id'], ),
    sa.ForeignKeyConstraint(['snapshot_id'], ['datasetsnapshot.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('campaign_id', 'index', name='uq_iteration_campaign_index')
    )
    with op.batch_alter_table('iteration', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_iteration_campaign_id'), ['campaign_id'], unique=False)

    op.create_table('sample',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('molecule_id', sa.Integer(), nullable=False),
    sa.Column('container', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('amount', sa.Float(), nullable=False),
    sa.Column('amount_unit', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('purity', sa.Float(), nullable=True),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('op_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['molecule_id'], ['molecule.id'], ),
    sa.ForeignKeyConstraint(['parent_id'], ['sample.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('op_id')
    )
    with op.batch_alter_table('sample', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sample_molecule_id'), ['molecule_id'], unique=False)

    op.create_table('step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('index', sa.Integer(), nullable=False),
    sa.Column('tool', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('rationale', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'index', name='uq_step_run_index')
    )
    with op.batch_alter_table('step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_step_run_id'), ['run_id'], unique=False)

    op.create_table('toolcall',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('step_id', sa.Integer(), nullable=False),
    sa.Column('tool', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('args', sa.JSON(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], ),
    sa.ForeignKeyConstraint(['step_id'], ['step.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('toolcall', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_toolcall_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_toolcall_step_id'), ['step_id'], unique=False)

    op.create_table('prediction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('molecule_id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('property', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('uncertainty', sa.Float(), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('tool_call_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_version_id'], ['modelversion.id'], ),
    sa.ForeignKeyConstraint(['molecule_id'], ['molecule.id'], ),
    sa.ForeignKeyConstraint(['tool_call_id'], ['toolcall.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('prediction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prediction_model_version_id'), ['model_version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_prediction_molecule_id'), ['molecule_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_prediction_property'), ['property'], unique=False)

    op.create_table('measurement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('molecule_id', sa.Integer(), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=True),
    sa.Column('property', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('uncertainty', sa.Float(), nullable=True),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('qc_status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('instrument', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('provenance', sa.JSON(), nullable=False),
    sa.Column('op_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('prediction_id', sa.Integer(), nullable=True),
    sa.Column('fact_id', sa.Integer(), nullable=True),
    sa.Column('tool_call_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['fact_id'], ['fact.id'], ),
    sa.ForeignKeyConstraint(['molecule_id'], ['molecule.id'], ),
    sa.ForeignKeyConstraint(['prediction_id'], ['prediction.id'], ),
    sa.ForeignKeyConstraint(['sample_id'], ['sample.id'], ),
    sa.ForeignKeyConstraint(['tool_call_id'], ['toolcall.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('op_id', 'property', name='uq_measurement_op_property')
    )
    with op.batch_alter_table('measurement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_measurement_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_measurement_molecule_id'), ['molecule_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_measurement_property'), ['property'], unique=False)
        batch_op.create_index(batch_op.f('ix_measurement_source'), ['source'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('measurement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_measurement_source'))
        batch_op.drop_index(batch_op.f('ix_measurement_property'))
        batch_op.drop_index(batch_op.f('ix_measurement_molecule_id'))
        batch_op.drop_index(batch_op.f('ix_measurement_created_at'))

    op.drop_table('measurement')
    with op.batch_alter_table('prediction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prediction_property'))
        batch_op.drop_index(batch_op.f('ix_prediction_molecule_id'))
        batch_op.drop_index(batch_op.f('ix_prediction_model_version_id'))

    op.drop_table('prediction')
    with op.batch_alter_table('toolcall', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_toolcall_step_id'))
        batch_op.drop_index(batch_op.f('ix_toolcall_run_id'))

    op.drop_table('toolcall')
    with op.batch_alter_table('step', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_step_run_id'))

    op.drop_table('step')
    with op.batch_alter_table('sample', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sample_molecule_id'))

    op.drop_table('sample')
    with op.batch_alter_table('iteration', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iteration_campaign_id'))

    op.drop_table('iteration')
    with op.batch_alter_table('fact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fact_property'))
        batch_op.drop_index(batch_op.f('ix_fact_molecule_id'))
        batch_op.drop_index(batch_op.f('ix_fact_document_id'))

    op.drop_table('fact')
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_created_at'))

    op.drop_table('run')
    with op.batch_alter_table('molecule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_molecule_inchikey'))

    op.drop_table('molecule')
    with op.batch_alter_table('modelversion', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_modelversion_property'))

    op.drop_table('modelversion')
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_sha256'))

    op.drop_table('document')
    with op.batch_alter_table('datasetsnapshot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_datasetsnapshot_property'))
        batch_op.drop_index(batch_op.f('ix_datasetsnapshot_content_hash'))

    op.drop_table('datasetsnapshot')
    op.drop_table('campaign')
