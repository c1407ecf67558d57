"""Jobs: per-handler deliveries of outbox events (leases, retries, dead letters) and the shared schedule of periodic jobs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 20:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_deliveries",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("handler", sa.String(length=200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["outbox_events.id"],
            name=op.f("fk_event_deliveries_event_id_outbox_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", "handler", name=op.f("pk_event_deliveries")),
    )
    with op.batch_alter_table("event_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_event_deliveries_pending",
            ["available_at"],
            unique=False,
            postgresql_where=sa.text("done_at IS NULL AND dead_at IS NULL"),
            sqlite_where=sa.text("done_at IS NULL AND dead_at IS NULL"),
        )
        batch_op.create_index(
            "ix_event_deliveries_dead",
            ["dead_at"],
            unique=False,
            postgresql_where=sa.text("dead_at IS NOT NULL"),
            sqlite_where=sa.text("dead_at IS NOT NULL"),
        )

    op.create_table(
        "scheduled_jobs",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduled_jobs")),
    )


def downgrade() -> None:
    op.drop_table("scheduled_jobs")
    with op.batch_alter_table("event_deliveries", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_event_deliveries_dead",
            postgresql_where=sa.text("dead_at IS NOT NULL"),
            sqlite_where=sa.text("dead_at IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_event_deliveries_pending",
            postgresql_where=sa.text("done_at IS NULL AND dead_at IS NULL"),
            sqlite_where=sa.text("done_at IS NULL AND dead_at IS NULL"),
        )
    op.drop_table("event_deliveries")
