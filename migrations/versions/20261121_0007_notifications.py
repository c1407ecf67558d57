"""Notifications: notifications (grouped, read state, email state), preferences per type and channel, digest bookkeeping.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 20:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TYPES = (
    "type IN ('friend_request', 'friend_accept', 'follow', 'follow_request', 'follow_accept', "
    "'reaction', 'comment', 'reply', 'mention', 'share', 'message', 'system')"
)


def _frequency(column: str) -> str:
    return f"{column} IN ('instant', 'hourly', 'daily')"


def upgrade() -> None:
    op.create_table(
        "notification_digests",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(_frequency("frequency"), name=op.f("ck_notification_digests_frequency")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_digests_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "frequency", name=op.f("pk_notification_digests")),
    )
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "channel IN ('in_app', 'email', 'push')",
            name=op.f("ck_notification_preferences_channel"),
        ),
        sa.CheckConstraint(
            _frequency("frequency"), name=op.f("ck_notification_preferences_frequency")
        ),
        sa.CheckConstraint(TYPES, name=op.f("ck_notification_preferences_type")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "type", "channel", name=op.f("pk_notification_preferences")
        ),
    )
    op.create_table(
        "notifications",
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("target_type", sa.String(length=20), nullable=True),
        sa.Column("target_id", sa.Uuid(), nullable=True),
        sa.Column("post_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("action_url", sa.String(length=500), nullable=True),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("group_key", sa.String(length=200), nullable=False),
        sa.Column("source_event_id", sa.Uuid(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("email_frequency", sa.String(length=10), nullable=True),
        sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            _frequency("email_frequency"), name=op.f("ck_notifications_email_frequency")
        ),
        sa.CheckConstraint(
            "priority IN ('low', 'normal', 'high', 'urgent')",
            name=op.f("ck_notifications_priority"),
        ),
        sa.CheckConstraint(
            "target_type IN ('post', 'comment', 'user', 'conversation')",
            name=op.f("ck_notifications_target_type"),
        ),
        sa.CheckConstraint(TYPES, name=op.f("ck_notifications_type")),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_notifications_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
            name=op.f("fk_notifications_post_id_posts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["users.id"],
            name=op.f("fk_notifications_recipient_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        # A redelivered outbox event makes no second notification.
        sa.UniqueConstraint(
            "recipient_id",
            "source_event_id",
            "type",
            name=op.f("uq_notifications_recipient_id_source_event_id_type"),
        ),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_email_pending",
            ["email_frequency", "recipient_id", "created_at"],
            unique=False,
            postgresql_where=sa.text("emailed_at IS NULL AND email_frequency IS NOT NULL"),
            sqlite_where=sa.text("emailed_at IS NULL AND email_frequency IS NOT NULL"),
        )
        batch_op.create_index("ix_notifications_post_id", ["post_id"], unique=False)
        batch_op.create_index(
            "ix_notifications_recipient_id_group_key_created_at",
            ["recipient_id", "group_key", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_notifications_recipient_id_id", ["recipient_id", "id"], unique=False
        )
        batch_op.create_index("ix_notifications_target_id", ["target_id"], unique=False)
        batch_op.create_index(
            "ix_notifications_unread",
            ["recipient_id", "id"],
            unique=False,
            postgresql_where=sa.text("read_at IS NULL"),
            sqlite_where=sa.text("read_at IS NULL"),
        )


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("notification_preferences")
    op.drop_table("notification_digests")
