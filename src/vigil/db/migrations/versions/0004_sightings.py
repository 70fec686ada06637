"""alert sightings: every matched track of an alert, with its own sealed crop and score

Revision ID: 0004_sightings
Revises: 0003_ids
Create Date: 2026-12-01 05:20:00

Alerts written before this revision keep their headline crop and score and have no sightings.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.db.models

revision = "0004_sightings"
down_revision = "0003_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_sightings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("seen_at", vigil.db.models.UTCDateTime(), nullable=False),
        sa.Column("first_seen", vigil.db.models.UTCDateTime(), nullable=False),
        sa.Column("last_seen", vigil.db.models.UTCDateTime(), nullable=False),
        sa.Column("conflicting", sa.Boolean(), nullable=False),
        sa.Column("crop", sa.LargeBinary(), nullable=True),
        sa.Column("crop_encrypted", sa.Boolean(), nullable=False),
        sa.Column("created_at", vigil.db.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_id", "ordinal"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("alert_sightings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_sightings_alert_id"), ["alert_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alert_sightings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_sightings_alert_id"))
    op.drop_table("alert_sightings")
