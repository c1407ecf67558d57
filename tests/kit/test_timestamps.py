"""Time is timezone-aware UTC on the way in and out, on every database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import StatementError

from tests.fixtures.users import signed_in_user
from townsquare.kit.events import OutboxEvent
from townsquare.kit.platform import Platform


def _is_utc_text(value: str) -> bool:
    if not (value.endswith("Z") or value.endswith("+00:00")):
        return False
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.utcoffset() == timedelta(0)


async def test_api_timestamps_are_utc(client: httpx.AsyncClient) -> None:
    started = datetime.now(UTC)
    user = await signed_in_user(client)
    me = (await client.get("/api/v1/me", headers=user.headers)).json()
    assert _is_utc_text(me["created_at"]), me["created_at"]
    assert _is_utc_text(me["last_login_at"]), me["last_login_at"]
    created = datetime.fromisoformat(me["created_at"].replace("Z", "+00:00"))
    assert started - timedelta(seconds=5) <= created <= datetime.now(UTC)

    sessions = (await client.get("/api/v1/auth/sessions", headers=user.headers)).json()
    [session] = sessions["items"]
    for field in ("created_at", "last_used_at", "expires_at"):
        assert _is_utc_text(session[field]), (field, session[field])


async def test_stored_datetimes_come_back_aware_utc(app: FastAPI) -> None:
    platform: Platform = app.state.platform
    elsewhere = timezone(timedelta(hours=5, minutes=30))
    moment = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=elsewhere)
    async with platform.database.unit_of_work() as uow:
        event = OutboxEvent(name="kit_test.time", payload={}, occurred_at=moment)
        uow.session.add(event)
        await uow.commit()
        event_id = event.id

    async with platform.database.sessions() as session:
        stored = await session.get(OutboxEvent, event_id)
        assert stored is not None
        assert stored.occurred_at.utcoffset() == timedelta(0)
        assert stored.occurred_at == moment
        assert stored.occurred_at.hour == 6
        assert stored.occurred_at.minute == 30
        assert stored.available_at.tzinfo is not None


async def test_naive_datetimes_are_refused(app: FastAPI) -> None:
    platform: Platform = app.state.platform
    async with platform.database.unit_of_work() as uow:
        uow.session.add(
            OutboxEvent(name="kit_test.naive", payload={}, occurred_at=datetime(2026, 1, 1))
        )
        with pytest.raises(StatementError, match="naive datetimes"):
            await uow.session.flush()
