"""The feed's API contract (pages of posts are the posts module's ``PostOut``)."""

from __future__ import annotations

from enum import StrEnum


class FeedOrder(StrEnum):
    #: Newest published first (the default; what calm mode always gives).
    CHRONOLOGICAL = "chronological"
    #: By the documented score of recency, engagement and affinity (docs/api.md, "Feeds").
    RANKED = "ranked"
