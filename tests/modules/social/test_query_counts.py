"""Every list answers a page in a constant number of SQL statements, whatever its size."""

from __future__ import annotations

import pytest

from tests.fixtures.queries import count_queries
from tests.fixtures.users import SignedIn, signed_in_user
from tests.modules.social.helpers import API, befriend, follow, ok, send_request

ROWS = 21


async def _statements_for(app, client, path: str, viewer: SignedIn, limit: int) -> int:
    # Outbox handlers (e.g. verification emails of the new accounts) share the engine: let
    # them finish first so only the request's own statements are counted.
    await app.state.platform.outbox.wait_idle()
    with count_queries(app) as statements:
        response = await client.get(f"{API}{path}", params={"limit": limit}, headers=viewer.headers)
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == limit
    return len(statements)


@pytest.fixture
async def crowd(client) -> tuple[SignedIn, SignedIn]:
    """``star`` and ``pal`` (a private account) with ROWS rows in each of their lists."""
    star, pal = await signed_in_user(client), await signed_in_user(client)
    response = await client.patch(
        f"{API}/me/profile", json={"is_private": True}, headers=pal.headers
    )
    assert response.status_code == 200, response.text
    for _ in range(ROWS):
        fan, other = await signed_in_user(client), await signed_in_user(client)
        ok(await follow(client, fan, star))
        ok(await follow(client, star, fan))
        ok(await follow(client, fan, pal))  # pending: pal approves followers
        ok(await send_request(client, fan, star))
        ok(await send_request(client, pal, other))
        ok(await client.put(f"{API}/me/mutes/{fan.username}", headers=star.headers), 204)
        ok(await client.put(f"{API}/me/close-friends/{fan.username}", headers=star.headers), 204)
        ok(await client.put(f"{API}/me/blocks/{other.username}", headers=star.headers), 204)
        friend = await signed_in_user(client)
        await befriend(client, star, friend)
        await befriend(client, pal, friend)
    return star, pal


LISTS = [
    ("star", "/users/{star}/followers"),
    ("star", "/users/{star}/following"),
    ("star", "/users/{star}/friends"),
    ("star", "/users/{pal}/mutual-friends"),
    ("star", "/me/friend-requests/incoming"),
    ("pal", "/me/friend-requests/outgoing"),
    ("pal", "/me/follow-requests"),
    ("star", "/me/mutes"),
    ("star", "/me/close-friends"),
    ("star", "/me/blocks"),
]


async def test_every_list_runs_constant_statements_per_page(app, client, crowd):
    star, pal = crowd
    viewers = {"star": star, "pal": pal}
    for viewer_name, template in LISTS:
        path = template.format(star=star.username, pal=pal.username)
        viewer = viewers[viewer_name]
        small = await _statements_for(app, client, path, viewer, 2)
        large = await _statements_for(app, client, path, viewer, 20)
        assert small == large, (path, small, large)
