"""Facts keep what their value was measured under (target, species, pH) and whether their property is a registry
name or a table column's header text.

Revision ID: 0004_fact_conditions
Revises: 0003_measurement_campaign
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_fact_conditions"
down_revision = "0003_measurement_campaign"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("conditions", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("registered", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("fact", schema=None) as batch_op:
        batch_op.drop_column("registered")
        batch_op.drop_column("conditions")
