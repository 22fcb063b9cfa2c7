"""Measurements link to the campaign that made them by a foreign key (before: a ``campaign_id`` in their
provenance JSON, which is copied into the new column here).

Revision ID: 0003_measurement_campaign
Revises: 0002_compute_jobs
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003_measurement_campaign"
down_revision = "0002_compute_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("measurement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_measurement_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_foreign_key("fk_measurement_campaign_id_campaign", "campaign", ["campaign_id"], ["id"])
    connection = op.get_bind()
    measurement = sa.table("measurement", sa.column("id", sa.Integer), sa.column("provenance", sa.JSON), sa.column("campaign_id", sa.String))
    campaign = sa.table("campaign", sa.column("id", sa.String))
    known = {row.id for row in connection.execute(sa.select(campaign.c.id))}
    if not known:
        return
    for row in connection.execute(sa.select(measurement.c.id, measurement.c.provenance)).all():
        owner = (row.provenance or {}).get("campaign_id") if isinstance(row.provenance, dict) else None
        if owner in known:
            connection.execute(sa.update(measurement).where(measurement.c.id == row.id).values(campaign_id=owner))


def downgrade() -> None:
    with op.batch_alter_table("measurement", schema=None) as batch_op:
        batch_op.drop_constraint("fk_measurement_campaign_id_campaign", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_measurement_campaign_id"))
        batch_op.drop_column("campaign_id")
