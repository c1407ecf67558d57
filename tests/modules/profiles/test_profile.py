"""My profile through HTTP: updates, username rules, validation, hidden accounts, auth."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from tests.fixtures.users import PASSWORD, login, register, signed_in_user
from tests.modules.profiles.helpers import (
    API,
    FULL_PROFILE,
    assert_422_on,
    assert_problem,
    error_fields,
    get_json,
    patch_profile,
    view_user,
)

OPTIONAL_FIELDS = (
    "first_name",
    "last_name",
    "bio",
    "avatar_url",
    "cover_url",
    "birth_date",
    "gender",
    "phone",
    "location",
    "website",
)


async def test_update_every_field_round_trips(client):
    user = await signed_in_user(client)
    before = await get_json(client, "/me/profile", user.headers)
    assert before["account_type"] == "personal"
    assert all(before[field] is None for field in OPTIONAL_FIELDS)

    response = await patch_profile(client, user.headers, {**FULL_PROFILE, "is_private": True})
    assert response.status_code == 200, response.text
    after = await get_json(client, "/me/profile", user.headers)
    assert after == response.json()
    for field, value in FULL_PROFILE.items():
        assert after[field] == value, field
    assert after["is_private"] is True
    assert after["username"] == before["username"]
    assert after["created_at"] == before["created_at"]


async def test_omitted_fields_stay_as_they_are(client):
    user = await signed_in_user(client)
    await patch_profile(client, user.headers, FULL_PROFILE)
    response = await patch_profile(client, user.headers, {"bio": "Only the bio changes."})
    assert response.status_code == 200, response.text
    after = await get_json(client, "/me/profile", user.headers)
    assert after["bio"] == "Only the bio changes."
    for field, value in FULL_PROFILE.items():
        if field != "bio":
            assert after[field] == value, field


async def test_null_clears_optional_fields(client):
    user = await signed_in_user(client)
    await patch_profile(client, user.headers, FULL_PROFILE)
    response = await patch_profile(client, user.headers, dict.fromkeys(OPTIONAL_FIELDS))
    assert response.status_code == 200, response.text
    after = await get_json(client, "/me/profile", user.headers)
    assert all(after[field] is None for field in OPTIONAL_FIELDS)
    assert after["display_name"] == FULL_PROFILE["display_name"]
    assert after["account_type"] == FULL_PROFILE["account_type"]


async def test_values_are_normalised(client):
    user = await signed_in_user(client)
    response = await patch_profile(
        client,
        user.headers,
        {"display_name": "  Grace  ", "first_name": " Grace ", "website": "https://grace.example"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["display_name"] == "Grace"
    assert body["first_name"] == "Grace"
    assert body["website"] == "https://grace.example/"


async def test_null_for_a_required_field_is_refused(client):
    user = await signed_in_user(client)
    before = await get_json(client, "/me/profile", user.headers)
    for field in ("display_name", "username", "account_type", "is_private"):
        response = await patch_profile(
            client, user.headers, {field: None, "bio": "should not stick"}
        )
        assert_422_on(response, field)
        assert error_fields(assert_problem(response, 422)) == {f"body.{field}"}
        assert await get_json(client, "/me/profile", user.headers) == before, field


TOO_LONG_URL = "https://example.org/" + "a" * 2040  # 2060 characters


INVALID_VALUES = [
    ("avatar_url", "not a url"),
    ("avatar_url", "ftp://files.example.org/a.png"),
    ("cover_url", "//example.org/cover.jpg"),
    ("website", "javascript:alert(1)"),
    ("website", "example.org"),
    ("website", TOO_LONG_URL),
    ("avatar_url", TOO_LONG_URL),
    ("phone", "call me"),
    ("phone", "12"),
    ("phone", "+1 555 0100 ext. 7"),
    ("phone", "+" + "1" * 40),
    ("birth_date", (date.today() + timedelta(days=1)).isoformat()),
    ("birth_date", "1899-12-31"),
    ("birth_date", "not-a-date"),
    ("bio", "b" * 1001),
    ("display_name", ""),
    ("display_name", "   "),
    ("display_name", "d" * 101),
    ("first_name", "f" * 101),
    ("last_name", "l" * 101),
    ("gender", "g" * 51),
    ("location", "l" * 101),
    ("account_type", "admin"),
    ("account_type", "Personal"),
    ("is_private", "perhaps"),
    ("bio", 42),
    ("is_verified", True),
    ("email", "new@example.org"),
    ("user_id", "00000000-0000-0000-0000-000000000000"),
    ("nickname", "Ada"),
]


async def test_invalid_values_are_refused_and_change_nothing(client):
    user = await signed_in_user(client)
    await patch_profile(client, user.headers, FULL_PROFILE)
    before = await get_json(client, "/me/profile", user.headers)
    for field, value in INVALID_VALUES:
        response = await patch_profile(
            client, user.headers, {"bio": "should not stick", field: value}
        )
        assert_422_on(response, field)
        assert error_fields(assert_problem(response, 422)) == {f"body.{field}"}, (field, value)
    # One check after all of them: a single leaked change would show here.
    assert await get_json(client, "/me/profile", user.headers) == before


BOUNDARY_VALUES = [
    ("bio", "b" * 1000, "b" * 1000),
    ("bio", "", ""),
    ("birth_date", date.today().isoformat(), date.today().isoformat()),
    ("birth_date", "1900-01-01", "1900-01-01"),
    ("phone", "+33 (1) 23-45-67-89", "+33 (1) 23-45-67-89"),
    ("phone", "555012", "555012"),
    ("display_name", "d" * 100, "d" * 100),
    ("account_type", "business", "business"),
    ("website", "http://example.org/a?b=1#c", "http://example.org/a?b=1#c"),
    # 2,047 characters, the documented maximum (normalizing may add a "/"; 2,048 are stored).
    ("avatar_url", "https://example.org/" + "a" * 2027, "https://example.org/" + "a" * 2027),
]


async def test_boundary_values_are_accepted(client):
    user = await signed_in_user(client)
    for field, value, stored in BOUNDARY_VALUES:
        response = await patch_profile(client, user.headers, {field: value})
        assert response.status_code == 200, (field, response.text)
        assert (await get_json(client, "/me/profile", user.headers))[field] == stored, field


async def test_a_body_that_is_not_an_object_is_refused(client):
    user = await signed_in_user(client)
    response = await client.patch(f"{API}/me/profile", json=["bio"], headers=user.headers)
    assert response.status_code == 422, response.text


# --- usernames


async def test_username_change_is_stored_lower_case_and_lookups_ignore_case(client):
    user = await signed_in_user(client)
    old = user.username
    response = await patch_profile(client, user.headers, {"username": "New_Name_1"})
    assert response.status_code == 200, response.text
    assert response.json()["username"] == "new_name_1"
    assert (await get_json(client, "/me/profile", user.headers))["username"] == "new_name_1"

    for spelling in ("new_name_1", "NEW_NAME_1", "New_Name_1"):
        response = await view_user(client, spelling)
        assert response.status_code == 200, (spelling, response.text)
        assert response.json()["username"] == "new_name_1"
        assert response.json()["user_id"] == user.user_id

    for spelling in (old, old.upper()):
        response = await view_user(client, spelling)
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "profile_not_found"

    # The new name signs in; the old one does not.
    assert (await login(client, "NEW_NAME_1")).status_code == 200
    assert (await login(client, old)).status_code == 401


async def test_a_freed_username_can_be_taken_by_someone_else(client):
    user = await signed_in_user(client)
    old = user.username
    response = await patch_profile(client, user.headers, {"username": "moved_away"})
    assert response.status_code == 200, response.text
    newcomer = await register(client, old, email="newcomer@example.org")
    response = await view_user(client, old)
    assert response.status_code == 200
    assert response.json()["user_id"] == newcomer["id"]


async def test_username_uniqueness_ignores_case(client):
    await register(client, "taken_name")
    user = await signed_in_user(client)
    before = await get_json(client, "/me/profile", user.headers)
    for spelling in ("taken_name", "TAKEN_NAME", "Taken_Name"):
        response = await patch_profile(
            client, user.headers, {"username": spelling, "bio": "should not stick"}
        )
        assert response.status_code == 409, (spelling, response.text)
        assert response.json()["code"] == "username_taken"
    assert await get_json(client, "/me/profile", user.headers) == before


async def test_registering_a_taken_username_in_another_case_is_refused(client):
    await register(client, "first_come")
    response = await client.post(
        f"{API}/auth/register",
        json={
            "email": "second@example.org",
            "username": "First_Come",
            "password": PASSWORD,
            "display_name": "Second",
        },
    )
    assert response.status_code == 409, response.text


async def test_keeping_my_own_username_in_another_case_is_not_a_conflict(client):
    user = await signed_in_user(client)
    response = await patch_profile(client, user.headers, {"username": user.username.upper()})
    assert response.status_code == 200, response.text
    assert response.json()["username"] == user.username


async def test_a_hidden_accounts_username_stays_taken(client):
    hidden = await signed_in_user(client)
    response = await client.post(
        f"{API}/me/deactivate", json={"password": hidden.password}, headers=hidden.headers
    )
    assert response.status_code == 204, response.text
    user = await signed_in_user(client)
    response = await patch_profile(client, user.headers, {"username": hidden.username})
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "username_taken"


async def test_reserved_usernames_are_refused(client):
    user = await signed_in_user(client)
    before = await get_json(client, "/me/profile", user.headers)
    for name in ("admin", "Admin", "SUPPORT", "mod", "settings"):
        response = await patch_profile(client, user.headers, {"username": name, "bio": "no"})
        assert response.status_code == 422, (name, response.text)
        body = response.json()
        assert body["code"] == "validation_failed"
        assert body["errors"] == [
            {"field": "body.username", "message": "This username is reserved.", "type": "reserved"}
        ]
    assert await get_json(client, "/me/profile", user.headers) == before


async def test_the_purge_placeholder_cannot_be_squatted(client):
    """Purged profiles are renamed ``deleted_<id prefix>``; taking that name first would make
    the purge fail on the unique username, for that account and the rest of its batch."""
    victim = await signed_in_user(client)
    squatter = await signed_in_user(client)
    placeholder = "deleted_" + uuid.UUID(victim.user_id).hex[:22]
    for name in (placeholder, placeholder.upper(), "deleted_x"):
        response = await patch_profile(client, squatter.headers, {"username": name})
        assert response.status_code == 422, (name, response.text)
        assert response.json()["errors"][0]["type"] == "reserved"
        response = await client.post(
            f"{API}/auth/register",
            json={
                "email": "squatter@example.org",
                "username": name,
                "password": PASSWORD,
                "display_name": "Squatter",
            },
        )
        assert response.status_code == 422, (name, response.text)
        assert error_fields(assert_problem(response, 422)) == {"body.username"}
    assert (await view_user(client, squatter.username)).status_code == 200


async def test_username_pattern_is_enforced(client):
    user = await signed_in_user(client)
    before = await get_json(client, "/me/profile", user.headers)
    for name in ("ab", "a" * 31, "bad-name", "has space", "émile", "dot.name", "", "name!", "ab\n"):
        response = await patch_profile(client, user.headers, {"username": name})
        assert_422_on(response, "username")
    assert await get_json(client, "/me/profile", user.headers) == before


async def test_username_pattern_boundaries_are_accepted(client):
    user = await signed_in_user(client)
    for name in ("abc", "A" * 30, "___", "x_9"):
        response = await patch_profile(client, user.headers, {"username": name})
        assert response.status_code == 200, (name, response.text)
        assert response.json()["username"] == name.lower()
        assert (await view_user(client, name)).status_code == 200, name


# --- hidden accounts and missing profiles


async def test_deactivated_profile_looks_exactly_like_a_missing_one(client):
    owner = await signed_in_user(client)
    stranger = await signed_in_user(client)
    assert (await view_user(client, owner.username)).status_code == 200

    response = await client.post(
        f"{API}/me/deactivate", json={"password": owner.password}, headers=owner.headers
    )
    assert response.status_code == 204, response.text

    missing = await view_user(client, "nobody_here")
    assert missing.status_code == 404
    for headers in (None, stranger.headers):
        for spelling in (owner.username, owner.username.upper()):
            hidden = await view_user(client, spelling, headers)
            assert hidden.status_code == 404, hidden.text
            assert hidden.headers["content-type"] == missing.headers["content-type"]
            hidden_body, missing_body = hidden.json(), missing.json()
            assert hidden_body["code"] == missing_body["code"] == "profile_not_found"
            assert set(hidden_body) == set(missing_body)
            for key in ("type", "title", "status", "detail"):
                assert hidden_body.get(key) == missing_body.get(key), key

    # Logging in again undoes the deactivation and the profile reappears.
    assert (await login(client, owner.username)).status_code == 200
    response = await view_user(client, owner.username, stranger.headers)
    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == owner.user_id


async def test_failed_deactivation_does_not_hide_the_profile(client):
    owner = await signed_in_user(client)
    response = await client.post(
        f"{API}/me/deactivate", json={"password": "not my password"}, headers=owner.headers
    )
    assert response.status_code == 422, response.text
    assert (await view_user(client, owner.username)).status_code == 200


async def test_unknown_username_is_404_profile_not_found(client):
    user = await signed_in_user(client)
    for headers in (None, user.headers):
        response = await view_user(client, "does_not_exist", headers)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "profile_not_found"


# --- authentication


@pytest.mark.parametrize("path", ["/me/profile", "/me/privacy", "/me/settings"])
@pytest.mark.parametrize("method", ["GET", "PATCH"])
async def test_my_profile_privacy_and_settings_need_a_token(client, path, method):
    body = {"bio": "x"} if path == "/me/profile" else {}
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}):
        response = await client.request(method, f"{API}{path}", json=body, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] in {"unauthorized", "invalid_token"}


async def test_unauthenticated_patch_changes_nothing(client):
    user = await signed_in_user(client)
    before = await get_json(client, "/me/profile", user.headers)
    response = await client.patch(f"{API}/me/profile", json={"bio": "intruder"})
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
    assert await get_json(client, "/me/profile", user.headers) == before


async def test_a_logged_out_token_no_longer_works(client):
    user = await signed_in_user(client)
    response = await client.post(f"{API}/auth/logout", headers=user.headers)
    assert response.status_code == 204, response.text
    response = await client.get(f"{API}/me/profile", headers=user.headers)
    assert response.status_code == 401
    # Looking at a profile with a dead token is refused, not silently anonymous.
    response = await view_user(client, user.username, user.headers)
    assert response.status_code == 401
