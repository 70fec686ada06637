"""maintainer: time-limited maintenance accounts approved by a second person

Revision ID: 0006_maintainer
Revises: 0005_ray
Create Date: 2026-12-01 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.db.models

revision = "0006_maintainer"
down_revision = "0005_ray"
branch_labels = None
depends_on = None

COLUMNS = ("created_by", "approved_by", "approved_at", "expires_at")


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("approved_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("approved_at", vigil.db.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("expires_at", vigil.db.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
