"""The API contract of posts: what a client sends to write a post, and what it reads back.

Request fields are strict (no ``"5"`` for a number, no ``"yes"`` for a boolean, no number of
seconds for a time): the OpenAPI schema says what is accepted and nothing else is. Rules that
depend on settings or on several fields at once (length limit, type vs. media, link posts, the
audience of a custom post...) are checked by the service, so creation and edits share them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictFloat,
    StringConstraints,
    field_validator,
)

from townsquare.kit.contract import HttpUrlIn, WholeNumber, omittable_not_null
from townsquare.kit.validation import NoNul, Visible
from townsquare.modules.posts.models import (
    CommentPermission,
    MediaType,
    PostStatus,
    PostType,
    Visibility,
)
from townsquare.modules.profiles.schemas import PersonCard

#: Most media items a post may carry.
MAX_MEDIA = 10
MIN_POLL_OPTIONS, MAX_POLL_OPTIONS = 2, 10
#: Most users a custom audience may list in one request.
MAX_AUDIENCE = 1000
#: The schema's own ceiling on content; the deployment's limit (``post_max_length``) is lower.
CONTENT_CEILING = 100_000


def _string_only(value: Any) -> Any:
    """Times are RFC 3339 strings only: lax mode would also take a number of seconds."""
    if value is not None and not isinstance(value, str):
        raise ValueError("must be a date-time string such as 2030-01-31T12:00:00Z")
    return value


def _aware_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("must carry a time zone (e.g. Z or +02:00)")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 9999-12-31T23:59:59-05:00 is past year 9999 in UTC
        raise ValueError("is out of range") from exc


def _refuse_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may be omitted but not null")
    return value


Moment = Annotated[datetime, BeforeValidator(_string_only), AfterValidator(_aware_utc)]
Url = HttpUrlIn
Content = Annotated[str, StringConstraints(max_length=CONTENT_CEILING), NoNul]
LocationName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    NoNul,
    Visible(200),
]
Latitude = Annotated[StrictFloat, Field(ge=-90, le=90)]
Longitude = Annotated[StrictFloat, Field(ge=-180, le=180)]
UserRefIn = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    NoNul,
    Field(description="A user id or a username."),
]
Audience = Annotated[list[UserRefIn], Field(min_length=1, max_length=MAX_AUDIENCE)]


class MediaIn(BaseModel):
    """A media item by reference (uploading files comes with the media module)."""

    model_config = ConfigDict(extra="forbid")

    media_type: MediaType
    url: Url
    thumbnail_url: Url | None = None
    size_bytes: Annotated[int, Strict(), Field(ge=0, le=10**12), WholeNumber] | None = None
    width: Annotated[int, Strict(), Field(ge=1, le=100_000), WholeNumber] | None = None
    height: Annotated[int, Strict(), Field(ge=1, le=100_000), WholeNumber] | None = None
    duration_seconds: Annotated[StrictFloat, Field(ge=0, le=10**7)] | None = None
    alt_text: Annotated[str, StringConstraints(max_length=1500), NoNul] | None = None


class PollIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    options: Annotated[
        list[
            Annotated[
                str,
                StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                NoNul,
                Visible(200),
            ]
        ],
        Field(
            min_length=MIN_POLL_OPTIONS,
            max_length=MAX_POLL_OPTIONS,
            # Distinct ignoring case and surrounding white space; the schema can say "distinct".
            json_schema_extra={"uniqueItems": True},
            description="Different from each other, ignoring case and surrounding white space.",
        ),
    ]
    allows_multiple: StrictBool = False
    closes_at: Moment | None = Field(default=None, description="In the future; null: never.")

    @field_validator("options")
    @classmethod
    def _distinct(cls, options: list[str]) -> list[str]:
        if len({option.casefold() for option in options}) != len(options):
            raise ValueError("options must be different from each other")
        return options


class PostCreate(BaseModel):
    """A new post. ``draft`` keeps it unpublished; ``publish_at`` schedules it."""

    model_config = ConfigDict(extra="forbid")

    type: PostType = PostType.TEXT
    content: Content = ""
    visibility: Visibility = Visibility.PUBLIC
    audience: Audience | None = Field(
        default=None, description="Only with `custom` visibility: who may see the post."
    )
    location_name: LocationName | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    link_url: Url | None = None
    media: Annotated[list[MediaIn], Field(max_length=MAX_MEDIA)] = []
    poll: PollIn | None = None
    allow_reactions: StrictBool = True
    comment_permission: CommentPermission = CommentPermission.EVERYONE
    draft: StrictBool = False
    publish_at: Moment | None = Field(default=None, description="A future time: schedules it.")


class PostUpdate(BaseModel):
    """Omitted fields stay as they are; ``null`` clears an optional field."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=omittable_not_null(
            "content", "visibility", "allow_reactions", "comment_permission"
        ),
    )

    content: Content | None = None
    visibility: Visibility | None = None
    audience: Audience | None = None
    location_name: LocationName | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    link_url: Url | None = None
    allow_reactions: StrictBool | None = None
    comment_permission: CommentPermission | None = None

    check_not_null = field_validator(
        "content", "visibility", "allow_reactions", "comment_permission"
    )(_refuse_null)

    def changes(self) -> dict[str, Any]:
        values = self.model_dump(exclude_unset=True)
        if values.get("link_url") is not None:
            values["link_url"] = str(values["link_url"])
        return values


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    publish_at: Moment | None = Field(
        default=None, description="A future time schedules the post; omitted: publish now."
    )


class ShareCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: Content = ""
    visibility: Visibility = Visibility.PUBLIC
    audience: Audience | None = None
    allow_reactions: StrictBool = True
    comment_permission: CommentPermission = CommentPermission.EVERYONE


class VoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    option_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_POLL_OPTIONS)]


# --- answers


class UserRef(BaseModel):
    user_id: uuid.UUID
    username: str


class LocationOut(BaseModel):
    name: str
    latitude: float | None
    longitude: float | None


class MediaOut(BaseModel):
    id: uuid.UUID
    position: int
    media_type: MediaType
    url: str
    thumbnail_url: str | None
    size_bytes: int | None
    width: int | None
    height: int | None
    duration_seconds: float | None
    alt_text: str | None


class PollOptionOut(BaseModel):
    id: uuid.UUID
    text: str
    votes_count: int


class PollOut(BaseModel):
    allows_multiple: bool
    closes_at: datetime | None
    is_closed: bool
    options: list[PollOptionOut]
    total_votes: int = Field(description="Votes over all options (a voter may pick several).")
    viewer_choices: list[uuid.UUID] = Field(description="The options the viewer voted for.")


class EmbeddedPostOut(BaseModel):
    """A post as shown to one viewer. Counts are null for viewers who hide metrics;
    ``view_count`` and ``audience`` are for the author only."""

    id: uuid.UUID
    author: PersonCard
    type: PostType
    content: str
    hashtags: list[str]
    mentions: list[UserRef] = Field(description="Linked @mentions (users who may see the post).")
    visibility: Visibility
    status: PostStatus
    published_at: datetime | None = Field(description="For a scheduled post: when it goes out.")
    created_at: datetime
    is_edited: bool
    edited_at: datetime | None
    archived_at: datetime | None
    deleted_at: datetime | None
    location: LocationOut | None
    link_url: str | None
    media: list[MediaOut]
    poll: PollOut | None
    allow_reactions: bool
    comment_permission: CommentPermission
    comment_count: int | None
    share_count: int | None
    view_count: int | None
    reaction_counts: dict[str, int] | None
    viewer_reaction: str | None
    bookmarked: bool
    audience: list[UserRef] | None


class UnavailablePost(BaseModel):
    """Stands in for a shared post the viewer may not (or no longer) see."""

    unavailable: Literal[True] = True


class PostOut(EmbeddedPostOut):
    shared_post: EmbeddedPostOut | UnavailablePost | None = Field(
        description="For a share: the original, or a placeholder when the viewer may not see it."
    )


class RevisionOut(BaseModel):
    id: uuid.UUID
    content: str
    location_name: str | None
    link_url: str | None
    written_at: datetime = Field(description="When this version was written.")
    replaced_at: datetime = Field(description="When an edit replaced it.")
