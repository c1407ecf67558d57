"""Portable SQL helpers for what SQLAlchemy spells per dialect (upserts)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Table, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase


def _insert(session: AsyncSession, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


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
    # The rows as parameters: one multi-row INSERT on the wire, compiled once and cached
    # (``.values(rows)`` would compile a new statement on every call).
    statement = (
        _insert(session, table)
        .on_conflict_do_nothing(index_elements=conflict)
        .returning(table.c[returning])
    )
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
