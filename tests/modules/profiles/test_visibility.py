"""Who sees which profile field, through HTTP: anonymous, another user, and the owner."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.users import SignedIn, signed_in_user
from tests.modules.profiles.helpers import (
    CARD_FIELDS,
    DETAIL_FIELDS,
    FULL_PROFILE,
    USER_PROFILE_KEYS,
    get_json,
    patch_privacy,
    patch_profile,
    view_user,
)

AUDIENCES = ("public", "friends", "only_me")
OWN_AUDIENCE_FIELDS = ("email", "phone", "birth_date")


def _rotated(start: int) -> dict[str, str]:
    """email, phone and birth_date each get a different audience, shifted by ``start``."""
    return {
        field: AUDIENCES[(start + offset) % len(AUDIENCES)]
        for offset, field in enumerate(OWN_AUDIENCE_FIELDS)
    }


# 3 profile audiences x 3 rotations: every (profile audience, field, field audience) triple
# appears exactly once, and within a case the three fields never share an audience, so a
# field read through another field's audience is caught.
MATRIX = [
    pytest.param(
        profile, _rotated(start), id=f"profile={profile}-" + "-".join(_rotated(start).values())
    )
    for profile in AUDIENCES
    for start in range(len(AUDIENCES))
]


async def _owner_with_everything(client: Any) -> tuple[SignedIn, dict[str, Any]]:
    owner = await signed_in_user(client)
    response = await patch_profile(client, owner.headers, FULL_PROFILE)
    assert response.status_code == 200, response.text
    return owner, response.json()


def _expected_value(field: str, owner: SignedIn) -> Any:
    return owner.email if field == "email" else FULL_PROFILE[field]


@pytest.mark.parametrize(("profile_visibility", "field_audiences"), MATRIX)
async def test_field_visibility_matrix(client, profile_visibility, field_audiences):
    owner, own = await _owner_with_everything(client)
    privacy = {
        "profile_visibility": profile_visibility,
        **{f"{field}_visibility": audience for field, audience in field_audiences.items()},
    }
    response = await patch_privacy(client, owner.headers, privacy)
    assert response.status_code == 200, response.text
    assert response.json() == {
        **privacy,
        "search_visibility": "public",
        "connections_visibility": "public",
    }

    stranger = await signed_in_user(client)
    # Without a friendship, "friends" is as closed as "only_me" for everybody but the owner.
    full_profile_shown = profile_visibility == "public"

    for headers, relationship in ((None, "anonymous"), (stranger.headers, "other")):
        response = await view_user(client, owner.username, headers)
        assert response.status_code == 200, response.text
        seen = response.json()
        assert set(seen) == USER_PROFILE_KEYS
        assert seen["relationship"] == relationship
        assert seen["restricted"] is (not full_profile_shown)
        for field in CARD_FIELDS:
            assert seen[field] == own[field], (relationship, field)
        assert seen["is_private"] is False
        for field in DETAIL_FIELDS:
            expected = FULL_PROFILE[field] if full_profile_shown else None
            assert seen[field] == expected, (relationship, field)
        assert (seen["joined_at"] is not None) is full_profile_shown
        for field, audience in field_audiences.items():
            shown = full_profile_shown and audience == "public"
            expected = _expected_value(field, owner) if shown else None
            assert seen[field] == expected, (relationship, field, audience)

    # The owner sees everything, whatever the settings say.
    response = await view_user(client, owner.username, owner.headers)
    assert response.status_code == 200, response.text
    mine = response.json()
    assert mine["relationship"] == "self"
    assert mine["restricted"] is False
    for field in (*CARD_FIELDS, *DETAIL_FIELDS):
        assert mine[field] == own[field], field
    for field in OWN_AUDIENCE_FIELDS:
        assert mine[field] == _expected_value(field, owner), field
    assert mine["joined_at"] is not None


async def test_restricted_card_still_shows_avatar_and_private_flag(client):
    owner, _ = await _owner_with_everything(client)
    response = await patch_profile(client, owner.headers, {"is_private": True})
    assert response.status_code == 200, response.text
    response = await patch_privacy(client, owner.headers, {"profile_visibility": "only_me"})
    assert response.status_code == 200, response.text

    card = (await view_user(client, owner.username)).json()
    assert card["restricted"] is True
    assert card["avatar_url"] == FULL_PROFILE["avatar_url"]
    assert card["account_type"] == "creator"
    assert card["is_private"] is True
    assert card["display_name"] == FULL_PROFILE["display_name"]
    assert all(card[field] is None for field in (*DETAIL_FIELDS, *OWN_AUDIENCE_FIELDS))


async def test_opening_the_profile_again_shows_details_again(client):
    owner, _ = await _owner_with_everything(client)
    await patch_privacy(client, owner.headers, {"profile_visibility": "friends"})
    assert (await view_user(client, owner.username)).json()["bio"] is None
    response = await patch_privacy(
        client, owner.headers, {"profile_visibility": "public", "phone_visibility": "public"}
    )
    assert response.status_code == 200, response.text
    seen = (await view_user(client, owner.username)).json()
    assert seen["restricted"] is False
    assert seen["bio"] == FULL_PROFILE["bio"]
    assert seen["phone"] == FULL_PROFILE["phone"]
    # email and birth date kept their defaults (only_me, friends): still hidden.
    assert seen["email"] is None
    assert seen["birth_date"] is None


async def test_unset_fields_are_null_not_missing_for_everyone(client):
    owner = await signed_in_user(client)
    await patch_privacy(
        client,
        owner.headers,
        {
            "email_visibility": "public",
            "phone_visibility": "public",
            "birth_date_visibility": "public",
        },
    )
    seen = (await view_user(client, owner.username)).json()
    assert set(seen) == USER_PROFILE_KEYS
    assert seen["restricted"] is False
    assert seen["email"] == owner.email
    assert all(seen[field] is None for field in (*DETAIL_FIELDS, "phone", "birth_date"))


async def test_defaults_hide_email_phone_and_birth_date_from_others(client):
    owner, _ = await _owner_with_everything(client)
    stranger = await signed_in_user(client)
    for headers in (None, stranger.headers):
        seen = (await view_user(client, owner.username, headers)).json()
        assert seen["restricted"] is False
        assert seen["bio"] == FULL_PROFILE["bio"]
        assert seen["email"] is None
        assert seen["phone"] is None
        assert seen["birth_date"] is None
    mine = (await view_user(client, owner.username, owner.headers)).json()
    assert mine["email"] == owner.email
    assert mine["phone"] == FULL_PROFILE["phone"]
    assert mine["birth_date"] == FULL_PROFILE["birth_date"]


async def test_own_profile_endpoint_returns_every_field(client):
    owner, patched = await _owner_with_everything(client)
    mine = await get_json(client, "/me/profile", owner.headers)
    assert mine == patched
    for field, value in FULL_PROFILE.items():
        assert mine[field] == value, field
    assert mine["username"] == owner.username
    assert mine["user_id"] == owner.user_id
    assert mine["is_verified"] is False
    assert mine["is_private"] is False
