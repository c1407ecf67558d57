"""What other modules contribute to a presented post, without timeline importing them.

Two kinds of contribution, each a function returning a ``Select`` of four columns
``(post_id, kind, key, value)`` (``key`` and ``value`` as strings, or NULL):
- **viewer state** (``register_viewer_state``): what depends on the viewer (my reaction, my
  bookmark, my poll choices, the mentions I may see, the originals I may see...). Every
  provider is UNION ALL-ed into ONE statement per page, built once per shape (signed in or
  anonymous) with bound parameters (``StateParams``), so a page costs one round trip for all of
  it whatever its size and whatever the number of providers.
- **body parts** (``register_body_part``): viewer-independent facts kept in the cached post
  body (reaction counts), loaded with the body on a cache miss, one statement for all parts.

Providers register at start-up (``townsquare.wiring.register_read_side``); registering the
same name again replaces the provider (each app start registers them again). The registry is
static configuration, the same in every process, never request state.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    DateTime,
    Select,
    String,
    Uuid,
    bindparam,
    false,
    literal,
    null,
    select,
    union_all,
)

#: What a provider answers: rows of (post_id, kind, key, value).
Rows = Select[uuid.UUID, str, str, str]
Statement = CompoundSelect[uuid.UUID, str, str, str] | Rows


@dataclass(frozen=True)
class StateParams:
    """The bound parameters a viewer-state provider may use.

    ``post_ids``: every post on the page (shared originals included); ``check_ids``: the posts
    whose visibility is still to be checked (shared originals, a single post); ``viewer_id``:
    None in the anonymous shape (providers for signed-in viewers only are left out)."""

    viewer_id: BindParameter[object] | None
    post_ids: BindParameter[object]
    check_ids: BindParameter[object]
    now: BindParameter[datetime]


@dataclass(frozen=True)
class BodyParams:
    post_ids: BindParameter[object]


ViewerStateProvider = Callable[[StateParams], Rows]
BodyPartProvider = Callable[[BodyParams], Rows]


@dataclass(frozen=True)
class _Registered:
    provider: ViewerStateProvider
    anonymous: bool


_viewer_state: dict[str, _Registered] = {}
_body_parts: dict[str, BodyPartProvider] = {}
_statements: dict[str, Statement] = {}


def register_viewer_state(
    name: str, provider: ViewerStateProvider, *, anonymous: bool = False
) -> None:
    """Add (or replace) a viewer-state provider; ``anonymous``: it also answers for viewers
    who are not signed in (then ``params.viewer_id`` is None)."""
    _viewer_state[name] = _Registered(provider, anonymous)
    _statements.clear()


def register_body_part(name: str, provider: BodyPartProvider) -> None:
    _body_parts[name] = provider
    _statements.clear()


def empty_rows() -> Rows:
    """No rows, of the right shape (a union with nothing registered still runs)."""
    return select(literal(None, Uuid), literal("", String), null(), null()).where(false())


def viewer_state_statement(*, anonymous: bool) -> Statement:
    """The one statement of every registered provider (built once per shape)."""
    cache_key = "state:anonymous" if anonymous else "state:viewer"
    statement = _statements.get(cache_key)
    if statement is None:
        params = StateParams(
            viewer_id=None if anonymous else bindparam("viewer_id", type_=Uuid),
            post_ids=bindparam("post_ids", expanding=True, type_=Uuid),
            check_ids=bindparam("check_ids", expanding=True, type_=Uuid),
            now=bindparam("now", type_=DateTime(timezone=True)),
        )
        parts = [
            entry.provider(params)
            for entry in _viewer_state.values()
            if entry.anonymous or not anonymous
        ]
        statement = _union(parts)
        _statements[cache_key] = statement
    return statement


def body_parts_statement() -> Statement:
    statement = _statements.get("body")
    if statement is None:
        params = BodyParams(post_ids=bindparam("post_ids", expanding=True, type_=Uuid))
        statement = _union([provider(params) for provider in _body_parts.values()])
        _statements["body"] = statement
    return statement


def _union(
    parts: list[Rows],
) -> Statement:
    if not parts:
        return empty_rows()
    if len(parts) == 1:
        return parts[0]
    return union_all(*parts)
