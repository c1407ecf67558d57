"""The profile now knows the graph: friends see `friends` fields, blocks hide, counts show."""

from __future__ import annotations

from tests.fixtures.users import signed_in_user
from tests.modules.social.helpers import API, befriend, follow, ok, set_privacy


async def test_friends_see_what_is_shown_to_friends_and_strangers_do_not(client):
    owner, friend, stranger = [await signed_in_user(client) for _ in range(3)]
    response = await client.patch(
        f"{API}/me/profile",
        json={"bio": "Hello", "birth_date": "1990-12-10", "phone": "+44 20 7946 0958"},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    await set_privacy(client, owner, profile_visibility="friends", phone_visibility="only_me")
    await befriend(client, owner, friend)

    seen = (await client.get(f"{API}/users/{owner.username}", headers=friend.headers)).json()
    assert seen["relationship"] == "friend"
    assert seen["restricted"] is False
    assert seen["bio"] == "Hello"
    assert seen["birth_date"] == "1990-12-10"  # birth date defaults to friends
    assert seen["phone"] is None  # only_me
    for headers, relationship in ((stranger.headers, "other"), (None, "anonymous")):
        seen = (await client.get(f"{API}/users/{owner.username}", headers=headers)).json()
        assert seen["relationship"] == relationship
        assert seen["restricted"] is True
        assert seen["bio"] is None
        assert seen["birth_date"] is None

    ok(await client.delete(f"{API}/me/friends/{owner.username}", headers=friend.headers), 204)
    seen = (await client.get(f"{API}/users/{owner.username}", headers=friend.headers)).json()
    assert seen["relationship"] == "other"
    assert seen["restricted"] is True


async def test_profile_counts_are_exact_for_everyone(client):
    star, fan, pal = [await signed_in_user(client) for _ in range(3)]
    ok(await follow(client, fan, star))
    ok(await follow(client, star, pal))
    await befriend(client, star, pal)
    expected = {"followers_count": 1, "following_count": 1, "friends_count": 1, "posts_count": 0}
    for headers in (None, fan.headers, star.headers):
        seen = (await client.get(f"{API}/users/{star.username}", headers=headers)).json()
        assert seen["stats"] == expected
    fresh = (await client.get(f"{API}/users/{fan.username}")).json()
    assert fresh["stats"] == {**expected, "followers_count": 0, "friends_count": 0}


async def test_connections_visibility_round_trips_in_privacy(client):
    me = await signed_in_user(client)
    response = await client.get(f"{API}/me/privacy", headers=me.headers)
    assert response.json()["connections_visibility"] == "public"
    for audience in ("friends", "only_me", "public"):
        await set_privacy(client, me, connections_visibility=audience)
        response = await client.get(f"{API}/me/privacy", headers=me.headers)
        assert response.json()["connections_visibility"] == audience
    for bad in ("everyone", None, 1):
        response = await client.patch(
            f"{API}/me/privacy", json={"connections_visibility": bad}, headers=me.headers
        )
        assert response.status_code == 422, response.text
