"""Use cases of bookmarks. Services flush; the edge commits.

A bookmark inherits its post's visibility: a post is bookmarked only if the viewer may see it
(and it is published), and the list shows only the bookmarked posts the owner may still see.
Deleting a collection deletes the bookmarks in it (the schema cascades the same way); to keep
them, move them first (PUT the bookmark with another collection).
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.errors import Conflict, NotFound, ValidationFailed
from townsquare.kit.models import utcnow
from townsquare.kit.pagination import (
    Page,
    PageRequest,
    decode_id_cursor,
    encode_cursor,
    paginate_by_id,
)
from townsquare.modules.bookmarks import repository
from townsquare.modules.bookmarks.models import Bookmark, BookmarkCollection
from townsquare.modules.bookmarks.schemas import CollectionOut
from townsquare.modules.posts import policy as posts_policy
from townsquare.modules.posts import service as posts

DEFAULT_COLLECTION = repository.DEFAULT_COLLECTION


class CollectionNotFound(NotFound):
    code = "collection_not_found"


class CollectionNameTaken(Conflict):
    code = "collection_name_taken"


# --- bookmarks --------------------------------------------------------------------------------


async def bookmark_post(
    session: AsyncSession,
    owner_id: uuid.UUID,
    post_id: uuid.UUID,
    collection_id: uuid.UUID | None,
) -> tuple[Bookmark, bool]:
    """Bookmark a post the owner may see into a collection (None: the default one), or move
    the existing bookmark there. Returns the bookmark and whether it is new."""
    post = await posts.get_visible_post_or_404(session, owner_id, post_id)
    if not posts_policy.is_live(post, utcnow()):
        # The author may see their drafts, archived and deleted posts; none can be bookmarked.
        raise posts.PostNotFound()
    if collection_id is not None:
        await get_collection_or_404(session, owner_id, collection_id)
    created = await repository.insert_bookmark(session, owner_id, post_id, collection_id)
    if not created:
        await repository.move_bookmark(session, owner_id, post_id, collection_id)
    bookmark = await repository.get_bookmark(session, owner_id, post_id)
    assert bookmark is not None
    return bookmark, created


async def remove_bookmark(session: AsyncSession, owner_id: uuid.UUID, post_id: uuid.UUID) -> None:
    """Idempotent, and needs no visibility: a bookmark of a post gone invisible can go too."""
    await repository.delete_bookmark(session, owner_id, post_id)


def parse_collection_filter(value: str | None) -> uuid.UUID | str | None:
    """``None`` (every bookmark), ``"default"``, or a collection id."""
    if value is None or value == DEFAULT_COLLECTION:
        return value
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise ValidationFailed.on(
            "query.collection", "Must be `default` or a collection id.", "invalid_collection"
        ) from exc


async def list_bookmarks(
    session: AsyncSession, owner_id: uuid.UUID, collection: str | None, page: PageRequest
) -> tuple[list[Bookmark], str | None]:
    """My bookmarks (all, the default collection, or one collection), newest first, of posts
    I may still see (the others are left out), and the next cursor. Constant queries; the
    endpoint has ``timeline`` present the posts."""
    wanted = parse_collection_filter(collection)
    if isinstance(wanted, uuid.UUID):
        await get_collection_or_404(session, owner_id, wanted)
    before = decode_id_cursor(page.cursor) if page.cursor else None
    now = utcnow()
    rows = await repository.list_visible_bookmarks(
        session, owner_id, wanted, now, page.limit + 1, before
    )
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        next_cursor = encode_cursor({"id": str(rows[-1].id)})
    return rows, next_cursor


# --- collections ------------------------------------------------------------------------------


async def get_collection_or_404(
    session: AsyncSession, owner_id: uuid.UUID, collection_id: uuid.UUID
) -> BookmarkCollection:
    """The owner's collection; someone else's answers 404, the same as a missing one."""
    collection = await repository.get_own_collection(session, owner_id, collection_id)
    if collection is None:
        raise CollectionNotFound()
    return collection


async def create_collection(
    session: AsyncSession, owner_id: uuid.UUID, name: str
) -> BookmarkCollection:
    collection_id = await repository.insert_collection(session, owner_id, name)
    if collection_id is None:
        raise CollectionNameTaken("You already have a collection with this name.")
    return await get_collection_or_404(session, owner_id, collection_id)


async def rename_collection(
    session: AsyncSession, owner_id: uuid.UUID, collection_id: uuid.UUID, name: str
) -> BookmarkCollection:
    collection = await get_collection_or_404(session, owner_id, collection_id)
    if await repository.collection_name_taken(session, owner_id, name, collection_id):
        raise CollectionNameTaken("You already have a collection with this name.")
    collection.name = name
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent request took the name first
        raise CollectionNameTaken("You already have a collection with this name.") from exc
    return collection


async def delete_collection(
    session: AsyncSession, owner_id: uuid.UUID, collection_id: uuid.UUID
) -> None:
    """Delete the collection and the bookmarks in it."""
    if not await repository.delete_collection_and_bookmarks(session, owner_id, collection_id):
        raise CollectionNotFound()


async def list_collections(
    session: AsyncSession, owner_id: uuid.UUID, page: PageRequest
) -> Page[CollectionOut]:
    """My collections, newest first (the default collection is implicit and not listed)."""
    rows, cursor = await paginate_by_id(
        session, repository.own_collections_statement(owner_id), BookmarkCollection.id, page
    )
    return Page(items=[CollectionOut.model_validate(c) for c in rows], next_cursor=cursor)
