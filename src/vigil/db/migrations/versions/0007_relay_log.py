"""relay log and camera-session owners: no alert event lost on a listener's reconnect, no
other server's camera session closed as stale

Revision ID: 0007_relay_log
Revises: 0006_maintainer
Create Date: 2026-12-02 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.db.models

revision = "0007_relay_log"
down_revision = "0006_maintainer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "relay_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=64), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", vigil.db.models.UTCDateTime(), nullable=False),
        sa.Column("created_at", vigil.db.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("relay_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_relay_log_created_at"), ["created_at"], unique=False)
    with op.batch_alter_table("camera_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", vigil.db.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("camera_sessions", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("owner")
    with op.batch_alter_table("relay_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_relay_log_created_at"))
    op.drop_table("relay_log")
