"""The API contract of bookmarks and bookmark collections."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from townsquare.kit.validation import NoNul, Visible
from townsquare.modules.posts.schemas import PostOut

CollectionName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    NoNul,
    Visible(100),
]


class BookmarkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    collection_id: uuid.UUID | None = Field(
        default=None, description="One of my collections; null or omitted: the default one."
    )


class BookmarkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    post_id: uuid.UUID
    collection_id: uuid.UUID | None = Field(description="Null: the default collection.")
    created_at: datetime


class BookmarkedPostOut(BaseModel):
    """A bookmark with the post as the owner sees it now."""

    id: uuid.UUID
    collection_id: uuid.UUID | None = Field(description="Null: the default collection.")
    created_at: datetime
    post: PostOut


class CollectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CollectionName


class CollectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    created_at: datetime
