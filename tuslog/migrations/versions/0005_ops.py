"""tickets.resolved_at: when a ticket was resolved, for the retention policy

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tuslog.db.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.add_column(
            sa.Column("resolved_at", tuslog.db.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(op.f("ix_tickets_resolved_at"), ["resolved_at"], unique=False)
    # Tickets resolved before this column existed: their last change is the best record of
    # when (a ticket is not changed once resolved). Retention then counts from there.
    op.execute("UPDATE tickets SET resolved_at = updated_at WHERE status = 'resolved'")


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_index(op.f("ix_tickets_resolved_at"))
        batch_op.drop_column("resolved_at")
