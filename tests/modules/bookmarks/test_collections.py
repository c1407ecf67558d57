"""Bookmark collections through HTTP: create, list, rename, delete; names unique per owner."""

from __future__ import annotations

import uuid

from tests.fixtures.content import create_post
from tests.fixtures.users import signed_in_user
from tests.modules.bookmarks.helpers import listed, new_collection, put_bookmark
from tests.modules.topics.helpers import API, all_pages, assert_problem, get_ok

COLLECTIONS = f"{API}/me/bookmark-collections"


async def test_create_list_get_rename(client):
    me = await signed_in_user(client)
    other = await signed_in_user(client)
    names = ["Recipes", "  Travel  ", "Long reads"]
    created = [await new_collection(client, me, name) for name in names]
    assert created[1]["name"] == "Travel"  # surrounding spaces are trimmed
    await new_collection(client, other, "Recipes")  # names are unique per owner only

    mine = await all_pages(client, "/me/bookmark-collections", me.headers, limit=2)
    assert [c["name"] for c in mine] == ["Long reads", "Travel", "Recipes"]
    assert [
        c["name"] for c in await all_pages(client, "/me/bookmark-collections", other.headers)
    ] == ["Recipes"]
    one = await get_ok(client, f"/me/bookmark-collections/{created[0]['id']}", me.headers)
    assert one == created[0]

    response = await client.patch(
        f"{COLLECTIONS}/{created[0]['id']}", json={"name": "Cooking"}, headers=me.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Cooking"
    # Renaming to its own name is fine.
    response = await client.patch(
        f"{COLLECTIONS}/{created[0]['id']}", json={"name": "Cooking"}, headers=me.headers
    )
    assert response.status_code == 200


async def test_duplicate_and_bad_names(client):
    me = await signed_in_user(client)
    travel = await new_collection(client, me, "Travel")
    food = await new_collection(client, me, "Food")
    response = await client.post(COLLECTIONS, json={"name": "Travel"}, headers=me.headers)
    assert_problem(response, 409, "collection_name_taken")
    response = await client.post(COLLECTIONS, json={"name": " Travel "}, headers=me.headers)
    assert_problem(response, 409, "collection_name_taken")
    response = await client.patch(
        f"{COLLECTIONS}/{food['id']}", json={"name": "Travel"}, headers=me.headers
    )
    assert_problem(response, 409, "collection_name_taken")
    for bad in (
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": "a\x00b"},
        {},
        {"name": 5},
        {"name": "ok", "extra": 1},
    ):
        assert_problem(await client.post(COLLECTIONS, json=bad, headers=me.headers), 422)
        response = await client.patch(f"{COLLECTIONS}/{food['id']}", json=bad, headers=me.headers)
        assert_problem(response, 422)
    names = [c["name"] for c in await all_pages(client, "/me/bookmark-collections", me.headers)]
    assert names == ["Food", "Travel"]
    assert travel["name"] == "Travel"
    assert_problem(await client.post(COLLECTIONS, json={"name": "Anon"}), 401)


async def test_someone_elses_collection_is_not_found(client):
    me = await signed_in_user(client)
    other = await signed_in_user(client)
    theirs = await new_collection(client, other, "Secret")
    url = f"{COLLECTIONS}/{theirs['id']}"
    assert_problem(await client.get(url, headers=me.headers), 404, "collection_not_found")
    response = await client.patch(url, json={"name": "Mine now"}, headers=me.headers)
    assert_problem(response, 404, "collection_not_found")
    assert_problem(await client.delete(url, headers=me.headers), 404, "collection_not_found")
    assert_problem(await client.get(f"{COLLECTIONS}/{uuid.uuid4()}", headers=me.headers), 404)
    assert_problem(await client.get(f"{COLLECTIONS}/nope", headers=me.headers), 422)
    assert (await get_ok(client, f"/me/bookmark-collections/{theirs['id']}", other.headers))[
        "name"
    ] == "Secret"
    assert await all_pages(client, "/me/bookmark-collections", me.headers) == []


async def test_deleting_a_collection_deletes_its_bookmarks(app, client):
    author = await signed_in_user(client)
    me = await signed_in_user(client)
    trip = await new_collection(client, me, "Trip")
    keep = await new_collection(client, me, "Keep")
    in_trip = await create_post(app, author.user_id, content="in trip")
    in_keep = await create_post(app, author.user_id, content="in keep")
    in_default = await create_post(app, author.user_id, content="in default")
    await put_bookmark(client, me, in_trip, trip["id"])
    await put_bookmark(client, me, in_keep, keep["id"])
    await put_bookmark(client, me, in_default)

    response = await client.delete(f"{COLLECTIONS}/{trip['id']}", headers=me.headers)
    assert response.status_code == 204
    assert_problem(await client.delete(f"{COLLECTIONS}/{trip['id']}", headers=me.headers), 404)
    assert await listed(client, me) == [in_default, in_keep]
    response = await client.get(
        f"{API}/me/bookmarks", params={"collection": trip["id"]}, headers=me.headers
    )
    assert_problem(response, 404, "collection_not_found")
    # The post can be bookmarked again, anywhere.
    assert (await put_bookmark(client, me, in_trip)).status_code == 201
    # A name freed by deletion can be used again.
    await new_collection(client, me, "Trip")
