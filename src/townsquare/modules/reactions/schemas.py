"""The API contract of reactions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from townsquare.config import DEFAULT_REACTION_TYPES
from townsquare.modules.profiles.schemas import PersonCard
from townsquare.modules.reactions.models import TargetType

ReactionType = Annotated[
    str,
    StringConstraints(min_length=1, max_length=20, pattern=r"^[a-z_]+$"),
    Field(
        description="One of the deployment's reaction types (by default: "
        + ", ".join(DEFAULT_REACTION_TYPES)
        + ")."
    ),
]


class ReactionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: ReactionType


class ReactionSummaryOut(BaseModel):
    """Counts per type on a post or comment, and the viewer's own reaction.

    ``counts`` and ``total`` are null for viewers who hide metrics (settings ``hide_metrics``).
    """

    target_type: TargetType
    target_id: uuid.UUID
    counts: dict[str, int] | None = Field(description="Types with no reaction are left out.")
    total: int | None
    my_reaction: str | None


class ReactorOut(BaseModel):
    """One person who reacted, and how."""

    user: PersonCard
    type: str
    reacted_at: datetime
