"""Retention: the periodic purge drops stream events past ``stream_retention_hours``; numbering
never restarts, and a client behind the purged range is told to resync."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update

from tests.fixtures.users import signed_in_user
from tests.modules.stream.helpers import next_frame, next_frames, open_stream, publish
from townsquare.kit.models import utcnow
from townsquare.kit.realtime import StreamEvent, StreamHead
from townsquare.modules.stream.service import purge_old_events


async def _stored(app: FastAPI, user_id: str) -> dict[int, str]:
    """seq -> type of the user's stored events."""
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        rows = await uow.session.execute(
            select(StreamEvent.seq, StreamEvent.type).where(
                StreamEvent.user_id == uuid.UUID(user_id)
            )
        )
        return {row.seq: row.type for row in rows}


async def _age(app: FastAPI, user_id: str, seqs: range, hours: float) -> None:
    async with app.state.platform.database.unit_of_work() as uow:
        await uow.session.execute(
            update(StreamEvent)
            .where(StreamEvent.user_id == uuid.UUID(user_id), StreamEvent.seq.in_(list(seqs)))
            .values(created_at=utcnow() - timedelta(hours=hours))
        )
        await uow.commit()


async def test_the_purge_drops_old_events_only_and_numbering_goes_on(
    client: httpx.AsyncClient, app: FastAPI, server: str
) -> None:
    retention = app.state.settings.stream_retention_hours
    alice, bob = await signed_in_user(client), await signed_in_user(client)
    for n in range(1, 6):
        await publish(app, [alice.user_id, bob.user_id], "message.created", {"n": n})
    await _age(app, alice.user_id, range(1, 4), retention + 1)  # past the retention
    await _age(app, alice.user_id, range(4, 5), retention - 1)  # old, but within it

    await purge_old_events(app.state.platform)

    assert await _stored(app, alice.user_id) == {4: "message.created", 5: "message.created"}
    assert set(await _stored(app, bob.user_id)) == {1, 2, 3, 4, 5}  # other streams untouched
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        head = await uow.session.get(StreamHead, uuid.UUID(alice.user_id))
        assert head is not None
        assert head.last_seq == 5  # the head stays

    # Resuming within what is kept replays exactly.
    async with await open_stream(server, alice, last_event_id="3") as ws:
        assert [f["id"] for f in await next_frames(ws, 2)] == ["4", "5"]
    # Resuming from before the purge cannot be exact: resync, then live events go on from 6.
    async with await open_stream(server, alice, last_event_id="1") as ws:
        frame = await next_frame(ws)
        assert (frame["type"], frame["data"]) == ("resync", {"last_event_id": "5"})
        await publish(app, [alice.user_id], "message.created", {"n": 6})
        assert (await next_frame(ws))["id"] == "6"

    # Purging everything keeps the numbering too.
    await _age(app, alice.user_id, range(1, 7), retention + 1)
    await purge_old_events(app.state.platform)
    assert await _stored(app, alice.user_id) == {}
    await publish(app, [alice.user_id], "message.created", {"n": 7})
    assert await _stored(app, alice.user_id) == {7: "message.created"}
