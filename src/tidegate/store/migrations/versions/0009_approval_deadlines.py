"""approval deadlines: the deadline scan reads a range of one index

The engine looks for pending approvals past their deadline every second; with 10,000
runs waiting, an index on the status alone made that a filter over every one of them.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Its first column serves every look-up by status the old index served.
    op.create_index("ix_approvals_status_deadline", "approvals", ["status", "deadline"])
    op.drop_index("ix_approvals_status", table_name="approvals")


def downgrade() -> None:
    op.create_index("ix_approvals_status", "approvals", ["status"])
    op.drop_index("ix_approvals_status_deadline", table_name="approvals")
