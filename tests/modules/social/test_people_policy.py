"""The one people policy (``social.policy``): the predicate and the SQL clause, each case both
ways (may see / may not), and the two agreeing on every case, on both databases.

The people are made through the API (deactivation, deletion and blocks as a client does them);
only the plain "hidden" case (a suspension, say) is set on the profile directly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import BindParameter, Uuid, bindparam, select

from tests.fixtures.users import PASSWORD, SignedIn, signed_in_user
from townsquare.kit.platform import Platform
from townsquare.modules.accounts.models import User
from townsquare.modules.profiles import repository as profiles
from townsquare.modules.profiles.models import Profile
from townsquare.modules.social import policy
from townsquare.modules.social import repository as social
from townsquare.modules.social import service as social_service

API = "/api/v1"


@dataclass
class World:
    me: SignedIn
    people: dict[str, uuid.UUID]


async def _ok(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text


@pytest.fixture
async def world(client: httpx.AsyncClient, app: FastAPI) -> World:
    me = await signed_in_user(client)
    names = ["plain", "hidden", "deactivated", "deleted", "blocked_by_me", "blocking_me"]
    users = {name: await signed_in_user(client) for name in names}
    await _ok(
        await client.post(
            f"{API}/me/deactivate",
            json={"password": PASSWORD},
            headers=users["deactivated"].headers,
        ),
        204,
    )
    await _ok(
        await client.request(
            "DELETE", f"{API}/me", json={"password": PASSWORD}, headers=users["deleted"].headers
        ),
        202,
    )
    blocked = users["blocked_by_me"].username
    await _ok(await client.put(f"{API}/me/blocks/{blocked}", headers=me.headers), 204)
    blocker = users["blocking_me"].headers
    await _ok(await client.put(f"{API}/me/blocks/{me.username}", headers=blocker), 204)
    platform: Platform = app.state.platform
    async with platform.database.unit_of_work() as uow:
        await profiles.set_hidden(uow.session, uuid.UUID(users["hidden"].user_id), True)
        await uow.commit()
    people = {name: uuid.UUID(user.user_id) for name, user in users.items()}
    return World(me=me, people={"me": uuid.UUID(me.user_id), **people})


#: Whom each viewer may see: the rule written out case by case.
SIGNED_IN_SEES = {"me", "plain"}
ANONYMOUS_SEES = {"me", "plain", "blocked_by_me", "blocking_me"}


async def _predicate(app: FastAPI, viewer: uuid.UUID | None, world: World) -> set[str]:
    """Whom ``may_see_person`` lets the viewer see, from the facts read one by one."""
    platform: Platform = app.state.platform
    seen = set()
    async with platform.database.sessions() as session:
        for name, person in world.people.items():
            profile = await session.get(Profile, person)
            assert profile is not None
            blocked = viewer is not None and await social.is_blocked_either_way(
                session, viewer, person
            )
            facts = policy.may_see_person(
                viewer, person, is_hidden=profile.is_hidden, blocked_either_way=blocked
            )
            assert await social_service.may_see_profile(session, viewer, profile) is facts
            if facts:
                seen.add(name)
    return seen


async def _clause(
    app: FastAPI,
    viewer: uuid.UUID | BindParameter[uuid.UUID] | None,
    world: World,
    params: dict[str, object] | None = None,
) -> set[str]:
    """Whom ``visible_person_clause`` lets the viewer see, over all the world's people."""
    platform: Platform = app.state.platform
    names = {person: name for name, person in world.people.items()}
    # Over another table's user column, as callers use it (over ``profiles`` itself the
    # clause's EXISTS would correlate to the outer row).
    statement = select(User.id).where(
        User.id.in_(names), policy.visible_person_clause(viewer, User.id)
    )
    async with platform.database.sessions() as session:
        found = await session.scalars(statement, params or {})
        return {names[user_id] for user_id in found}


async def test_a_signed_in_viewer_sees_only_visible_unblocked_people(
    app: FastAPI, world: World
) -> None:
    me = world.people["me"]
    assert await _predicate(app, me, world) == SIGNED_IN_SEES
    assert await _clause(app, me, world) == SIGNED_IN_SEES


async def test_the_clause_with_a_bound_viewer_agrees(app: FastAPI, world: World) -> None:
    """Statements built once bind the viewer at execution: same answer."""
    viewer: BindParameter[uuid.UUID] = bindparam("viewer_id", type_=Uuid)
    me = world.people["me"]
    assert await _clause(app, viewer, world, {"viewer_id": me}) == SIGNED_IN_SEES


async def test_an_anonymous_viewer_is_only_subject_to_hidden(app: FastAPI, world: World) -> None:
    assert await _predicate(app, None, world) == ANONYMOUS_SEES
    assert await _clause(app, None, world) == ANONYMOUS_SEES


async def test_the_blocked_see_each_other_no_more_either_way(app: FastAPI, world: World) -> None:
    for name in ("blocked_by_me", "blocking_me"):
        them = world.people[name]
        expected = {"plain", "blocked_by_me", "blocking_me"}  # themselves, and not me
        assert await _predicate(app, them, world) == expected
        assert await _clause(app, them, world) == expected


async def test_a_hidden_viewer_still_sees_themselves(app: FastAPI, world: World) -> None:
    hidden = world.people["hidden"]
    expected = {"me", "plain", "blocked_by_me", "blocking_me", "hidden"}
    assert await _predicate(app, hidden, world) == expected
    assert await _clause(app, hidden, world) == expected


async def test_findable_is_the_hidden_part_alone(app: FastAPI, world: World) -> None:
    """For targets whose block has its own answer, and for my blocks list."""
    platform: Platform = app.state.platform
    me = world.people["me"]
    names = {person: name for name, person in world.people.items()}
    statement = select(User.id).where(
        User.id.in_(names), policy.findable_person_clause(me, User.id)
    )
    async with platform.database.sessions() as session:
        found = {names[user_id] for user_id in await session.scalars(statement)}
        for name, person in world.people.items():
            profile = await session.get(Profile, person)
            assert profile is not None
            assert policy.may_find_person(me, person, is_hidden=profile.is_hidden) is (
                name in found
            )
    assert found == {"me", "plain", "blocked_by_me", "blocking_me"}


def test_the_predicate_case_by_case() -> None:
    viewer, person = uuid.uuid4(), uuid.uuid4()

    def sees(v: uuid.UUID | None, *, hidden: bool = False, blocked: bool = False) -> bool:
        return policy.may_see_person(v, person, is_hidden=hidden, blocked_either_way=blocked)

    assert sees(viewer)
    assert sees(None)
    assert not sees(viewer, hidden=True)
    assert not sees(None, hidden=True)
    assert not sees(viewer, blocked=True)
    assert sees(None, blocked=True)  # an anonymous viewer is in no block
    assert sees(person, hidden=True, blocked=True)  # oneself, always
    assert policy.may_find_person(viewer, person, is_hidden=False)
    assert not policy.may_find_person(viewer, person, is_hidden=True)
    assert policy.may_find_person(person, person, is_hidden=True)
