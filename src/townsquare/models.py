"""Every module's tables, imported once so Alembic and tests see the whole schema."""

from townsquare.kit.events import OutboxEvent
from townsquare.kit.models import Base
from townsquare.modules.accounts.models import AccountToken, AuthSession, RefreshToken, User
from townsquare.modules.profiles.models import PrivacySettings, Profile, UserSettings

metadata = Base.metadata

__all__ = [
    "AccountToken",
    "AuthSession",
    "OutboxEvent",
    "PrivacySettings",
    "Profile",
    "RefreshToken",
    "User",
    "UserSettings",
    "metadata",
]
