"""hooks bound to registries; columns as wide as intake's limits

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# (table, column, old type, new type): a sha512 digest, a 255-character pusher or media
# type, and a concurrency key built from several event values all fit.
_WIDENED = (
    ("events", "delivery_id", sa.String(length=200), sa.String(length=255)),
    ("events", "digest", sa.String(length=100), sa.String(length=255)),
    ("events", "media_type", sa.String(length=200), sa.String(length=255)),
    ("events", "pusher", sa.String(length=200), sa.String(length=255)),
    ("runs", "digest", sa.String(length=100), sa.String(length=255)),
    ("runs", "concurrency_key", sa.String(length=255), sa.Text()),
    ("promotions", "digest", sa.String(length=100), sa.String(length=255)),
)


def upgrade() -> None:
    with op.batch_alter_table("hooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("registries", sa.JSON(), server_default="[]", nullable=False))
    for table, column, old, new in _WIDENED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=old, type_=new)


def downgrade() -> None:
    for table, column, old, new in reversed(_WIDENED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=new, type_=old)
    with op.batch_alter_table("hooks", schema=None) as batch_op:
        batch_op.drop_column("registries")
