"""HTTP and database helpers shared by the comments and reactions tests (plain functions)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import Executable, event, select

from tests.fixtures.problems import assert_problem as assert_problem
from tests.fixtures.problems import error_fields as error_fields
from tests.fixtures.users import SignedIn, signed_in_user, unique_username
from townsquare.kit.events import OutboxEvent

API = "/api/v1"


def headers_of(user: SignedIn | None) -> dict[str, str]:
    return user.headers if user is not None else {}


async def users(client: httpx.AsyncClient, count: int, prefix: str = "user") -> list[SignedIn]:
    """``count`` registered, signed-in users (created concurrently; hashing is cheap in tests)."""
    names = [unique_username(prefix) for _ in range(count)]
    return list(await asyncio.gather(*(signed_in_user(client, name) for name in names)))


async def comment(
    client: httpx.AsyncClient, user: SignedIn, post_id: str, content: str = "Nice one."
) -> httpx.Response:
    return await client.post(
        f"{API}/posts/{post_id}/comments", json={"content": content}, headers=user.headers
    )


async def reply(
    client: httpx.AsyncClient, user: SignedIn, comment_id: str, content: str = "Indeed."
) -> httpx.Response:
    return await client.post(
        f"{API}/comments/{comment_id}/replies", json={"content": content}, headers=user.headers
    )


async def new_comment(
    client: httpx.AsyncClient, user: SignedIn, post_id: str, content: str = "Nice one."
) -> dict[str, Any]:
    response = await comment(client, user, post_id, content)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def new_reply(
    client: httpx.AsyncClient, user: SignedIn, comment_id: str, content: str = "Indeed."
) -> dict[str, Any]:
    response = await reply(client, user, comment_id, content)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def get_json(
    client: httpx.AsyncClient, path: str, user: SignedIn | None = None, **params: Any
) -> Any:
    response = await client.get(f"{API}{path}", headers=headers_of(user), params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def all_pages(
    client: httpx.AsyncClient, path: str, user: SignedIn | None = None, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a paginated list, following ``next_cursor``."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = await get_json(client, path, user, **query)
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def react(
    client: httpx.AsyncClient, user: SignedIn, target: str, target_id: str, type_: str
) -> httpx.Response:
    """``target`` is ``posts`` or ``comments``."""
    return await client.put(
        f"{API}/{target}/{target_id}/reaction", json={"type": type_}, headers=user.headers
    )


async def unreact(
    client: httpx.AsyncClient, user: SignedIn, target: str, target_id: str
) -> httpx.Response:
    return await client.delete(f"{API}/{target}/{target_id}/reaction", headers=user.headers)


async def set_hide_metrics(client: httpx.AsyncClient, user: SignedIn, value: bool) -> None:
    response = await client.patch(
        f"{API}/me/settings", json={"hide_metrics": value}, headers=user.headers
    )
    assert response.status_code == 200, response.text


async def db_all(app: FastAPI, statement: Executable) -> list[Any]:
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        return list((await uow.session.execute(statement)).all())


async def db_scalar(app: FastAPI, statement: Executable) -> Any:
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        return await uow.session.scalar(statement)


async def events_named(app: FastAPI, name: str) -> list[dict[str, Any]]:
    """Payloads of the outbox events called ``name``, oldest first."""
    rows = await db_all(
        app, select(OutboxEvent.payload).where(OutboxEvent.name == name).order_by(OutboxEvent.id)
    )
    return [row[0] for row in rows]


@contextlib.asynccontextmanager
async def count_queries(app: FastAPI) -> AsyncIterator[list[str]]:
    """Collects every SQL statement the application sends while the block runs.

    Pending outbox events are dispatched first, so the background dispatcher's own queries
    do not land in the count.
    """
    await app.state.platform.outbox.wait_idle()
    engine = app.state.platform.database.engine.sync_engine
    statements: list[str] = []

    def before_cursor_execute(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before_cursor_execute)
