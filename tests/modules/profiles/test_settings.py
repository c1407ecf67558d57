"""Privacy and settings of my account through HTTP: defaults, round trips, validation."""

from __future__ import annotations

from tests.fixtures.users import signed_in_user
from tests.modules.profiles.helpers import (
    assert_422_on,
    assert_problem,
    error_fields,
    get_json,
    patch_privacy,
    patch_settings,
)

PRIVACY_DEFAULTS = {
    "profile_visibility": "public",
    "email_visibility": "only_me",
    "phone_visibility": "only_me",
    "birth_date_visibility": "friends",
    "search_visibility": "public",
    "connections_visibility": "public",
}
SETTINGS_DEFAULTS = {
    "allow_messages_from": "everyone",
    "notification_frequency": "instant",
    "email_notifications": True,
    "push_notifications": True,
    "calm_mode": False,
    "hide_metrics": False,
    "dark_mode": "auto",
    "autoplay_videos": True,
    "data_saver": False,
    "daily_time_limit_minutes": 0,
    "show_activity_status": True,
    "language": "en",
    "timezone": "UTC",
}
#: A value different from the default for every field.
SETTINGS_CHANGED = {
    "allow_messages_from": "friends",
    "notification_frequency": "daily",
    "email_notifications": False,
    "push_notifications": False,
    "calm_mode": True,
    "hide_metrics": True,
    "dark_mode": "dark",
    "autoplay_videos": False,
    "data_saver": True,
    "daily_time_limit_minutes": 90,
    "show_activity_status": False,
    "language": "pt-BR",
    "timezone": "America/Sao_Paulo",
}


# --- privacy


async def test_privacy_defaults(client):
    user = await signed_in_user(client)
    assert await get_json(client, "/me/privacy", user.headers) == PRIVACY_DEFAULTS


async def test_privacy_round_trips_every_field_and_value(client):
    user = await signed_in_user(client)
    for audience in ("only_me", "friends", "public"):
        changed = dict.fromkeys(PRIVACY_DEFAULTS, audience)
        response = await patch_privacy(client, user.headers, changed)
        assert response.status_code == 200, response.text
        assert response.json() == changed
        assert await get_json(client, "/me/privacy", user.headers) == changed


async def test_privacy_partial_update_keeps_the_rest(client):
    user = await signed_in_user(client)
    response = await patch_privacy(client, user.headers, {"search_visibility": "only_me"})
    assert response.status_code == 200, response.text
    expected = {**PRIVACY_DEFAULTS, "search_visibility": "only_me"}
    assert await get_json(client, "/me/privacy", user.headers) == expected
    response = await patch_privacy(client, user.headers, {})
    assert response.status_code == 200, response.text
    assert await get_json(client, "/me/privacy", user.headers) == expected


async def test_privacy_refuses_invalid_audiences_nulls_and_unknown_fields(client):
    user = await signed_in_user(client)
    cases = [
        (field, value)
        for field in PRIVACY_DEFAULTS
        for value in ("everyone", "private", "FRIENDS", "", None, 1, True)
    ] + [("email", "public"), ("visibility", "public"), ("is_hidden", True)]
    for field, value in cases:
        response = await patch_privacy(
            client, user.headers, {"profile_visibility": "only_me", field: value}
        )
        assert_422_on(response, field)
        assert error_fields(assert_problem(response, 422)) == {f"body.{field}"}, (field, value)
    assert await get_json(client, "/me/privacy", user.headers) == PRIVACY_DEFAULTS


# --- settings


async def test_settings_defaults(client):
    user = await signed_in_user(client)
    assert await get_json(client, "/me/settings", user.headers) == SETTINGS_DEFAULTS


