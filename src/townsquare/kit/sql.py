"""Portable SQL helpers for what SQLAlchemy spells per dialect (upserts).

Hot statements are built once and reused with their values as parameters: building and
cache-keying a statement costs more Python time than PostgreSQL takes to run a short one.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase


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
    statement = _insert_or_nothing(dialect_name(session), table, tuple(conflict))
    result = await session.execute(statement, values)
    return bool(result.rowcount)  # type: ignore[attr-defined]


@functools.cache
def _insert_or_nothing(dialect: str, table: Table, conflict: tuple[str, ...]) -> Any:
    """Built once per table: the row's values come as parameters (their keys name the
    columns; Python-side defaults such as ids still apply)."""
    return insert_for(dialect, table).on_conflict_do_nothing(index_elements=list(conflict))


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
    keys, counters = tuple(key), tuple(increments)
    if any(amount < 0 for amount in increments.values()):
        params = {f"key_{k}": v for k, v in key.items()}
        params.update({f"add_{c}": amount for c, amount in increments.items()})
        await session.execute(_add_to_existing(table, keys, counters), params)
        return
    statement = _insert_or_add(dialect_name(session), table, keys, counters)
    await session.execute(statement, {**key, **increments})


@functools.cache
def _insert_or_add(
    dialect: str, table: Table, keys: tuple[str, ...], counters: tuple[str, ...]
) -> Any:
    """``upsert_add``'s increase, built once: the inserted row's counters are the increments,
    which a conflict adds to the existing row (``excluded``)."""
    statement = insert_for(dialect, table)
    updates = {column: table.c[column] + statement.excluded[column] for column in counters}
    return statement.on_conflict_do_update(index_elements=list(keys), set_=updates)


@functools.cache
def _add_to_existing(table: Table, keys: tuple[str, ...], counters: tuple[str, ...]) -> Any:
    """``upsert_add``'s decrease, built once (parameters ``key_<column>``, ``add_<column>``)."""
    updates: dict[str, ColumnElement[Any]] = {
        column: table.c[column] + bindparam(f"add_{column}") for column in counters
    }
    where = [table.c[column] == bindparam(f"key_{column}") for column in keys]
    return update(table).where(*where).values(updates)
