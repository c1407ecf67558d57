"""The stream's client frames and the presence answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _ClientFrame(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class PingFrame(_ClientFrame):
    """The client checks the connection; the server answers ``pong``."""

    type: Literal["ping"]


class PongFrame(_ClientFrame):
    """The client answers the server's heartbeat ``ping``."""

    type: Literal["pong"]


class TypingFrame(_ClientFrame):
    """The client is typing in a conversation; its other members get a ``typing`` event."""

    type: Literal["typing"]
    conversation_id: Annotated[uuid.UUID, Field(strict=False)]


ClientFrame = Annotated[PingFrame | PongFrame | TypingFrame, Field(discriminator="type")]
CLIENT_FRAME = TypeAdapter(ClientFrame)


class PresenceOut(BaseModel):
    username: str
    #: None when the viewer may not see it (not a friend, or activity status switched off).
    online: bool | None
    last_seen_at: datetime | None


class PresenceList(BaseModel):
    items: list[PresenceOut]