async def test_settings_round_trip_every_field(client):
    user = await signed_in_user(client)
    assert set(SETTINGS_CHANGED) == set(SETTINGS_DEFAULTS)
    assert all(SETTINGS_CHANGED[key] != SETTINGS_DEFAULTS[key] for key in SETTINGS_DEFAULTS)
    response = await patch_settings(client, user.headers, SETTINGS_CHANGED)
    assert response.status_code == 200, response.text
    assert response.json() == SETTINGS_CHANGED
    assert await get_json(client, "/me/settings", user.headers) == SETTINGS_CHANGED
    # And back, one field at a time: each update touches only its own field.
    current = dict(SETTINGS_CHANGED)
    for key, value in SETTINGS_DEFAULTS.items():
        response = await patch_settings(client, user.headers, {key: value})
        assert response.status_code == 200, (key, response.text)
        current[key] = value
        assert await get_json(client, "/me/settings", user.headers) == current, key
    assert current == SETTINGS_DEFAULTS


async def test_settings_accept_every_enum_value_and_the_limit_bounds(client):
    user = await signed_in_user(client)
    accepted = [
        *(("allow_messages_from", v) for v in ("everyone", "friends", "nobody")),
        *(("notification_frequency", v) for v in ("instant", "hourly", "daily")),
        *(("dark_mode", v) for v in ("auto", "light", "dark")),
        ("daily_time_limit_minutes", 0),
        ("daily_time_limit_minutes", 1440),
        ("language", "de"),
        ("language", "zh-Hant-TW"),
        ("language", "fil"),
        ("timezone", "Europe/Paris"),
        ("timezone", "Asia/Kolkata"),
        ("timezone", "UTC"),
    ]
    for key, value in accepted:
        response = await patch_settings(client, user.headers, {key: value})
        assert response.status_code == 200, (key, value, response.text)
        assert (await get_json(client, "/me/settings", user.headers))[key] == value


async def test_settings_refuse_invalid_values_and_change_nothing(client):
    user = await signed_in_user(client)
    refused = [
        ("daily_time_limit_minutes", -1),
        ("daily_time_limit_minutes", 1441),
        ("daily_time_limit_minutes", 10**12),
        ("daily_time_limit_minutes", 1.5),
        ("daily_time_limit_minutes", "lots"),
        ("timezone", "Mars/Olympus_Mons"),
        ("timezone", "Europe"),
        ("timezone", "utc"),
        ("timezone", ""),
        ("timezone", "../../etc/passwd"),
        ("timezone", "/usr/share/zoneinfo/UTC"),
        ("timezone", "zone.tab"),
        ("language", "english"),
        ("language", "e"),
        ("language", "en_US"),
        ("language", "en-"),
        ("language", ""),
        ("language", "en-" + "-".join(["abcdefgh"] * 4)),
        ("allow_messages_from", "friends_of_friends"),
        ("allow_messages_from", "EVERYONE"),
        ("notification_frequency", "weekly"),
        ("dark_mode", "blue"),
        ("calm_mode", "sometimes"),
        ("hide_metrics", [True]),
        ("theme", "dark"),
        ("user_id", "00000000-0000-0000-0000-000000000000"),
        *((key, None) for key in SETTINGS_DEFAULTS),
    ]
    for key, value in refused:
        response = await patch_settings(client, user.headers, {"calm_mode": True, key: value})
        assert_422_on(response, key)
        assert error_fields(assert_problem(response, 422)) == {f"body.{key}"}, (key, value)
    assert await get_json(client, "/me/settings", user.headers) == SETTINGS_DEFAULTS


async def test_settings_are_per_user(client):
    first = await signed_in_user(client)
    second = await signed_in_user(client)
    response = await patch_settings(client, first.headers, SETTINGS_CHANGED)
    assert response.status_code == 200, response.text
    response = await patch_privacy(client, first.headers, {"profile_visibility": "only_me"})
    assert response.status_code == 200, response.text
    assert await get_json(client, "/me/settings", second.headers) == SETTINGS_DEFAULTS
    assert await get_json(client, "/me/privacy", second.headers) == PRIVACY_DEFAULTS
