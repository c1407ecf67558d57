"""The API contract of topics."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, field_validator

from townsquare.kit.contract import omittable_not_null
from townsquare.kit.validation import NoNul
from townsquare.modules.topics.service import TopicView

Color = Annotated[
    str,
    StringConstraints(pattern=r"^#[0-9A-Fa-f]{6}$"),
    Field(description="`#RRGGBB`.", examples=["#1DA1F2"]),
]


class TopicOut(BaseModel):
    name: str = Field(description="The case-folded hashtag, without `#`: the topic's key.")
    display_name: str = Field(description="The spelling first used, e.g. `PyCon`.")
    description: str | None
    color: str | None
    icon: str | None
    post_count: int
    follower_count: int
    is_featured: bool
    following: bool = Field(description="Whether the viewer follows the topic.")

    @classmethod
    def of(cls, view: TopicView) -> TopicOut:
        topic = view.topic
        return cls(
            name=topic.name,
            display_name=topic.display_name,
            description=topic.description,
            color=topic.color,
            icon=topic.icon,
            post_count=topic.post_count,
            follower_count=topic.follower_count,
            is_featured=topic.is_featured,
            following=view.following,
        )


class TrendingTopicOut(TopicOut):
    trending_score: float = Field(
        description="Recent use against the topic's own baseline (see docs/api.md)."
    )

    @classmethod
    def of(cls, view: TopicView) -> TrendingTopicOut:
        return cls(**TopicOut.of(view).model_dump(), trending_score=view.topic.trending_score)


def _refuse_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may be omitted but not null")
    return value


class TopicUpdate(BaseModel):
    """Staff only. Omitted fields stay as they are; ``null`` clears description, color, icon."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=omittable_not_null("is_featured"))

    description: Annotated[str, StringConstraints(max_length=1000), NoNul] | None = None
    color: Color | None = None
    icon: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), NoNul
        ]
        | None
    ) = None
    # Strict: lax mode would turn 1 or "yes" into true.
    is_featured: StrictBool | None = None

    check_not_null = field_validator("is_featured")(_refuse_null)

    def changes(self) -> dict[str, Any]:
        values = self.model_dump(exclude_unset=True)
        if values.get("color") is not None:
            values["color"] = values["color"].upper()
        return values
