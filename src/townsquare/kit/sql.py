"""Portable SQL helpers for what SQLAlchemy spells per dialect (upserts).

Hot statements are built once and reused with their values as parameters: building and
cache-keying a statement costs more Python time than PostgreSQL takes to run a short one.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import ColumnElement, Table, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase


def _insert(session: AsyncSession, table: Table) -> Any:
    return insert_for(dialect_name(session), table)


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def insert_for(dialect: str, table: Table) -> Any:
    """An INSERT with the dialect's ``on_conflict_*`` methods."""
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


@functools.cache
def _insert_ignoring(dialect: str, table: Table, conflict: tuple[str, ...], returning: str) -> Any:
    return (
        insert_for(dialect, table)
        .on_conflict_do_nothing(index_elements=list(conflict))
        .returning(table.c[returning])
    )


async def insert_or_ignore(
    session: AsyncSession, model: type[DeclarativeBase], values: dict[str, Any], conflict: list[str]
) -> bool:
    """Insert one row unless ``conflict`` columns already match one; True if inserted.

    Race-free: two concurrent callers make one row, and exactly one of them gets True.
    """
    table = model.__table__
    assert isinstance(table, Table)
    statement = (
        _insert(session, table).values(**values).on_conflict_do_nothing(index_elements=conflict)
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def insert_many_or_ignore(
    session: AsyncSession,
    model: type[DeclarativeBase],
    rows: list[dict[str, Any]],
    conflict: list[str],
    returning: str,
) -> list[Any]:
    """``insert_or_ignore`` for many rows in one statement; the ``returning`` column of the rows
    actually inserted (PostgreSQL and SQLite >= 3.35 both return only those)."""
    if not rows:
        return []
    table = model.__table__
    assert isinstance(table, Table)
    # The rows as parameters of a statement built once: still one multi-row INSERT on the
    # wire, but ``.values(rows)`` would build and compile a new statement on every call.
    statement = _insert_ignoring(dialect_name(session), table, tuple(conflict), returning)
    return list((await session.execute(statement, rows)).scalars())


async def upsert_add(
    session: AsyncSession,
    model: type[DeclarativeBase],
    key: dict[str, Any],
    increments: dict[str, int],
) -> None:
    """Add ``increments`` to a counter row, creating it (from zero) if missing; race-free.

    A decrease cannot create the row (it would start below zero), so it is a plain UPDATE of
    the row that the matching increase made.
    """
    table = model.__table__
    assert isinstance(table, Table)
    updates: dict[str, ColumnElement[Any]] = {
        column: table.c[column] + amount for column, amount in increments.items()
    }
    if any(amount < 0 for amount in increments.values()):
        where = [table.c[column] == value for column, value in key.items()]
        await session.execute(update(table).where(*where).values(updates))
        return
    statement = _insert(session, table).values(**key, **increments)
    await session.execute(statement.on_conflict_do_update(index_elements=list(key), set_=updates))
