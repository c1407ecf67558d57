"""Messaging: direct and group conversations, their members (roles, mute, read receipts), messages (text, media, voice, files, shared posts, system messages, replies, edits, soft deletes, disappearing messages) and message mentions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 20:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("avatar_url", sa.String(length=2048), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("direct_key", sa.String(length=73), nullable=True),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_message_id", sa.Uuid(), nullable=True),
        sa.Column("message_ttl_seconds", sa.Integer(), nullable=True),
        sa.Column("member_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "(kind = 'direct') = (direct_key IS NOT NULL)",
            name=op.f("ck_conversations_direct_key_for_direct"),
        ),
        sa.CheckConstraint("kind IN ('direct', 'group')", name=op.f("ck_conversations_kind")),
        sa.CheckConstraint(
            "member_count >= 0", name=op.f("ck_conversations_member_count_non_negative")
        ),
        sa.CheckConstraint(
            "message_ttl_seconds IS NULL OR message_ttl_seconds > 0",
            name=op.f("ck_conversations_message_ttl_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_conversations_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("direct_key", name=op.f("uq_conversations_direct_key")),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversations_last_message_at_id", ["last_message_at", "id"], unique=False
        )

    op.create_table(
        "conversation_members",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("muted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("last_read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_read_message_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "role IN ('admin', 'member')", name=op.f("ck_conversation_members_role")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_members_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_conversation_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_members")),
        sa.UniqueConstraint(
            "conversation_id",
            "user_id",
            name=op.f("uq_conversation_members_conversation_id_user_id"),
        ),
    )
    with op.batch_alter_table("conversation_members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_members_user_id_conversation_id",
            ["user_id", "conversation_id"],
            unique=False,
        )

    op.create_table(
        "messages",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(length=15), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("media_url", sa.String(length=2048), nullable=True),
        sa.Column("media_type", sa.String(length=100), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("shared_post_id", sa.Uuid(), nullable=True),
        sa.Column("reply_to_id", sa.Uuid(), nullable=True),
        sa.Column("system_action", sa.String(length=10), nullable=True),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "(type = 'system') = (system_action IS NOT NULL)",
            name=op.f("ck_messages_system_action_for_system"),
        ),
        sa.CheckConstraint(
            "system_action IS NULL OR system_action IN ('created', 'added', 'removed', 'left', 'renamed', 'updated')",
            name=op.f("ck_messages_system_action"),
        ),
        sa.CheckConstraint(
            "type IN ('text', 'image', 'video', 'audio', 'voice', 'file', 'shared_post', 'system')",
            name=op.f("ck_messages_type"),
        ),
        sa.CheckConstraint(
            "duration_ms IS NULL OR duration_ms >= 0",
            name=op.f("ck_messages_duration_non_negative"),
        ),
        sa.CheckConstraint(
            "file_size IS NULL OR file_size >= 0", name=op.f("ck_messages_file_size_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reply_to_id"],
            ["messages.id"],
            name=op.f("fk_messages_reply_to_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["users.id"],
            name=op.f("fk_messages_sender_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shared_post_id"],
            ["posts.id"],
            name=op.f("fk_messages_shared_post_id_posts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["users.id"],
            name=op.f("fk_messages_subject_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_conversation_id_id", ["conversation_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_messages_expires_at",
            ["expires_at"],
            unique=False,
            postgresql_where=sa.text("expires_at IS NOT NULL"),
            sqlite_where=sa.text("expires_at IS NOT NULL"),
        )
        batch_op.create_index("ix_messages_reply_to_id", ["reply_to_id"], unique=False)
        batch_op.create_index("ix_messages_sender_id", ["sender_id"], unique=False)

    op.create_table(
        "message_mentions",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_mentions_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_message_mentions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "user_id", name=op.f("pk_message_mentions")),
    )
    with op.batch_alter_table("message_mentions", schema=None) as batch_op:
        batch_op.create_index("ix_message_mentions_user_id", ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("message_mentions", schema=None) as batch_op:
        batch_op.drop_index("ix_message_mentions_user_id")

    op.drop_table("message_mentions")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_sender_id")
        batch_op.drop_index("ix_messages_reply_to_id")
        batch_op.drop_index(
            "ix_messages_expires_at",
            postgresql_where=sa.text("expires_at IS NOT NULL"),
            sqlite_where=sa.text("expires_at IS NOT NULL"),
        )
        batch_op.drop_index("ix_messages_conversation_id_id")

    op.drop_table("messages")
    with op.batch_alter_table("conversation_members", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_members_user_id_conversation_id")

    op.drop_table("conversation_members")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_last_message_at_id")

    op.drop_table("conversations")
