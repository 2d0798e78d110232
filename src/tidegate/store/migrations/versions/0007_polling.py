"""polling: poll_targets (each polled repository's tags and lease), push_sightings

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "poll_targets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workflow", sa.String(length=100), nullable=False),
        sa.Column("registry", sa.String(length=255), nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("interval_ms", sa.Integer(), nullable=False),
        sa.Column("filter_key", sa.String(length=64), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("lease_holder", sa.String(length=200), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workflow", "registry", "repository", name="uq_poll_target"),
    )
    with op.batch_alter_table("poll_targets", schema=None) as batch_op:
        batch_op.create_index("ix_poll_targets_due", ["next_due"], unique=False)
    op.create_table(
        "push_sightings",
        sa.Column("registry", sa.String(length=255), nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("registry", "repository", "tag", "digest"),
    )
    with op.batch_alter_table("push_sightings", schema=None) as batch_op:
        batch_op.create_index("ix_push_sightings_seen", ["seen_at"], unique=False)


def downgrade() -> None:
    op.drop_table("push_sightings")
    op.drop_table("poll_targets")
