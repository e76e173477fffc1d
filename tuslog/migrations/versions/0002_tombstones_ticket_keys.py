"""case-insensitive ticket numbers, upload tombstones that outlive their ticket, the
"deleted" upload state, an index for the revocation watch

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_STATES = ("receiving", "complete", "verified", "corrupt", "expired", "terminated")
_NEW_STATES = (*_OLD_STATES, "deleted")


def _state_enum(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(
        *values, name="upload_state", native_enum=False, create_constraint=True, length=16
    )


def _fill_number_keys() -> None:
    """Case-fold existing numbers in Python (SQL lower() is ASCII-only on SQLite). Tickets
    whose numbers differ only in case were distinct before: all but the oldest get a key
    of their own, so they stay reachable by their exact number."""
    conn = op.get_bind()
    tickets = sa.table("tickets", sa.column("id"), sa.column("number"), sa.column("number_key"))
    rows = conn.execute(sa.select(tickets.c.id, tickets.c.number).order_by(tickets.c.id)).all()
    taken: set[str] = set()
    for ticket_id, number in rows:
        key = number.casefold()
        if key in taken:
            key = f"{key}#{ticket_id}"[-64:]
        taken.add(key)
        conn.execute(tickets.update().where(tickets.c.id == ticket_id).values(number_key=key))


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.add_column(sa.Column("number_key", sa.String(length=64), nullable=True))
        batch_op.drop_constraint(op.f("uq_tickets_number"), type_="unique")
    _fill_number_keys()
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.alter_column("number_key", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(op.f("uq_tickets_number_key"), ["number_key"])

    with op.batch_alter_table("uploads") as batch_op:
        batch_op.drop_constraint(op.f("fk_uploads_ticket_id_tickets"), type_="foreignkey")
        batch_op.alter_column("ticket_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(
            op.f("fk_uploads_ticket_id_tickets"),
            "tickets",
            ["ticket_id"],
            ["id"],
            ondelete="SET NULL",
        )
        # Alembic replaces the enum's CHECK constraint along with the type.
        batch_op.alter_column(
            "state", existing_type=_state_enum(_OLD_STATES), type_=_state_enum(_NEW_STATES)
        )

    with op.batch_alter_table("upload_tokens") as batch_op:
        batch_op.create_index(op.f("ix_upload_tokens_revoked_at"), ["revoked_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("upload_tokens") as batch_op:
        batch_op.drop_index(op.f("ix_upload_tokens_revoked_at"))
    op.execute("UPDATE uploads SET state = 'terminated' WHERE state = 'deleted'")
    op.execute("DELETE FROM uploads WHERE ticket_id IS NULL")
    with op.batch_alter_table("uploads") as batch_op:
        # Alembic replaces the enum's CHECK constraint along with the type.
        batch_op.alter_column(
            "state", existing_type=_state_enum(_NEW_STATES), type_=_state_enum(_OLD_STATES)
        )
        batch_op.drop_constraint(op.f("fk_uploads_ticket_id_tickets"), type_="foreignkey")
        batch_op.alter_column("ticket_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            op.f("fk_uploads_ticket_id_tickets"),
            "tickets",
            ["ticket_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_constraint(op.f("uq_tickets_number_key"), type_="unique")
        batch_op.drop_column("number_key")
        batch_op.create_unique_constraint(op.f("uq_tickets_number"), ["number"])
