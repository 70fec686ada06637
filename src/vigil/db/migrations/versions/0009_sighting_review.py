"""sighting review: a reviewer can reject one sighting; confirmations name their sightings

Revision ID: 0009_sighting_review
Revises: 0008_camera_groups
Create Date: 2026-12-02 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.db.models

revision = "0009_sighting_review"
down_revision = "0008_camera_groups"
branch_labels = None
depends_on = None

SIGHTING_COLUMNS = ("template_id", "rejected_at", "rejected_by", "rejection_reason")
REVIEW_COLUMNS = ("sightings", "superseded_at")


def upgrade() -> None:
    with op.batch_alter_table("alert_sightings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rejected_at", vigil.db.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("rejected_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("rejection_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sightings", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("superseded_at", vigil.db.models.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        for name in reversed(REVIEW_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table("alert_sightings", schema=None) as batch_op:
        for name in reversed(SIGHTING_COLUMNS):
            batch_op.drop_column(name)
