"""Who may see which part of a profile: the one visibility policy of this module.

Every decision takes the viewer's *relationship* to the owner as input, so the social graph
only has to say who is a friend (``Relationship.FRIEND``) for the rules below to apply to it.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from townsquare.modules.profiles.models import Audience, PrivacySettings, Profile


class Relationship(StrEnum):
    SELF = "self"
    FRIEND = "friend"
    OTHER = "other"  # signed in, no relation
    ANONYMOUS = "anonymous"
    BLOCKED = "blocked"  # either side blocked the other: sees nothing


def base_relationship(viewer_id: uuid.UUID | None, owner_id: uuid.UUID) -> Relationship:
    """The relationship known without the social graph (self, signed in, anonymous)."""
    if viewer_id is None:
        return Relationship.ANONYMOUS
    if viewer_id == owner_id:
        return Relationship.SELF
    return Relationship.OTHER


def may_see(audience: Audience, relationship: Relationship) -> bool:
    if relationship is Relationship.SELF:
        return True
    if relationship is Relationship.BLOCKED:
        return False
    if audience is Audience.PUBLIC:
        return True
    if audience is Audience.FRIENDS:
        return relationship is Relationship.FRIEND
    return False


def may_find_profile(profile: Profile, relationship: Relationship) -> bool:
    """Whether the profile exists at all for this viewer (otherwise: 404, like a missing one)."""
    if relationship is Relationship.SELF:
        return True
    return not profile.is_hidden and relationship is not Relationship.BLOCKED


def may_see_full_profile(privacy: PrivacySettings, relationship: Relationship) -> bool:
    """Beyond the basic card (name, username, avatar), the profile's details."""
    return may_see(privacy.profile_visibility, relationship)


def may_see_field(field: str, privacy: PrivacySettings, relationship: Relationship) -> bool:
    """Fields with their own audience (email, phone, birth date) need both it and the profile's."""
    if not may_see_full_profile(privacy, relationship):
        return False
    own_audience = {
        "email": privacy.email_visibility,
        "phone": privacy.phone_visibility,
        "birth_date": privacy.birth_date_visibility,
    }.get(field)
    return own_audience is None or may_see(own_audience, relationship)
