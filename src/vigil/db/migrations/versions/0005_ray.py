"""ray: idempotency keys of candidates delivered by remote camera actors

Revision ID: 0005_ray
Revises: 0004_sightings
Create Date: 2026-12-01 05:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.db.models

revision = "0005_ray"
down_revision = "0004_sightings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "candidate_deliveries",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("received_at", vigil.db.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("candidate_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_candidate_deliveries_received_at"), ["received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("candidate_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_candidate_deliveries_received_at"))
    op.drop_table("candidate_deliveries")
