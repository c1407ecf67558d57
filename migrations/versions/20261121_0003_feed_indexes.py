"""Feeds: an index for a user's recent comments (the ranked feed's affinity).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 18:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_comments_author_id_created_at", "comments", ["author_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_comments_author_id_created_at", table_name="comments")
