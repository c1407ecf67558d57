"""Home inbox: the embedded mode's feed store, filled on write (see ``feed/models.py``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 00:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "home_inbox",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
            name=op.f("fk_home_inbox_post_id_posts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_home_inbox_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "score", "post_id", name=op.f("pk_home_inbox")),
    )
    op.create_index(op.f("ix_home_inbox_post_id"), "home_inbox", ["post_id"], unique=False)
    op.create_table(
        "home_inbox_builds",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_home_inbox_builds_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_home_inbox_builds")),
    )


def downgrade() -> None:
    op.drop_table("home_inbox_builds")
    op.drop_index(op.f("ix_home_inbox_post_id"), table_name="home_inbox")
    op.drop_table("home_inbox")
