"""The API contract of comments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from townsquare.kit.validation import NoNul
from townsquare.modules.profiles.schemas import PersonCard

#: The schema's ceiling; the deployment's limit (``comment_max_length``, 2,000 by default) is
#: checked by the service and answers 422 on ``body.content`` too.
CommentText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100_000),
    NoNul,
    Field(description="The comment's text; `@username` mentions are linked."),
]


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: CommentText


class CommentOut(BaseModel):
    """A comment as the viewer sees it.

    A deleted comment keeps its place in the thread: ``deleted`` is true, ``content`` is empty
    and ``author`` is null. ``reactions`` is null for viewers who hide metrics.
    """

    id: uuid.UUID
    post_id: uuid.UUID
    parent_id: uuid.UUID | None
    depth: int = Field(description="0 for a comment on the post, up to 3 for replies.")
    author: PersonCard | None
    content: str
    deleted: bool
    is_edited: bool
    edited_at: datetime | None
    created_at: datetime
    replies_count: int = Field(description="Replies attached to this comment, deleted included.")
    reactions: dict[str, int] | None = Field(description="Counts per reaction type.")
    my_reaction: str | None
