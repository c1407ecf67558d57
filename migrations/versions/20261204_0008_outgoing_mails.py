"""Outgoing mails: mail queued by a transaction, sent after its commit and retried on failure.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 21:45:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outgoing_mails",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("to", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing_mails")),
    )
    op.create_index(
        "ix_outgoing_mails_pending",
        "outgoing_mails",
        ["available_at"],
        unique=False,
        postgresql_where=sa.text("dead_at IS NULL"),
        sqlite_where=sa.text("dead_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_outgoing_mails_pending",
        table_name="outgoing_mails",
        postgresql_where=sa.text("dead_at IS NULL"),
        sqlite_where=sa.text("dead_at IS NULL"),
    )
    op.drop_table("outgoing_mails")
