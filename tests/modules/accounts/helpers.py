"""Small helpers shared by the accounts tests: problem assertions, direct database access."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import Executable

from tests.fixtures.problems import assert_problem as assert_problem
from tests.fixtures.problems import error_fields as error_fields
from tests.fixtures.users import SignedIn, login

API = "/api/v1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def without_request_identity(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("request_id", "instance")}


async def db_execute(app: FastAPI, statement: Executable) -> int:
    """Run one write in its own committed transaction; returns the row count."""
    async with app.state.platform.database.unit_of_work() as uow:
        result = await uow.session.execute(statement)
        await uow.commit()
        return int(getattr(result, "rowcount", 0) or 0)


async def db_one(app: FastAPI, statement: Executable) -> Any:
    """The single row a read returns."""
    async with app.state.platform.database.unit_of_work() as uow:
        return (await uow.session.execute(statement)).one()


async def db_all(app: FastAPI, statement: Executable) -> list[Any]:
    async with app.state.platform.database.unit_of_work() as uow:
        return list((await uow.session.execute(statement)).all())


async def me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(f"{API}/me", headers=bearer(token))


async def new_session(client: httpx.AsyncClient, user: SignedIn, **headers: str) -> dict[str, Any]:
    """Log ``user`` in once more: a fresh session's token pair."""
    response = await login(client, user.username, user.password, **headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
