"""A deleted post takes every notification about it along, shares of it included: from the
list, the groups and the unread count at once (before any job), and from the table once the
deletion's job has run. A deleted share takes its own notification along too."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.fixtures.outbox import worker_not_run_yet
from tests.fixtures.users import SignedIn
from tests.modules.notifications.helpers import (
    API,
    comment,
    post,
    react,
    settle,
    types_of,
    unread_count,
    users,
)
from townsquare.modules.notifications.models import Notification


async def _grouped_types(client: httpx.AsyncClient, user: SignedIn) -> list[str]:
    response = await client.get(f"{API}/notifications/grouped", headers=user.headers)
    assert response.status_code == 200, response.text
    return [group["type"] for group in response.json()["items"]]


async def _share(client: httpx.AsyncClient, user: SignedIn, post_id: str) -> dict[str, Any]:
    response = await client.post(f"{API}/posts/{post_id}/share", headers=user.headers)
    assert response.status_code == 201, response.text
    share: dict[str, Any] = response.json()
    return share


async def _delete(client: httpx.AsyncClient, user: SignedIn, post_id: str) -> None:
    response = await client.delete(f"{API}/posts/{post_id}", headers=user.headers)
    assert response.status_code == 204, response.text


async def _stored_for(app: FastAPI, user: SignedIn) -> int:
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        count = await uow.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.recipient_id == uuid.UUID(user.user_id))
        )
        return int(count or 0)


async def test_deleting_a_post_retracts_its_share_notifications_too(client, app):
    ann, bo, cy = await users(client, 3)
    mine = await post(client, ann, "Share me")
    kept = await post(client, ann, "Still here")
    await _share(client, bo, mine["id"])
    await react(client, bo, mine["id"])
    await comment(client, bo, mine["id"])
    await _share(client, cy, mine["id"])
    await react(client, cy, kept["id"])
    await settle(app)
    assert sorted(await types_of(client, ann)) == [
        "comment",
        "reaction",
        "reaction",
        "share",
        "share",
    ]
    assert sorted(await _grouped_types(client, ann)) == ["comment", "reaction", "reaction", "share"]
    assert await unread_count(client, ann) == 5  # cached now

    async with worker_not_run_yet(app):
        await _delete(client, ann, mine["id"])
        # At once, before the deletion's job: list, groups and the (cached) count.
        assert await types_of(client, ann) == ["reaction"]
        assert await _grouped_types(client, ann) == ["reaction"]
        assert await unread_count(client, ann) == 1
    # The job deleted them.
    assert await types_of(client, ann) == ["reaction"]
    assert await unread_count(client, ann) == 1
    assert await _stored_for(app, ann) == 1


async def test_deleting_a_share_retracts_its_notification(client, app):
    ann, bo, cy = await users(client, 3)
    mine = await post(client, ann, "Share me")
    shared_by_bo = await _share(client, bo, mine["id"])
    await _share(client, cy, mine["id"])
    await settle(app)
    assert await types_of(client, ann) == ["share", "share"]
    assert await unread_count(client, ann) == 2  # cached now

    await _delete(client, bo, shared_by_bo["id"])
    assert await types_of(client, ann) == ["share"]  # at once: the read rule
    await settle(app)
    assert await types_of(client, ann) == ["share"]
    assert await unread_count(client, ann) == 1
    [group] = (await client.get(f"{API}/notifications/grouped", headers=ann.headers)).json()[
        "items"
    ]
    assert (group["type"], group["count"], group["actors_count"]) == ("share", 1, 1)
    assert [a["username"] for a in group["actors"]] == [cy.username]
    assert await _stored_for(app, ann) == 1
