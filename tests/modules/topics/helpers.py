"""Small helpers shared by the topics and bookmarks tests (plain functions, no fixtures)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event, update

from tests.fixtures.problems import assert_problem as assert_problem
from tests.fixtures.users import SignedIn, signed_in_user
from townsquare.kit.auth import Role
from townsquare.modules.accounts.models import User

API = "/api/v1"


async def make_staff(
    app: FastAPI, client: httpx.AsyncClient, role: Role = Role.MODERATOR
) -> SignedIn:
    user = await signed_in_user(client)
    async with app.state.platform.database.unit_of_work() as uow:
        await uow.session.execute(
            update(User).where(User.id == uuid.UUID(user.user_id)).values(role=role)
        )
        await uow.commit()
    return user


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0


async def settle(app: FastAPI) -> None:
    """Let background work (outbox handlers of earlier requests) finish, so that it does not
    run, and get counted, during a measured request."""
    await app.state.platform.outbox.wait_idle()


@contextmanager
def count_queries(app: FastAPI) -> Iterator[QueryCounter]:
    """Counts the SQL statements the application sends while the block runs (call ``settle``
    first)."""
    engine = app.state.platform.database.engine.sync_engine
    counter = QueryCounter()

    def before_cursor_execute(*_args: Any) -> None:
        counter.count += 1

    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", before_cursor_execute)


async def get_ok(
    client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None, **params: Any
) -> dict[str, Any]:
    response = await client.get(f"{API}{path}", headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def all_pages(
    client: httpx.AsyncClient,
    path: str,
    headers: dict[str, str] | None = None,
    limit: int = 2,
    **params: Any,
) -> list[dict[str, Any]]:
    """Every item of a paginated list, following ``next_cursor``."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = await get_ok(client, path, headers, **query)
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
