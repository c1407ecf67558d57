"""Who is asking: access tokens, the ``Viewer``, and the FastAPI dependencies that resolve it.

Access tokens are short-lived JWTs (HS256, explicit algorithm list) naming a user and a session.
Each request also confirms that the session is live and the account may act, through the
``SessionValidator`` the accounts module installs, so logout and suspension take effect at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Protocol

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from townsquare.kit.db import UnitOfWork
from townsquare.kit.errors import Forbidden, Unauthorized
from townsquare.kit.models import utcnow

ALGORITHM = "HS256"
ISSUER = "townsquare"


class Role(StrEnum):
    USER = "user"
    MODERATOR = "moderator"
    ADMIN = "admin"


@dataclass(frozen=True)
class Viewer:
    user_id: uuid.UUID
    session_id: uuid.UUID
    role: Role
    email_verified: bool

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.MODERATOR, Role.ADMIN)


class InvalidToken(Unauthorized):
    code = "invalid_token"


def issue_access_token(
    *, secret: str, user_id: uuid.UUID, session_id: uuid.UUID, ttl: timedelta
) -> tuple[str, int]:
    """A signed access token and its lifetime in seconds."""
    now = utcnow()
    claims = {
        "iss": ISSUER,
        "sub": str(user_id),
        "sid": str(session_id),
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), int(ttl.total_seconds())


def decode_access_token(token: str, *, secret: str) -> tuple[uuid.UUID, uuid.UUID]:
    """(user id, session id) of a valid token; ``InvalidToken`` otherwise.

    A client sends the same token on every request of its lifetime, so the signature check and
    claim parsing are done once per token (``_verified_claims``, a bounded per-process memo of
    tokens that passed); the expiry is compared with the clock on every call, so an expired
    token is refused at once, as by a full decode.
    """
    try:
        user_id, session_id, expires_at = _verified_claims(token, secret)
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken("The access token is invalid or expired.") from exc
    if datetime.now(UTC).timestamp() >= expires_at:  # PyJWT's rule: expired at ``exp``
        raise InvalidToken("The access token is invalid or expired.")
    return user_id, session_id


@lru_cache(maxsize=4096)
def _verified_claims(token: str, secret: str) -> tuple[uuid.UUID, uuid.UUID, float]:
    """Signature, issuer, type and required claims of ``token`` checked (raises otherwise);
    only tokens that pass are remembered (``lru_cache`` does not keep exceptions)."""
    claims = jwt.decode(
        token,
        secret,
        algorithms=[ALGORITHM],
        issuer=ISSUER,
        options={"require": ["exp", "iat", "sub", "sid", "iss"]},
    )
    if claims.get("typ") != "access":
        raise InvalidToken("Not an access token.")
    return uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"]), float(claims["exp"])


_TOKEN_CLAIMS = "townsquare_token_claims"


def request_token_claims(request: Request, token: str) -> tuple[uuid.UUID, uuid.UUID]:
    """``decode_access_token`` once per request: the per-account rate limit and the viewer
    dependency both need the token's (user id, session id)."""
    state = request.state
    found: tuple[str, tuple[uuid.UUID, uuid.UUID]] | None = getattr(state, _TOKEN_CLAIMS, None)
    if found is not None and found[0] == token:
        return found[1]
    claims = decode_access_token(token, secret=request.app.state.settings.secret_key)
    setattr(state, _TOKEN_CLAIMS, (token, claims))
    return claims


class SessionValidator(Protocol):
    """Looks up a live session for a token (installed by the accounts module)."""

    async def __call__(
        self, uow: UnitOfWork, user_id: uuid.UUID, session_id: uuid.UUID
    ) -> Viewer | None: ...


_bearer = HTTPBearer(auto_error=False, description="Access token from `/auth/login`.")


async def optional_viewer(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Viewer | None:
    if credentials is None:
        return None
    cached: Viewer | None = getattr(request.state, "viewer", None)
    if cached is not None:
        return cached
    user_id, session_id = request_token_claims(request, credentials.credentials)
    validator: SessionValidator = request.app.state.session_validator
    viewer = await validator(request.state.uow, user_id, session_id)
    if viewer is None:
        raise InvalidToken("The session has ended; log in again.")
    request.state.viewer = viewer
    return viewer


async def current_viewer(
    viewer: Annotated[Viewer | None, Depends(optional_viewer)],
) -> Viewer:
    if viewer is None:
        raise Unauthorized("Authentication required.", headers={"WWW-Authenticate": "Bearer"})
    return viewer


async def current_staff(viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
    if not viewer.is_staff:
        raise Forbidden("Moderators and admins only.")
    return viewer


class EmailNotVerified(Forbidden):
    code = "email_not_verified"


async def current_author(
    request: Request, viewer: Annotated[Viewer, Depends(current_viewer)]
) -> Viewer:
    """A viewer who may publish content: verified, unless unverified posting is allowed."""
    if not viewer.email_verified and not request.app.state.settings.allow_unverified_posting:
        raise EmailNotVerified("Verify your email address before posting.")
    return viewer


OptionalViewer = Annotated[Viewer | None, Depends(optional_viewer)]
#: ``openapi_extra`` of a route taking an ``OptionalViewer``. FastAPI documents the bearer scheme
#: as required; the empty requirement it adds (``{}``) says that anonymous requests work too.
OPTIONAL_AUTH_OPENAPI: dict[str, Any] = {"security": [{}]}
CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
#: For endpoints that publish content (posts, comments, messages...).
CurrentAuthor = Annotated[Viewer, Depends(current_author)]
