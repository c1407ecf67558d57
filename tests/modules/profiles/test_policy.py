"""The profile visibility policy as pure functions: every audience against every relationship.

Expectations are written out by hand, not derived from the policy, so a change in a rule shows.
"""

from __future__ import annotations

import uuid

import pytest

from townsquare.modules.profiles.models import Audience, PrivacySettings, Profile
from townsquare.modules.profiles.policy import (
    Relationship,
    base_relationship,
    may_find_profile,
    may_see,
    may_see_field,
    may_see_full_profile,
)

PUB, FRI, ME = Audience.PUBLIC, Audience.FRIENDS, Audience.ONLY_ME
SELF, FRIEND, OTHER, ANON, BLOCKED = (
    Relationship.SELF,
    Relationship.FRIEND,
    Relationship.OTHER,
    Relationship.ANONYMOUS,
    Relationship.BLOCKED,
)

#: relationship -> the audiences it belongs to.
SEES = {
    SELF: {PUB, FRI, ME},
    FRIEND: {PUB, FRI},
    OTHER: {PUB},
    ANON: {PUB},
    BLOCKED: set(),
}


def test_the_tables_cover_every_enum_member():
    assert set(SEES) == set(Relationship)
    assert set(Audience) == {PUB, FRI, ME}


@pytest.mark.parametrize("relationship", list(Relationship))
@pytest.mark.parametrize("audience", list(Audience))
def test_may_see(audience, relationship):
    assert may_see(audience, relationship) is (audience in SEES[relationship])


def _privacy(
    profile: Audience = PUB, email: Audience = ME, phone: Audience = ME, birth_date: Audience = FRI
) -> PrivacySettings:
    return PrivacySettings(
        user_id=uuid.uuid4(),
        profile_visibility=profile,
        email_visibility=email,
        phone_visibility=phone,
        birth_date_visibility=birth_date,
        search_visibility=PUB,
    )


@pytest.mark.parametrize("relationship", list(Relationship))
@pytest.mark.parametrize("profile_audience", list(Audience))
def test_may_see_full_profile(profile_audience, relationship):
    privacy = _privacy(profile=profile_audience)
    assert may_see_full_profile(privacy, relationship) is (profile_audience in SEES[relationship])


@pytest.mark.parametrize("relationship", list(Relationship))
@pytest.mark.parametrize("field_audience", list(Audience))
@pytest.mark.parametrize("profile_audience", list(Audience))
@pytest.mark.parametrize("field", ["email", "phone", "birth_date"])
def test_may_see_field_needs_both_the_profile_and_the_field(
    field, profile_audience, field_audience, relationship
):
    privacy = _privacy(profile=profile_audience, **{field: field_audience})
    expected = profile_audience in SEES[relationship] and field_audience in SEES[relationship]
    assert may_see_field(field, privacy, relationship) is expected


@pytest.mark.parametrize("relationship", list(Relationship))
@pytest.mark.parametrize("field", ["email", "phone", "birth_date"])
def test_fields_do_not_borrow_each_others_audience(field, relationship):
    others = {name: ME for name in ("email", "phone", "birth_date") if name != field}
    privacy = _privacy(profile=PUB, **{field: PUB}, **others)
    assert may_see_field(field, privacy, relationship) is (relationship is not BLOCKED)
    for other in others:
        assert may_see_field(other, privacy, relationship) is (relationship is SELF)


@pytest.mark.parametrize("relationship", list(Relationship))
@pytest.mark.parametrize("profile_audience", list(Audience))
def test_fields_without_their_own_audience_follow_the_profile(profile_audience, relationship):
    # Even with every personal audience public, "bio" only depends on the profile's audience.
    privacy = _privacy(profile=profile_audience, email=PUB, phone=PUB, birth_date=PUB)
    assert may_see_field("bio", privacy, relationship) is (profile_audience in SEES[relationship])


def test_friends_see_friends_fields_but_not_only_me_ones():
    privacy = _privacy(profile=FRI, email=ME, phone=FRI, birth_date=PUB)
    assert may_see_field("phone", privacy, FRIEND)
    assert may_see_field("birth_date", privacy, FRIEND)
    assert not may_see_field("email", privacy, FRIEND)
    for outsider in (OTHER, ANON, BLOCKED):
        assert not may_see_field("birth_date", privacy, outsider)


def test_blocked_sees_nothing_even_when_everything_is_public():
    privacy = _privacy(profile=PUB, email=PUB, phone=PUB, birth_date=PUB)
    assert not may_see_full_profile(privacy, BLOCKED)
    for field in ("email", "phone", "birth_date", "bio"):
        assert not may_see_field(field, privacy, BLOCKED)


def test_self_sees_everything_even_when_everything_is_only_me():
    privacy = _privacy(profile=ME, email=ME, phone=ME, birth_date=ME)
    assert may_see_full_profile(privacy, SELF)
    for field in ("email", "phone", "birth_date", "bio"):
        assert may_see_field(field, privacy, SELF)


def test_base_relationship():
    owner, viewer = uuid.uuid4(), uuid.uuid4()
    assert base_relationship(None, owner) is ANON
    assert base_relationship(owner, owner) is SELF
    assert base_relationship(viewer, owner) is OTHER


@pytest.mark.parametrize(
    ("hidden", "relationship", "found"),
    [
        (False, SELF, True),
        (False, FRIEND, True),
        (False, OTHER, True),
        (False, ANON, True),
        (False, BLOCKED, False),
        (True, SELF, True),
        (True, FRIEND, False),
        (True, OTHER, False),
        (True, ANON, False),
        (True, BLOCKED, False),
    ],
)
def test_may_find_profile(hidden, relationship, found):
    profile = Profile(user_id=uuid.uuid4(), username="someone", display_name="S", is_hidden=hidden)
    assert may_find_profile(profile, relationship) is found
