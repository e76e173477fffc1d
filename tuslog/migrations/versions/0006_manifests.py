"""archive manifests: the entry list of each finished upload, made in the background

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tuslog.db.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing finished uploads get no row here: the janitor adds pending rows for
    # finished uploads that have none (tuslog.uploads.inspection), a batch per pass.
    op.create_table(
        "archive_manifests",
        sa.Column("upload_id", sa.String(length=32), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "running",
                "done",
                "failed",
                "not_an_archive",
                name="manifest_state",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("format", sa.String(length=16), nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_until", tuslog.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", tuslog.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", tuslog.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", tuslog.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["uploads.id"],
            name=op.f("fk_archive_manifests_upload_id_uploads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("upload_id", name=op.f("pk_archive_manifests")),
    )
    with op.batch_alter_table("archive_manifests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_archive_manifests_state_created_at", ["state", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("archive_manifests", schema=None) as batch_op:
        batch_op.drop_index("ix_archive_manifests_state_created_at")
    op.drop_table("archive_manifests")
