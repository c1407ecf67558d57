"""The API contract of profiles, privacy and settings."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
    field_validator,
)

from townsquare.kit.contract import HttpUrlIn, WholeNumber, omittable_not_null
from townsquare.kit.validation import NoNul, Visible
from townsquare.modules.profiles.models import (
    AccountType,
    Audience,
    MessagePermission,
    NotificationFrequency,
    Theme,
)

USERNAME_PATTERN = r"^[A-Za-z0-9_]{3,30}$"
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

Username = Annotated[
    str,
    StringConstraints(pattern=USERNAME_PATTERN),
    AfterValidator(str.lower),
    Field(description="3–30 of `a-z 0-9 _`; stored and matched in lower case."),
]
DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    NoNul,
    Visible(100),
]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=100),
    NoNul,
    Visible(100, required=False),
]
Url = HttpUrlIn
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 ()\-]{5,30}$")]


def _refuse_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may be omitted but not null")
    return value


def _iso_date_only(value: Any) -> Any:
    """Only the documented ``YYYY-MM-DD`` string (or null), not Pydantic's lax extras.

    Lax mode would also take a number of seconds since 1970 or a datetime at midnight.
    """
    if value is not None and not (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        raise ValueError("must be a date in the form YYYY-MM-DD")
    return value


class OrmModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PersonCard(OrmModel, frozen=True):
    """The little every list shows of a person: the one person card of the API (authors,
    actors, senders, members, followers). Also the cached value behind ``get_cards``."""

    user_id: uuid.UUID
    username: str
    display_name: str
    avatar_url: str | None
    is_verified: bool


class ProfileOut(OrmModel):
    """The owner's own profile: every field."""

    user_id: uuid.UUID
    username: str
    display_name: str
    first_name: str | None
    last_name: str | None
    bio: str | None
    avatar_url: str | None
    cover_url: str | None
    birth_date: date | None
    gender: str | None
    phone: str | None
    location: str | None
    website: str | None
    is_verified: bool
    account_type: AccountType
    is_private: bool
    created_at: datetime
    updated_at: datetime


class ProfileUpdate(BaseModel):
    """Omitted fields stay as they are; ``null`` clears an optional field."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=omittable_not_null(
            "username", "display_name", "account_type", "is_private"
        ),
    )

    username: Username | None = None
    display_name: DisplayName | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    bio: (
        Annotated[
            str,
            StringConstraints(max_length=1000),
            NoNul,
            Visible(1000, required=False, multiline=True),
        ]
        | None
    ) = None
    avatar_url: Url | None = None
    cover_url: Url | None = None
    birth_date: Annotated[
        date | None,
        BeforeValidator(_iso_date_only),
        # 1900-01-01 to today: checked by the use case (``check_birth_date``), the schema
        # cannot say "today".
        Field(description="From 1900-01-01 to today."),
    ] = None
    gender: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=50),
            NoNul,
            Visible(50, required=False),
        ]
        | None
    ) = None
    phone: Phone | None = None
    location: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=100),
            NoNul,
            Visible(100, required=False),
        ]
        | None
    ) = None
    website: Url | None = None
    account_type: AccountType | None = None
    # Strict: lax mode would turn 1, "yes" or "on" into true, which the schema does not allow.
    is_private: StrictBool | None = None

    check_not_null = field_validator("username", "display_name", "account_type", "is_private")(
        _refuse_null
    )

    def changes(self) -> dict[str, Any]:
        values = self.model_dump(exclude_unset=True)
        for key in ("avatar_url", "cover_url", "website"):
            if values.get(key) is not None:
                values[key] = str(values[key])
        return values


class ProfileStats(OrmModel):
    """Counters kept by the social graph."""

    followers_count: int
    following_count: int
    friends_count: int
    posts_count: int


class UserProfileOut(BaseModel):
    """Someone's profile as the viewer may see it: hidden or unset fields are null.

    ``restricted`` is true when the owner shows only the basic card to this viewer.
    """

    user_id: uuid.UUID
    username: str
    display_name: str
    avatar_url: str | None
    is_verified: bool
    account_type: AccountType
    is_private: bool
    restricted: bool
    relationship: str = Field(description="`self`, `friend`, `other` or `anonymous`.")
    first_name: str | None = None
    last_name: str | None = None
    bio: str | None = None
    cover_url: str | None = None
    birth_date: date | None = None
    gender: str | None = None
    location: str | None = None
    website: str | None = None
    email: str | None = None
    phone: str | None = None
    joined_at: datetime | None = None
    stats: ProfileStats = Field(description="Exact counts, shown to whoever may find the profile.")


class PrivacyOut(OrmModel):
    profile_visibility: Audience
    email_visibility: Audience
    phone_visibility: Audience
    birth_date_visibility: Audience
    search_visibility: Audience
    connections_visibility: Audience = Field(
        description="Who may list my friends, followers and following."
    )


class PrivacyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=omittable_not_null())

    profile_visibility: Audience | None = None
    email_visibility: Audience | None = None
    phone_visibility: Audience | None = None
    birth_date_visibility: Audience | None = None
    search_visibility: Audience | None = None
    connections_visibility: Audience | None = None

    check_not_null = field_validator("*")(_refuse_null)


class SettingsOut(OrmModel):
    allow_messages_from: MessagePermission
    notification_frequency: NotificationFrequency
    email_notifications: bool
    push_notifications: bool
    calm_mode: bool
    hide_metrics: bool
    dark_mode: Theme
    autoplay_videos: bool
    data_saver: bool
    daily_time_limit_minutes: int
    show_activity_status: bool
    language: str
    timezone: str


#: The IANA time zones this host knows, documented as the field's enum: the contract lists what
#: the validator accepts.
TIMEZONES = sorted(available_timezones())


def _known_timezone(value: str | None) -> str | None:
    if value is not None and value not in TIMEZONES:
        raise ValueError("must be an IANA time zone such as Europe/Paris")
    return value


class SettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=omittable_not_null())

    allow_messages_from: MessagePermission | None = None
    notification_frequency: NotificationFrequency | None = None
    # Strict, as in ProfileUpdate: no 1 or "yes" for true, no "5" or true for a number.
    email_notifications: StrictBool | None = None
    push_notifications: StrictBool | None = None
    calm_mode: StrictBool | None = None
    hide_metrics: StrictBool | None = None
    dark_mode: Theme | None = None
    autoplay_videos: StrictBool | None = None
    data_saver: StrictBool | None = None
    daily_time_limit_minutes: Annotated[int, Strict(), Field(ge=0, le=1440), WholeNumber] | None = (
        None
    )
    show_activity_status: StrictBool | None = None
    language: (
        Annotated[
            str,
            # 35 characters: the column's size and the length RFC 5646 asks to support.
            StringConstraints(max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"),
        ]
        | None
    ) = None
    timezone: Annotated[
        str | None,
        AfterValidator(_known_timezone),
        Field(json_schema_extra={"enum": TIMEZONES}),
    ] = None

    check_not_null = field_validator("*")(_refuse_null)
