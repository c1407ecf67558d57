"""Keyset pagination with opaque cursors.

A cursor encodes the sort key of the last item of a page (for UUIDv7 ids, the id alone is
enough: it is time-ordered and unique). Clients treat cursors as opaque strings.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Generic, Protocol, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from townsquare.kit.errors import ValidationFailed

T = TypeVar("T")
M = TypeVar("M", bound="HasId")
DEFAULT_PAGE_SIZE = 20
#: The alphabet of unpadded base64url, the only thing a cursor is made of.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
MAX_PAGE_SIZE = 100


class HasId(Protocol):
    id: uuid.UUID


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )


class PageRequest(BaseModel):
    cursor: str | None = None
    limit: int = DEFAULT_PAGE_SIZE


async def page_request(  # async: FastAPI runs a plain def in a thread
    cursor: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=512,
            # What ``encode_cursor`` writes: unpadded base64url. Anything else is refused by the
            # schema itself; a well-formed string this server did not hand out can only be
            # refused once decoded (422 ``invalid_cursor``), which the description says.
            pattern=CURSOR_PATTERN,
            description=(
                "Opaque cursor from `next_cursor`. A cursor this list did not hand out answers "
                "422 `validation_failed` with the error type `invalid_cursor`."
            ),
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> PageRequest:
    return PageRequest(cursor=cursor, limit=limit)


def encode_cursor(values: dict[str, Any]) -> str:
    raw = orjson.dumps(values, default=str)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def malformed_cursor() -> ValidationFailed:
    """The 422 every list answers for a cursor it did not hand out (``query.cursor``)."""
    return ValidationFailed.on("query.cursor", "Malformed cursor.", "invalid_cursor")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise malformed_cursor() from exc
    if not isinstance(value, dict):
        raise malformed_cursor()
    return value


def decode_id_cursor(cursor: str) -> uuid.UUID:
    """The UUID under ``id`` in a cursor (as ``encode_cursor({"id": ...})`` wrote it)."""
    try:
        return uuid.UUID(str(decode_cursor(cursor)["id"]))
    except (KeyError, ValueError) as exc:
        raise malformed_cursor() from exc


async def paginate_by_id(
    session: AsyncSession,
    statement: Select[M],
    id_column: InstrumentedAttribute[uuid.UUID],
    page: PageRequest,
) -> tuple[Sequence[M], str | None]:
    """Newest first by a UUIDv7 id: one query, ``limit + 1`` rows to know if more remain.

    ``statement`` selects one ORM entity whose primary key is ``id_column``.
    """
    if page.cursor is not None:
        statement = statement.where(id_column < decode_id_cursor(page.cursor))
    statement = statement.order_by(id_column.desc()).limit(page.limit + 1)
    items = list((await session.scalars(statement)).all())
    if len(items) <= page.limit:
        return items, None
    items = items[: page.limit]
    return items, encode_cursor({"id": str(items[-1].id)})
