"""camera groups: the unit of the public transparency page; existing cameras get "default"

Revision ID: 0008_camera_groups
Revises: 0007_relay_log
Create Date: 2026-12-02 02:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_camera_groups"
down_revision = "0007_relay_log"
branch_labels = None
depends_on = None

DEFAULT = "default"  # vigil.domain.camera_groups.DEFAULT_CAMERA_GROUP when this was written


def upgrade() -> None:
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("camera_group", sa.String(length=64), nullable=False, server_default=DEFAULT)
        )
        batch_op.create_index(batch_op.f("ix_cameras_camera_group"), ["camera_group"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cameras_camera_group"))
        batch_op.drop_column("camera_group")
