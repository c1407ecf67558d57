"""Social graph and content: friendships, follows, close friends, mutes, blocks, counts; posts, media, revisions, mentions, polls; comments; reactions; bookmarks; topics.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 15:07:28.143771+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("privacy_settings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "connections_visibility",
                sa.String(length=10),
                server_default="public",
                nullable=False,
            )
        )
        batch_op.create_check_constraint(
            "connections_visibility", "connections_visibility IN ('public', 'friends', 'only_me')"
        )

    op.create_table(
        "reaction_counts",
        sa.Column("target_type", sa.String(length=10), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint("count >= 0", name=op.f("ck_reaction_counts_count_non_negative")),
        sa.PrimaryKeyConstraint(
            "target_type", "target_id", "type", name=op.f("pk_reaction_counts")
        ),
    )
    op.create_table(
        "topics",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("color", sa.String(length=7), nullable=True),
        sa.Column("icon", sa.String(length=100), nullable=True),
        sa.Column("post_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("follower_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("is_featured", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("trending_score", sa.Double(), server_default="0", nullable=False),
        sa.Column("trending_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "post_count >= 0 AND follower_count >= 0", name=op.f("ck_topics_counts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topics")),
        sa.UniqueConstraint("name", name=op.f("uq_topics_name")),
    )
    with op.batch_alter_table("topics", schema=None) as batch_op:
        batch_op.create_index("ix_topics_trending_score", ["trending_score"], unique=False)

    op.create_table(
        "blocks",
        sa.Column("blocker_id", sa.Uuid(), nullable=False),
        sa.Column("blocked_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("blocker_id <> blocked_id", name=op.f("ck_blocks_not_self")),
        sa.ForeignKeyConstraint(
            ["blocked_id"],
            ["users.id"],
            name=op.f("fk_blocks_blocked_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["blocker_id"],
            ["users.id"],
            name=op.f("fk_blocks_blocker_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blocks")),
        sa.UniqueConstraint(
            "blocker_id", "blocked_id", name=op.f("uq_blocks_blocker_id_blocked_id")
        ),
    )
    with op.batch_alter_table("blocks", schema=None) as batch_op:
        batch_op.create_index("ix_blocks_blocked_id", ["blocked_id"], unique=False)
        batch_op.create_index("ix_blocks_blocker_id_id", ["blocker_id", "id"], unique=False)

    op.create_table(
        "bookmark_collections",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_bookmark_collections_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookmark_collections")),
        sa.UniqueConstraint("owner_id", "name", name=op.f("uq_bookmark_collections_owner_id_name")),
    )
    op.create_table(
        "close_friends",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("owner_id <> member_id", name=op.f("ck_close_friends_not_self")),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["users.id"],
            name=op.f("fk_close_friends_member_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_close_friends_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_close_friends")),
        sa.UniqueConstraint(
            "owner_id", "member_id", name=op.f("uq_close_friends_owner_id_member_id")
        ),
    )
    with op.batch_alter_table("close_friends", schema=None) as batch_op:
        batch_op.create_index("ix_close_friends_owner_id_id", ["owner_id", "id"], unique=False)

    op.create_table(
        "follows",
        sa.Column("follower_id", sa.Uuid(), nullable=False),
        sa.Column("followee_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("notify_on_post", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("status IN ('active', 'pending')", name=op.f("ck_follows_status")),
        sa.CheckConstraint("follower_id <> followee_id", name=op.f("ck_follows_not_self")),
        sa.ForeignKeyConstraint(
            ["followee_id"],
            ["users.id"],
            name=op.f("fk_follows_followee_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["follower_id"],
            ["users.id"],
            name=op.f("fk_follows_follower_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follows")),
        sa.UniqueConstraint(
            "follower_id", "followee_id", name=op.f("uq_follows_follower_id_followee_id")
        ),
    )
    with op.batch_alter_table("follows", schema=None) as batch_op:
        batch_op.create_index(
            "ix_follows_followee_id_status_id", ["followee_id", "status", "id"], unique=False
        )
        batch_op.create_index(
            "ix_follows_follower_id_status_id", ["follower_id", "status", "id"], unique=False
        )

    op.create_table(
        "friend_requests",
        sa.Column("requester_id", sa.Uuid(), nullable=False),
        sa.Column("addressee_id", sa.Uuid(), nullable=False),
        sa.Column("pair_low_id", sa.Uuid(), nullable=False),
        sa.Column("pair_high_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "requester_id <> addressee_id", name=op.f("ck_friend_requests_not_self")
        ),
        sa.ForeignKeyConstraint(
            ["addressee_id"],
            ["users.id"],
            name=op.f("fk_friend_requests_addressee_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["users.id"],
            name=op.f("fk_friend_requests_requester_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_friend_requests")),
        sa.UniqueConstraint(
            "pair_low_id", "pair_high_id", name=op.f("uq_friend_requests_pair_low_id_pair_high_id")
        ),
    )
    with op.batch_alter_table("friend_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_friend_requests_addressee_id_id", ["addressee_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_friend_requests_requester_id_id", ["requester_id", "id"], unique=False
        )

    op.create_table(
        "friendships",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("friend_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("user_id <> friend_id", name=op.f("ck_friendships_not_self")),
        sa.ForeignKeyConstraint(
            ["friend_id"],
            ["users.id"],
            name=op.f("fk_friendships_friend_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_friendships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_friendships")),
        sa.UniqueConstraint("user_id", "friend_id", name=op.f("uq_friendships_user_id_friend_id")),
    )
    with op.batch_alter_table("friendships", schema=None) as batch_op:
        batch_op.create_index("ix_friendships_user_id_id", ["user_id", "id"], unique=False)

    op.create_table(
        "mutes",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("muted_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("owner_id <> muted_id", name=op.f("ck_mutes_not_self")),
        sa.ForeignKeyConstraint(
            ["muted_id"], ["users.id"], name=op.f("fk_mutes_muted_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_mutes_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mutes")),
        sa.UniqueConstraint("owner_id", "muted_id", name=op.f("uq_mutes_owner_id_muted_id")),
    )
    with op.batch_alter_table("mutes", schema=None) as batch_op:
        batch_op.create_index("ix_mutes_owner_id_id", ["owner_id", "id"], unique=False)

    op.create_table(
        "posts",
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("visibility", sa.String(length=15), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("is_edited", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("location_name", sa.String(length=200), nullable=True),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("link_url", sa.String(length=2048), nullable=True),
        sa.Column("allow_reactions", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("comment_permission", sa.String(length=10), nullable=False),
        sa.Column("shared_post_id", sa.Uuid(), nullable=True),
        sa.Column("comment_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("share_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("view_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "comment_permission IN ('everyone', 'friends', 'nobody')",
            name=op.f("ck_posts_comment_permission"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'scheduled', 'published')", name=op.f("ck_posts_status")
        ),
        sa.CheckConstraint(
            "type IN ('text', 'photo', 'video', 'link', 'audio', 'poll')",
            name=op.f("ck_posts_type"),
        ),
        sa.CheckConstraint(
            "visibility IN ('public', 'friends', 'close_friends', 'only_me', 'custom')",
            name=op.f("ck_posts_visibility"),
        ),
        sa.CheckConstraint(
            "comment_count >= 0 AND share_count >= 0 AND view_count >= 0",
            name=op.f("ck_posts_counts"),
        ),
        sa.CheckConstraint(
            "latitude IS NULL OR latitude BETWEEN -90 AND 90", name=op.f("ck_posts_latitude")
        ),
        sa.CheckConstraint(
            "longitude IS NULL OR longitude BETWEEN -180 AND 180", name=op.f("ck_posts_longitude")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_posts_author_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["shared_post_id"],
            ["posts.id"],
            name=op.f("fk_posts_shared_post_id_posts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posts")),
    )
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_posts_author_id_published_at_id", ["author_id", "published_at", "id"], unique=False
        )
        batch_op.create_index("ix_posts_published_at_id", ["published_at", "id"], unique=False)
        batch_op.create_index(
            "ix_posts_scheduled_due",
            ["published_at"],
            unique=False,
            postgresql_where=sa.text("status = 'scheduled'"),
            sqlite_where=sa.text("status = 'scheduled'"),
        )
        batch_op.create_index("ix_posts_shared_post_id", ["shared_post_id"], unique=False)

    op.create_table(
        "reactions",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("target_type", sa.String(length=10), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "target_type IN ('post', 'comment')", name=op.f("ck_reactions_target_type")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_reactions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reactions")),
        sa.UniqueConstraint(
            "target_type",
            "target_id",
            "user_id",
            name=op.f("uq_reactions_target_type_target_id_user_id"),
        ),
    )
    with op.batch_alter_table("reactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reactions_target_type_target_id_id",
            ["target_type", "target_id", "id"],
            unique=False,
        )
        batch_op.create_index("ix_reactions_user_id", ["user_id"], unique=False)

    op.create_table(
        "topic_daily_usage",
        sa.Column("topic_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topics.id"],
            name=op.f("fk_topic_daily_usage_topic_id_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("topic_id", "day", name=op.f("pk_topic_daily_usage")),
    )
    op.create_table(
        "topic_follows",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("topic_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topics.id"],
            name=op.f("fk_topic_follows_topic_id_topics"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_topic_follows_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_follows")),
        sa.UniqueConstraint("user_id", "topic_id", name=op.f("uq_topic_follows_user_id_topic_id")),
    )
    with op.batch_alter_table("topic_follows", schema=None) as batch_op:
        batch_op.create_index("ix_topic_follows_topic_id", ["topic_id"], unique=False)

    op.create_table(
        "user_stats",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("followers_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("following_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("friends_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("posts_count", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "followers_count >= 0", name=op.f("ck_user_stats_followers_count_non_negative")
        ),
        sa.CheckConstraint(
            "following_count >= 0", name=op.f("ck_user_stats_following_count_non_negative")
        ),
        sa.CheckConstraint(
            "friends_count >= 0", name=op.f("ck_user_stats_friends_count_non_negative")
        ),
        sa.CheckConstraint("posts_count >= 0", name=op.f("ck_user_stats_posts_count_non_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_stats_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_stats")),
    )
    op.create_table(
        "bookmarks",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("collection_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["bookmark_collections.id"],
            name=op.f("fk_bookmarks_collection_id_bookmark_collections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_bookmarks_owner_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_bookmarks_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookmarks")),
        sa.UniqueConstraint("owner_id", "post_id", name=op.f("uq_bookmarks_owner_id_post_id")),
    )
    with op.batch_alter_table("bookmarks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bookmarks_owner_id_collection_id_id",
            ["owner_id", "collection_id", "id"],
            unique=False,
        )

    op.create_table(
        "comments",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("is_edited", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replies_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("depth BETWEEN 0 AND 3", name=op.f("ck_comments_depth")),
        sa.CheckConstraint(
            "replies_count >= 0", name=op.f("ck_comments_replies_count_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_comments_author_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["comments.id"],
            name=op.f("fk_comments_parent_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_comments_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.create_index("ix_comments_parent_id_id", ["parent_id", "id"], unique=False)
        batch_op.create_index(
            "ix_comments_post_id_parent_id_id", ["post_id", "parent_id", "id"], unique=False
        )

    op.create_table(
        "polls",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("allows_multiple", sa.Boolean(), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_polls_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("post_id", name=op.f("pk_polls")),
    )
    op.create_table(
        "post_audience",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
            name=op.f("fk_post_audience_post_id_posts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_post_audience_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("post_id", "user_id", name=op.f("pk_post_audience")),
    )
    op.create_table(
        "post_media",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=10), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("thumbnail_url", sa.String(length=2048), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("duration_seconds", sa.Double(), nullable=True),
        sa.Column("alt_text", sa.String(length=1500), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "media_type IN ('image', 'video', 'audio', 'gif')",
            name=op.f("ck_post_media_media_type"),
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_post_media_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_media")),
        sa.UniqueConstraint("post_id", "position", name=op.f("uq_post_media_post_id_position")),
    )
    op.create_table(
        "post_mentions",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
            name=op.f("fk_post_mentions_post_id_posts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_post_mentions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("post_id", "user_id", name=op.f("pk_post_mentions")),
    )
    with op.batch_alter_table("post_mentions", schema=None) as batch_op:
        batch_op.create_index("ix_post_mentions_user_id", ["user_id", "post_id"], unique=False)

    op.create_table(
        "post_revisions",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("location_name", sa.String(length=200), nullable=True),
        sa.Column("link_url", sa.String(length=2048), nullable=True),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
            name=op.f("fk_post_revisions_post_id_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_revisions")),
    )
    with op.batch_alter_table("post_revisions", schema=None) as batch_op:
        batch_op.create_index("ix_post_revisions_post_id_id", ["post_id", "id"], unique=False)

    op.create_table(
        "post_topics",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("topic_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_post_topics_post_id_posts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topics.id"],
            name=op.f("fk_post_topics_topic_id_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("post_id", "topic_id", name=op.f("pk_post_topics")),
    )
    with op.batch_alter_table("post_topics", schema=None) as batch_op:
        batch_op.create_index(
            "ix_post_topics_topic_id_post_id", ["topic_id", "post_id"], unique=False
        )

    op.create_table(
        "comment_mentions",
        sa.Column("comment_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_comment_mentions_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_comment_mentions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("comment_id", "user_id", name=op.f("pk_comment_mentions")),
    )
    with op.batch_alter_table("comment_mentions", schema=None) as batch_op:
        batch_op.create_index("ix_comment_mentions_user_id", ["user_id"], unique=False)

    op.create_table(
        "poll_options",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=200), nullable=False),
        sa.Column("votes_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "votes_count >= 0", name=op.f("ck_poll_options_votes_count_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["polls.post_id"],
            name=op.f("fk_poll_options_post_id_polls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_options")),
        sa.UniqueConstraint("post_id", "position", name=op.f("uq_poll_options_post_id_position")),
    )
    op.create_table(
        "poll_votes",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("option_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["option_id"],
            ["poll_options.id"],
            name=op.f("fk_poll_votes_option_id_poll_options"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["polls.post_id"],
            name=op.f("fk_poll_votes_post_id_polls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_poll_votes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_votes")),
        sa.UniqueConstraint(
            "post_id", "user_id", "slot", name=op.f("uq_poll_votes_post_id_user_id_slot")
        ),
    )


def downgrade() -> None:

    op.drop_table("poll_votes")
    op.drop_table("poll_options")
    with op.batch_alter_table("comment_mentions", schema=None) as batch_op:
        batch_op.drop_index("ix_comment_mentions_user_id")

    op.drop_table("comment_mentions")
    with op.batch_alter_table("post_topics", schema=None) as batch_op:
        batch_op.drop_index("ix_post_topics_topic_id_post_id")

    op.drop_table("post_topics")
    with op.batch_alter_table("post_revisions", schema=None) as batch_op:
        batch_op.drop_index("ix_post_revisions_post_id_id")

    op.drop_table("post_revisions")
    with op.batch_alter_table("post_mentions", schema=None) as batch_op:
        batch_op.drop_index("ix_post_mentions_user_id")

    op.drop_table("post_mentions")
    op.drop_table("post_media")
    op.drop_table("post_audience")
    op.drop_table("polls")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index("ix_comments_post_id_parent_id_id")
        batch_op.drop_index("ix_comments_parent_id_id")

    op.drop_table("comments")
    with op.batch_alter_table("bookmarks", schema=None) as batch_op:
        batch_op.drop_index("ix_bookmarks_owner_id_collection_id_id")

    op.drop_table("bookmarks")
    op.drop_table("user_stats")
    with op.batch_alter_table("topic_follows", schema=None) as batch_op:
        batch_op.drop_index("ix_topic_follows_topic_id")

    op.drop_table("topic_follows")
    op.drop_table("topic_daily_usage")
    with op.batch_alter_table("reactions", schema=None) as batch_op:
        batch_op.drop_index("ix_reactions_user_id")
        batch_op.drop_index("ix_reactions_target_type_target_id_id")

    op.drop_table("reactions")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index("ix_posts_shared_post_id")
        batch_op.drop_index(
            "ix_posts_scheduled_due",
            postgresql_where=sa.text("status = 'scheduled'"),
            sqlite_where=sa.text("status = 'scheduled'"),
        )
        batch_op.drop_index("ix_posts_published_at_id")
        batch_op.drop_index("ix_posts_author_id_published_at_id")

    op.drop_table("posts")
    with op.batch_alter_table("mutes", schema=None) as batch_op:
        batch_op.drop_index("ix_mutes_owner_id_id")

    op.drop_table("mutes")
    with op.batch_alter_table("friendships", schema=None) as batch_op:
        batch_op.drop_index("ix_friendships_user_id_id")

    op.drop_table("friendships")
    with op.batch_alter_table("friend_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_friend_requests_requester_id_id")
        batch_op.drop_index("ix_friend_requests_addressee_id_id")

    op.drop_table("friend_requests")
    with op.batch_alter_table("follows", schema=None) as batch_op:
        batch_op.drop_index("ix_follows_follower_id_status_id")
        batch_op.drop_index("ix_follows_followee_id_status_id")

    op.drop_table("follows")
    with op.batch_alter_table("close_friends", schema=None) as batch_op:
        batch_op.drop_index("ix_close_friends_owner_id_id")

    op.drop_table("close_friends")
    op.drop_table("bookmark_collections")
    with op.batch_alter_table("blocks", schema=None) as batch_op:
        batch_op.drop_index("ix_blocks_blocker_id_id")
        batch_op.drop_index("ix_blocks_blocked_id")

    op.drop_table("blocks")
    with op.batch_alter_table("topics", schema=None) as batch_op:
        batch_op.drop_index("ix_topics_trending_score")

    op.drop_table("topics")
    op.drop_table("reaction_counts")
    with op.batch_alter_table("privacy_settings", schema=None) as batch_op:
        batch_op.drop_constraint("connections_visibility", type_="check")
        batch_op.drop_column("connections_visibility")
