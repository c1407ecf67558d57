"""Feeds: indexes for the visibility policy's lookups (friendship from the friend's side,
hidden and private accounts) and for a user's recent comments (the ranked feed's affinity).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 18:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_comments_author_id_created_at", "comments", ["author_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_friendships_friend_id_user_id", "friendships", ["friend_id", "user_id"], unique=False
    )
    for name, column in (
        ("ix_profiles_hidden", "is_hidden"),
        ("ix_profiles_private", "is_private"),
    ):
        op.create_index(
            name,
            "profiles",
            ["user_id"],
            unique=False,
            postgresql_where=sa.text(f"{column} IS TRUE"),
            sqlite_where=sa.text(f"{column} IS TRUE"),
        )


def downgrade() -> None:
    op.drop_index("ix_profiles_private", table_name="profiles")
    op.drop_index("ix_profiles_hidden", table_name="profiles")
    op.drop_index("ix_friendships_friend_id_user_id", table_name="friendships")
    op.drop_index("ix_comments_author_id_created_at", table_name="comments")
