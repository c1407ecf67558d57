"""Slow work (argon2, deliberate delays, SMTP, HTTP) kept out of the writing unit of work.

A writing unit of work holds, from its first statement to its commit, SQLite's database-wide
write lock (``BEGIN IMMEDIATE``, see ``kit.db``) and, on PostgreSQL, a pooled connection. Slow
work done inside it makes every other writer, or the pool, wait for it. So a use case that has
to read before its slow work (an account's password hash before checking a password):

1. reads in a short read-only unit of work of its own (``read_apart``), which also ends the
   request session's transaction if that has only read so far (``release``);
2. does the slow work holding no transaction, lock or connection;
3. writes in the request's session, re-reading (for update) the rows it writes, because they
   may have changed meanwhile, and treating such a change as the use case requires.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.db import Database

T = TypeVar("T")


class WriteBeforeSlowWork(RuntimeError):
    """Slow work was asked for after the unit of work had started writing (a programming error)."""


async def release(session: AsyncSession) -> None:
    """End ``session``'s transaction if one is open and it has only read.

    A request's session may have begun its transaction before the use case runs: an
    authenticated request looks its session up there when the cache misses. Ending that read
    frees SQLite's write lock and the pooled connection; the session's next statement begins a
    new transaction. Must come before the unit of work's first write: pending changes raise
    ``WriteBeforeSlowWork`` rather than being silently rolled back.
    """
    if not session.in_transaction():
        return
    if session.new or session.dirty or session.deleted:
        raise WriteBeforeSlowWork("slow work must come before the unit of work's first write")
    await session.rollback()


async def read_apart(
    database: Database, session: AsyncSession, read: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    """``read`` in a short read-only unit of work, with ``session`` holding nothing meanwhile.

    Return plain values from ``read``, not ORM objects: its session is gone once this returns.
    """
    await release(session)
    async with database.unit_of_work(read_only=True) as uow:
        return await read(uow.session)
