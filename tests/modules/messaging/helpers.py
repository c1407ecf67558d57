"""HTTP helpers of the messaging tests (plain functions, no fixtures)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.fixtures.users import SignedIn
from townsquare.kit.events import OutboxEvent
from townsquare.kit.realtime import StreamEvent
from townsquare.models import metadata

API = "/api/v1"


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON body of a successful answer (None for 204)."""
    assert response.status_code == status, response.text
    return response.json() if status != 204 else None


async def dm(
    client: httpx.AsyncClient, sender: SignedIn, to: SignedIn, content: str = "hi", **fields: Any
) -> httpx.Response:
    return await client.post(
        f"{API}/users/{to.username}/messages",
        json={"content": content, **fields},
        headers=sender.headers,
    )


async def send(
    client: httpx.AsyncClient, sender: SignedIn, conversation_id: str, **body: Any
) -> httpx.Response:
    body.setdefault("content", "hello")
    return await client.post(
        f"{API}/conversations/{conversation_id}/messages", json=body, headers=sender.headers
    )


async def group(
    client: httpx.AsyncClient, admin: SignedIn, *members: SignedIn, title: str = "Team"
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/conversations",
        json={"title": title, "members": [m.username for m in members]},
        headers=admin.headers,
    )
    body: dict[str, Any] = ok(response, 201)
    return body


async def messages(
    client: httpx.AsyncClient, user: SignedIn, conversation_id: str, **params: Any
) -> httpx.Response:
    return await client.get(
        f"{API}/conversations/{conversation_id}/messages", params=params, headers=user.headers
    )


async def conversation(
    client: httpx.AsyncClient, user: SignedIn, conversation_id: str
) -> httpx.Response:
    return await client.get(f"{API}/conversations/{conversation_id}", headers=user.headers)


async def conversations(client: httpx.AsyncClient, user: SignedIn, **params: Any) -> Any:
    return ok(await client.get(f"{API}/conversations", params=params, headers=user.headers))


async def set_allow_messages_from(client: httpx.AsyncClient, user: SignedIn, value: str) -> None:
    response = await client.patch(
        f"{API}/me/settings", json={"allow_messages_from": value}, headers=user.headers
    )
    assert response.status_code == 200, response.text


async def count_rows(app: FastAPI, table: str) -> int:
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        result = await uow.session.scalar(select(func.count()).select_from(metadata.tables[table]))
        return int(result or 0)


async def events_named(app: FastAPI, name: str) -> list[dict[str, Any]]:
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        rows = await uow.session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.name == name).order_by(OutboxEvent.id)
        )
        return [dict(row) for row in rows]


async def stream_events(app: FastAPI, user: SignedIn, type_: str | None = None) -> list[Any]:
    """The stored stream events of a user, oldest first: ``(type, data)``."""
    import uuid

    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        statement = select(StreamEvent.type, StreamEvent.data).where(
            StreamEvent.user_id == uuid.UUID(user.user_id)
        )
        if type_ is not None:
            statement = statement.where(StreamEvent.type == type_)
        rows = await uow.session.execute(statement.order_by(StreamEvent.seq))
        return [(t, dict(d)) for t, d in rows]


class Snapshot:
    """Row counts of every messaging table, the outbox and the stream: 'nothing changed'."""

    TABLES = (
        "conversations",
        "conversation_members",
        "messages",
        "message_mentions",
        "outbox_events",
        "stream_events",
    )

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    @classmethod
    async def take(cls, app: FastAPI) -> Snapshot:
        await app.state.platform.outbox.wait_idle()
        return cls({table: await count_rows(app, table) for table in cls.TABLES})

    async def assert_unchanged(self, app: FastAPI) -> None:
        after = await Snapshot.take(app)
        assert after.counts == self.counts
