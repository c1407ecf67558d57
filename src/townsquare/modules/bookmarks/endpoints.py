"""HTTP endpoints of bookmarks: bookmark a post, my bookmarks, my collections."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Response, status

from townsquare.kit.auth import CurrentViewer
from townsquare.kit.errors import problem_responses
from townsquare.kit.pagination import Page, PageRequest, page_request
from townsquare.kit.responses import json_moment, json_response
from townsquare.kit.web import SessionDep, UnitOfWorkRoute, limit_per_account
from townsquare.modules.bookmarks import service
from townsquare.modules.bookmarks.schemas import (
    BookmarkedPostOut,
    BookmarkIn,
    BookmarkOut,
    CollectionIn,
    CollectionOut,
)
from townsquare.modules.timeline import service as timeline

router = APIRouter(
    route_class=UnitOfWorkRoute, tags=["bookmarks"], responses=problem_responses(401, 422)
)

PostId = Annotated[uuid.UUID, Path(description="The post's id.")]
CollectionId = Annotated[uuid.UUID, Path(description="One of my collections.")]
PageDep = Annotated[PageRequest, Depends(page_request)]


@router.put(
    "/posts/{post_id}/bookmark",
    response_model=BookmarkOut,
    summary="Bookmark a post, or move my bookmark to another collection",
    responses={
        201: {"model": BookmarkOut, "description": "Bookmarked (it was not before)."},
        **problem_responses(400, 404),
    },
    dependencies=[limit_per_account("bookmarks", "rate_limit_bookmarks")],
)
async def put_bookmark(
    post_id: PostId,
    viewer: CurrentViewer,
    session: SessionDep,
    response: Response,
    body: Annotated[BookmarkIn | None, Body()] = None,
) -> object:
    collection_id = body.collection_id if body is not None else None
    bookmark, created = await service.bookmark_post(session, viewer.user_id, post_id, collection_id)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return bookmark


@router.delete(
    "/posts/{post_id}/bookmark",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Remove my bookmark of a post (none: no change)",
)
async def delete_bookmark(post_id: PostId, viewer: CurrentViewer, session: SessionDep) -> Response:
    await service.remove_bookmark(session, viewer.user_id, post_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/me/bookmarks",
    response_model=Page[BookmarkedPostOut],
    summary="My bookmarks, newest first, as the posts look to me now",
    responses=problem_responses(404),
)
async def list_my_bookmarks(
    viewer: CurrentViewer,
    session: SessionDep,
    page: PageDep,
    collection: Annotated[
        str | None,
        Query(
            max_length=36,
            description="`default` for the default collection, or a collection id; "
            "omitted: every bookmark.",
        ),
    ] = None,
) -> object:
    bookmarks, next_cursor = await service.list_bookmarks(session, viewer.user_id, collection, page)
    posts = await timeline.present_posts(session, viewer.user_id, [b.post_id for b in bookmarks])
    by_id = {post["id"]: post for post in posts}
    items = [
        {
            "id": str(bookmark.id),
            "collection_id": str(bookmark.collection_id) if bookmark.collection_id else None,
            "created_at": json_moment(bookmark.created_at),
            "post": by_id[str(bookmark.post_id)],
        }
        for bookmark in bookmarks
        if str(bookmark.post_id) in by_id
    ]
    return json_response(timeline.page_of(items, next_cursor))


@router.get(
    "/me/bookmark-collections",
    response_model=Page[CollectionOut],
    summary="My bookmark collections, newest first",
)
async def list_my_collections(viewer: CurrentViewer, session: SessionDep, page: PageDep) -> object:
    return await service.list_collections(session, viewer.user_id, page)


@router.post(
    "/me/bookmark-collections",
    response_model=CollectionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a bookmark collection",
    responses=problem_responses(400, 409),
    dependencies=[limit_per_account("bookmarks", "rate_limit_bookmarks")],
)
async def create_collection(
    body: CollectionIn, viewer: CurrentViewer, session: SessionDep
) -> object:
    return await service.create_collection(session, viewer.user_id, body.name)


@router.get(
    "/me/bookmark-collections/{collection_id}",
    response_model=CollectionOut,
    summary="One of my bookmark collections",
    responses=problem_responses(404),
)
async def get_collection(
    collection_id: CollectionId, viewer: CurrentViewer, session: SessionDep
) -> object:
    return await service.get_collection_or_404(session, viewer.user_id, collection_id)


@router.patch(
    "/me/bookmark-collections/{collection_id}",
    response_model=CollectionOut,
    summary="Rename a bookmark collection",
    responses=problem_responses(400, 404, 409),
)
async def rename_collection(
    collection_id: CollectionId, body: CollectionIn, viewer: CurrentViewer, session: SessionDep
) -> object:
    return await service.rename_collection(session, viewer.user_id, collection_id, body.name)


@router.delete(
    "/me/bookmark-collections/{collection_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a bookmark collection and the bookmarks in it",
    responses=problem_responses(404),
)
async def delete_collection(
    collection_id: CollectionId, viewer: CurrentViewer, session: SessionDep
) -> Response:
    await service.delete_collection(session, viewer.user_id, collection_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
