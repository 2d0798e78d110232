"""hook secrets: the secret a signing source's deliveries are checked with

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("secret", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("secret_header", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hooks", schema=None) as batch_op:
        batch_op.drop_column("secret_header")
        batch_op.drop_column("secret")
