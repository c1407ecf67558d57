"""Issue 13.8, names that lie: names, titles and bios shown to other people lose their control,
bidirectional and invisible characters (stored cleaned), keep every script and emoji, and a
required one left with nothing visible is refused 422 on its field. Through HTTP, on every
backend; the cleaning itself is property-tested in tests/kit/test_visible_text.py."""

from __future__ import annotations

import unicodedata
from typing import Any

import httpx

from tests.fixtures.users import signed_in_user, unique_username
from tests.modules.bookmarks.helpers import new_collection
from tests.modules.messaging.helpers import group
from tests.modules.profiles.helpers import (
    API,
    assert_problem,
    error_fields,
    get_json,
    patch_profile,
)

RLO, LRI, PDI, ZWSP, BOM = "\u202e", "\u2066", "\u2069", "\u200b", "\ufeff"
#: Everything a name may rightly hold: scripts, combining marks, emoji with their joiners and
#: selectors, a subdivision flag (tag sequence), a Persian zero-width non-joiner.
KEPT = (
    "Zoë Łukasz Ἀθηνᾶ Дарья محمد שָׁלוֹם नमस्ते 山田太郎 김민준 "
    "👩\u200d💻 ❤\ufe0f 👍🏽 🇫🇷 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f "
    "می\u200cخواهم"
)


def _refused_on(response: httpx.Response, field: str) -> None:
    body = assert_problem(response, 422)
    assert error_fields(body) == {f"body.{field}"}, body


async def test_profile_names_and_bio_are_stored_without_invisible_characters(
    client: httpx.AsyncClient,
) -> None:
    user = await signed_in_user(client)
    response = await patch_profile(
        client,
        user.headers,
        {
            # Shown as "Alice\u202eecilA" reversed: the override would make a name that lies.
            "display_name": f"{ZWSP}Alice {RLO}nimda{BOM}",
            "first_name": f"{LRI}Ali\u00adce{PDI}",
            "last_name": "Smith\u2060\u2061",
            "bio": f"line one\x07\r\nline two {RLO}\u200e\nthird\x7f",
            "location": f"Paris\u3164{ZWSP}",
            "gender": "\u202dnon-binary\u202c",
        },
    )
    assert response.status_code == 200, response.text
    stored = await get_json(client, "/me/profile", user.headers)
    assert stored["display_name"] == "Alice nimda"
    assert stored["first_name"] == "Alice"
    assert stored["last_name"] == "Smith"
    assert stored["bio"] == "line one\nline two \nthird"
    assert stored["location"] == "Paris"
    assert stored["gender"] == "non-binary"


async def test_every_script_and_emoji_survive(client: httpx.AsyncClient) -> None:
    assert unicodedata.normalize("NFC", KEPT) == KEPT
    name = KEPT.split(" 👩")[0]
    user = await signed_in_user(client)
    response = await patch_profile(
        client, user.headers, {"display_name": name, "bio": f"{KEPT}\n{KEPT}"}
    )
    assert response.status_code == 200, response.text
    stored = await get_json(client, "/me/profile", user.headers)
    assert stored["display_name"] == name
    assert stored["bio"] == f"{KEPT}\n{KEPT}"


async def test_a_name_with_nothing_visible_is_refused_on_its_field(
    client: httpx.AsyncClient,
) -> None:
    user = await signed_in_user(client)
    before = await get_json(client, "/me/profile", user.headers)
    for invisible in (RLO, f"{ZWSP}{BOM}", "\u3164\u3164", " \u2800 ", "\x07"):
        _refused_on(
            await patch_profile(client, user.headers, {"display_name": invisible}), "display_name"
        )
    assert await get_json(client, "/me/profile", user.headers) == before


async def test_registration_cleans_the_display_name_and_refuses_an_invisible_one(
    client: httpx.AsyncClient,
) -> None:
    async def register(display_name: str) -> httpx.Response:
        username = unique_username()
        return await client.post(
            f"{API}/auth/register",
            json={
                "email": f"{username}@example.org",
                "username": username,
                "password": "correct horse battery staple",
                "display_name": display_name,
            },
        )

    response = await register(f"Mallory{RLO}{ZWSP}")
    assert response.status_code == 201, response.text
    assert response.json()["display_name"] == "Mallory"
    _refused_on(await register(f"{RLO}{ZWSP}"), "display_name")


async def test_conversation_titles_and_collection_names_are_cleaned(
    client: httpx.AsyncClient,
) -> None:
    admin, bob = await signed_in_user(client), await signed_in_user(client)
    created: dict[str, Any] = await group(client, admin, bob, title=f"Book{ZWSP} club{RLO}")
    assert created["title"] == "Book club"
    renamed = await client.patch(
        f"{API}/conversations/{created['id']}",
        json={"title": f"{LRI}Books ❤\ufe0f{PDI}", "description": f"Read{RLO}\nthen talk"},
        headers=admin.headers,
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["title"] == "Books ❤\ufe0f"
    assert renamed.json()["description"] == "Read\nthen talk"
    refused = await client.patch(
        f"{API}/conversations/{created['id']}", json={"title": ZWSP}, headers=admin.headers
    )
    _refused_on(refused, "title")

    collection = await new_collection(client, admin, f"{RLO}Recipes{ZWSP}")
    assert collection["name"] == "Recipes"
    refused = await client.post(
        f"{API}/me/bookmark-collections", json={"name": BOM}, headers=admin.headers
    )
    _refused_on(refused, "name")
