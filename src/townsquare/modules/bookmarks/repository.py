"""All SQL of bookmarks.

The bookmarks list joins ``bookmarks`` to posts' viewer-filtered base statement
(``posts.repository.visible_posts_statement``): the visibility policy, the one rule every read
path shares, and no naming of the posts tables here.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, cast, delete, literal_column, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.models import new_id, utcnow
from townsquare.kit.sql import insert_or_ignore
from townsquare.modules.bookmarks.models import Bookmark, BookmarkCollection
from townsquare.modules.posts import repository as posts

# --- bookmarks --------------------------------------------------------------------------------


async def insert_bookmark(
    session: AsyncSession,
    owner_id: uuid.UUID,
    post_id: uuid.UUID,
    collection_id: uuid.UUID | None,
) -> bool:
    """Bookmark the post unless the owner already did (race-free); True if inserted."""
    return await insert_or_ignore(
        session,
        Bookmark,
        {
            "id": new_id(),
            "owner_id": owner_id,
            "post_id": post_id,
            "collection_id": collection_id,
            "created_at": utcnow(),
        },
        ["owner_id", "post_id"],
    )


async def move_bookmark(
    session: AsyncSession,
    owner_id: uuid.UUID,
    post_id: uuid.UUID,
    collection_id: uuid.UUID | None,
) -> None:
    await session.execute(
        update(Bookmark)
        .where(Bookmark.owner_id == owner_id, Bookmark.post_id == post_id)
        .values(collection_id=collection_id)
        .execution_options(synchronize_session=False)
    )


async def get_bookmark(
    session: AsyncSession, owner_id: uuid.UUID, post_id: uuid.UUID
) -> Bookmark | None:
    return await session.scalar(
        select(Bookmark)
        .where(Bookmark.owner_id == owner_id, Bookmark.post_id == post_id)
        .execution_options(populate_existing=True)
    )


async def delete_bookmark(session: AsyncSession, owner_id: uuid.UUID, post_id: uuid.UUID) -> None:
    await session.execute(
        delete(Bookmark)
        .where(Bookmark.owner_id == owner_id, Bookmark.post_id == post_id)
        .execution_options(synchronize_session=False)
    )


#: Which bookmarks to list: all of them (None), the default collection, or one collection.
DEFAULT_COLLECTION = "default"


def _in_collection(
    statement: Select[Bookmark], collection: uuid.UUID | str | None
) -> Select[Bookmark]:
    if collection is None:
        return statement
    if collection == DEFAULT_COLLECTION:
        return statement.where(Bookmark.collection_id.is_(None))
    return statement.where(Bookmark.collection_id == collection)


async def list_visible_bookmarks(
    session: AsyncSession,
    owner_id: uuid.UUID,
    collection: uuid.UUID | str | None,
    now: datetime,
    limit: int,
    before: uuid.UUID | None,
) -> list[Bookmark]:
    """The owner's bookmarks of live posts they may still see, newest bookmark first.

    A post that became invisible (deleted, archived, audience narrowed, author blocked either
    way or deactivated) is left out here, in SQL (posts' base statement), so pages stay full.
    """
    visible = posts.visible_posts_statement(owner_id, now).subquery("visible")
    statement = (
        select(Bookmark)
        .join(visible, visible.c.id == Bookmark.post_id)
        .where(Bookmark.owner_id == owner_id)
    )
    statement = _in_collection(statement, collection)
    if before is not None:
        statement = statement.where(Bookmark.id < before)
    statement = statement.order_by(Bookmark.id.desc()).limit(limit)
    return list((await session.scalars(statement)).all())


# --- collections ------------------------------------------------------------------------------


async def insert_collection(
    session: AsyncSession, owner_id: uuid.UUID, name: str
) -> uuid.UUID | None:
    """A new collection's id; None if the owner already has one with this name (race-free)."""
    collection_id = new_id()
    inserted = await insert_or_ignore(
        session,
        BookmarkCollection,
        {"id": collection_id, "owner_id": owner_id, "name": name, "created_at": utcnow()},
        ["owner_id", "name"],
    )
    return collection_id if inserted else None


async def get_own_collection(
    session: AsyncSession, owner_id: uuid.UUID, collection_id: uuid.UUID
) -> BookmarkCollection | None:
    return await session.scalar(
        select(BookmarkCollection).where(
            BookmarkCollection.id == collection_id, BookmarkCollection.owner_id == owner_id
        )
    )


async def collection_name_taken(
    session: AsyncSession, owner_id: uuid.UUID, name: str, other_than: uuid.UUID
) -> bool:
    found = await session.scalar(
        select(BookmarkCollection.id).where(
            BookmarkCollection.owner_id == owner_id,
            BookmarkCollection.name == name,
            BookmarkCollection.id != other_than,
        )
    )
    return found is not None


def own_collections_statement(owner_id: uuid.UUID) -> Select[BookmarkCollection]:
    return select(BookmarkCollection).where(BookmarkCollection.owner_id == owner_id)


async def delete_collection_and_bookmarks(
    session: AsyncSession, owner_id: uuid.UUID, collection_id: uuid.UUID
) -> bool:
    """Delete the owner's collection with the bookmarks in it; False if it is not theirs."""
    await session.execute(
        delete(Bookmark)
        .where(Bookmark.owner_id == owner_id, Bookmark.collection_id == collection_id)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(
        delete(BookmarkCollection)
        .where(BookmarkCollection.id == collection_id, BookmarkCollection.owner_id == owner_id)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- what presented posts show (registered with ``timeline.providers`` at start-up) -----------


def bookmarked_state(params: Any) -> Select[uuid.UUID, str, str, str]:
    """Viewer state ``bookmarked``: the posts the viewer bookmarked."""
    return select(
        Bookmark.post_id,
        literal_column("'bookmarked'", String),
        cast(null(), String),
        cast(null(), String),
    ).where(Bookmark.owner_id == params.viewer_id, Bookmark.post_id.in_(params.post_ids))
